"""The tests' one way to start a service (the simulator, or a workflow) as a process.

Drills start theirs through ``harness.runtime.processes`` (async); tests are
synchronous, so this is the synchronous counterpart. A service is ready when
it printed ``<name> ready on http://host:port`` (the simulator, the reference
workflows) or, given ``ready_url``, once that URL answers below 500 (a
workflow that prints nothing). Output goes to files rather than pipes so a
chatty child can never block on a full pipe; the files double as evidence
when a start fails.
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
from urllib.parse import urlsplit

import http_kit
import httpx

from harness.partner import resolve_partner

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


def _answers(http: httpx.Client, url: str) -> bool:
    try:
        return http.get(url).status_code < 500
    except httpx.TransportError:
        return False


def _wait_ready(
    name: str, process: subprocess.Popen[bytes], out: Path, err: Path, ready_url: str | None,
    timeout_s: float,
) -> str:  # fmt: skip
    deadline = time.monotonic() + timeout_s
    # One client for every poll: a client per poll built a TLS context each time
    # (40 ms of CPU, every 20 ms while the service started).
    with http_kit.client(timeout=1.0) as http:
        while True:
            if ready_url is not None:
                if _answers(http, ready_url):
                    parts = urlsplit(ready_url)
                    return f"{parts.scheme}://{parts.netloc}"
            else:
                match = _READY.search(out.read_text(encoding="utf-8", errors="replace"))
                if match:
                    return match.group(1)
            if process.poll() is not None:
                tail = (err.read_text(encoding="utf-8", errors="replace").strip()
                        or out.read_text(encoding="utf-8", errors="replace").strip())  # fmt: skip
                raise ServiceStartError(
                    f"{name}: exited with {process.returncode} before ready: "
                    f"{tail.splitlines()[-1] if tail else '(no output)'}"
                )
            if time.monotonic() > deadline:
                raise ServiceStartError(f"{name}: not ready after {timeout_s}s")
            # A port or a log line has no event to wait on; the interval bounds readiness latency.
            time.sleep(0.02)


@contextmanager
def service(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    ready_url: str | None = None,
    ready_timeout_s: float = 15.0,
    stop_grace_s: float = 5.0,
) -> Iterator[Service]:
    """Run `argv`, yield once it is ready, always stop it on exit."""
    args = list(argv)
    name = args[args.index("-m") + 1] if "-m" in args[:-1] else args[0]
    logs = Path(tempfile.mkdtemp(prefix="chaoslab-svc-"))
    out_path, err_path = logs / "stdout.log", logs / "stderr.log"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            args, stdout=out, stderr=err, cwd=cwd, env={**os.environ, **(env or {})}
        )
    try:
        url = _wait_ready(name, process, out_path, err_path, ready_url, ready_timeout_s)
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
