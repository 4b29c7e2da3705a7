"""A poll pilot's command trigger: the lab runs a declared argv once per run, as a cron would.

    [poll]
    trigger = { command = ["python", "-m", "workflows.sync_job.once", "{links.source.url}"],
                cwd = "..", timeout_s = 20 }

Each run is the program and its arguments (no shell), placeholders filled
with the drill's values, started in ``cwd`` (inside the pilot's tree) with
its output in the run folder (``trigger-<n>.log``), and stopped (its whole
process group) when it outlasts ``timeout_s`` or the drill ends. It dies with
the harness too (``harness.runtime.launch``). Its exit status is what
run.json keeps; the pages it read are judged as any run's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.inputs import placeholders
from harness.inputs.poll import PollTrigger
from harness.inputs.tree import pilot_tree
from harness.runtime.processes import (
    ServiceError,
    startable,
    stop_process,
    with_parent_death,
)


def trigger_cwd(trigger: PollTrigger, base: Path) -> Path:
    """The folder the command runs in, or ServiceError when it leaves the pilot's tree."""
    tree = pilot_tree(base / "pilot.toml")  # the tree of a pilot file in ``base``
    cwd = (base / trigger.cwd).resolve()
    if cwd != tree and tree not in cwd.parents:
        raise ServiceError(
            f"[poll] trigger.cwd: {trigger.cwd!r} is outside the pilot's tree {tree}"
        )
    if not cwd.is_dir():
        raise ServiceError(f"[poll] trigger.cwd: no such folder {cwd}")
    return cwd


def trigger_argv(trigger: PollTrigger, values: Mapping[str, str]) -> list[str]:
    """The command with its placeholders filled, or ServiceError naming the one unknown."""
    assert trigger.command is not None
    try:
        return [placeholders.fill(word, values) for word in trigger.command]
    except KeyError as exc:
        raise ServiceError(f"[poll] trigger.command: {exc.args[0]}") from None


async def run_command(
    trigger: PollTrigger, cwd: Path, values: Mapping[str, str], run_dir: Path, number: int
) -> dict[str, Any]:
    """Run the command once; what run.json keeps of it (exit status, or why none came)."""
    argv = startable("[poll] trigger.command", trigger_argv(trigger, values), cwd, os.environ)
    log_name = f"trigger-{number}.log"
    started = time.monotonic()
    with (run_dir / log_name).open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *with_parent_death(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, so a stop takes its children too
        )
        error = ""
        try:
            async with asyncio.timeout(trigger.timeout_s):
                await process.wait()
        except TimeoutError:
            error = "timeout"
        finally:
            # A run past its time, or a drill cancelled meanwhile, leaves nothing running.
            with contextlib.suppress(ProcessLookupError):
                await asyncio.shield(stop_process(process, grace_s=1.0))
    return {"run": number, "exit": None if error else process.returncode, "error": error,
            "log": log_name, "took_s": round(time.monotonic() - started, 3)}  # fmt: skip
