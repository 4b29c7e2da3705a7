"""Start a service (the simulator, or a workflow) as a child process and wait until it is ready.

Services print one line `<name> ready on http://host:port` to stdout once bound.
Output goes to files rather than pipes so a chatty child can never block on a
full pipe; the files double as evidence when a start fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .resolve import resolve_partner

_READY = re.compile(r"ready on (http://\S+)")


class ServiceStartError(RuntimeError):
    pass


@dataclass
class Service:
    url: str
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    def stderr_tail(self, lines: int = 20) -> str:
        try:
            text = self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _stop(process: subprocess.Popen[bytes], grace_s: float) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace_s)


@contextmanager
def service(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    ready_timeout_s: float = 15.0,
    stop_grace_s: float = 5.0,
) -> Iterator[Service]:
    """Run `argv`, yield once it printed its ready line, always stop it on exit."""
    args = list(argv)
    name = args[args.index("-m") + 1] if "-m" in args[:-1] else args[0]
    logs = Path(tempfile.mkdtemp(prefix="chaoslab-svc-"))
    out_path, err_path = logs / "stdout.log", logs / "stderr.log"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            args, stdout=out, stderr=err, cwd=cwd, env={**os.environ, **(env or {})}
        )
    try:
        deadline = time.monotonic() + ready_timeout_s
        url = None
        while url is None:
            match = _READY.search(out_path.read_text(encoding="utf-8", errors="replace"))
            if match:
                url = match.group(1)
                break
            if process.poll() is not None:
                tail = err_path.read_text(encoding="utf-8", errors="replace").strip()
                raise ServiceStartError(
                    f"{name}: exited with {process.returncode} before ready: "
                    f"{tail.splitlines()[-1] if tail else '(no stderr)'}"
                )
            if time.monotonic() > deadline:
                raise ServiceStartError(f"{name}: not ready after {ready_timeout_s}s")
            time.sleep(0.02)
        yield Service(url=url, process=process, stdout_path=out_path, stderr_path=err_path)
    finally:
        _stop(process, stop_grace_s)
        shutil.rmtree(logs, ignore_errors=True)


@contextmanager
def partner(
    spec: Path | Mapping[str, Any],
    *,
    name: str | None = None,
    base_dir: Path | None = None,
    ledger: Path | None = None,
    requests: Path | None = None,
    faults_json: str | None = None,
    cwd: Path | None = None,
    python: str = sys.executable,
) -> Iterator[Service]:
    """The partner simulator on a free loopback port, serving `spec`.

    `spec` is a declaration file (TOML/JSON `PartnerDecl`, or what
    `resolve_partner` wrote) or a declaration as a dict, resolved here with
    relative paths starting at `base_dir` (default: `cwd`, else the current folder).
    """
    with tempfile.TemporaryDirectory(prefix="chaoslab-partner-") as tmp:
        if isinstance(spec, Mapping):
            resolved = resolve_partner(name or "partner", spec, base_dir or cwd or Path.cwd())
            spec = Path(tmp) / "partner.json"
            spec.write_text(json.dumps(resolved), encoding="utf-8")
        argv = [python, "-m", "harness.partner", "--spec", str(Path(spec).resolve())]
        argv += ["--port", "0"]
        for flag, value in (("--name", name), ("--ledger", ledger), ("--requests", requests),
                            ("--faults", faults_json)):  # fmt: skip
            if value is not None:
                argv += [flag, str(value)]
        with service(argv, cwd=cwd) as svc:
            yield svc
