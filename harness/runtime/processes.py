"""Services the drill starts (workflow, partner simulator) as real processes.

Every process is started in its own session through ``harness.runtime.launch``, which
asks the kernel to kill it when the harness dies (PR_SET_PDEATHSIG), so a
harness killed with SIGKILL leaves nothing running; the normal exit, Ctrl-C
and exceptions stop them through the async context manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from harness.runtime.http import client as http_client


class ServiceError(RuntimeError):
    """A service did not start; the message says which and why, in one line."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now on `host`; another process may take it before it is used."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# The launcher needs only the standard library, so it runs as a script in
# isolated mode without site: no site-packages scan, no editable-install
# finder, no `harness` package import (about 20 ms of CPU less per service).
# -I also keeps the script's own folder off sys.path (it holds an http.py).
_LAUNCH = [sys.executable, "-I", "-S", str(Path(__file__).with_name("launch.py"))]


def with_parent_death(command: Sequence[str], run_as: str | None = None) -> list[str]:
    """The command, wrapped so that it is killed when this process dies
    (and runs as user ``run_as`` when given)."""
    user = ["--as", run_as] if run_as else []
    return [*_LAUNCH, str(os.getpid()), *user, *command]


def resolve_command(command: Sequence[str]) -> list[str]:
    """'python' as the first word means the interpreter running the harness."""
    words = list(command)
    if words and words[0] in {"python", "python3"}:
        words[0] = sys.executable
    return words


def startable(name: str, command: Sequence[str], cwd: Path, env: Mapping[str, str]) -> list[str]:
    """The command to run, or ServiceError saying why it cannot start.

    Checked here because the launcher execs it in a child: a missing program
    or folder would otherwise surface as an early exit with a vaguer message.
    """
    if not command:
        raise ServiceError(f"{name}: empty command")
    if not cwd.is_dir():
        what = "is not a folder" if cwd.exists() else "does not exist"
        raise ServiceError(f"{name}: working folder {cwd} {what}")
    words = resolve_command(command)
    program = words[0]
    if os.sep in program:
        path = Path(program) if Path(program).is_absolute() else cwd / program
        if not path.is_file():
            raise ServiceError(f"{name}: command {program!r} not found (looked for {path})")
        if not os.access(path, os.X_OK):
            raise ServiceError(f"{name}: command {program!r} is not executable ({path})")
    elif shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise ServiceError(f"{name}: command {program!r} not found on PATH")
    return words


# Words that mark the line of a log that says what went wrong.
_ERROR_WORDS = re.compile(
    r"\b(error|errno|exception|fatal|panic|failed|cannot|can't|unable|denied|refused"
    r"|in use|not found|no such)\b|\w(error|exception):",
    re.IGNORECASE,
)


def first_error_line(text: str, limit: int = 200) -> str | None:
    """The first line of a service's log that reads like the cause of a failure.

    Indented lines (traceback frames, source excerpts) and the "Traceback"
    header are skipped: the cause is the unindented line they lead to.
    """
    for line in text.splitlines():
        if not line.strip() or line[0].isspace() or line.startswith("Traceback "):
            continue
        if _ERROR_WORDS.search(line):
            quoted = " ".join(line.split())
            return quoted if len(quoted) <= limit else quoted[: limit - 1] + "…"
    return None


@dataclass(frozen=True)
class Launch:
    """How a service was started, so it can be started again the same way."""

    words: list[str]
    cwd: Path
    env: dict[str, str] = field(repr=False)
    ready_path: str
    startup_timeout_s: float


@dataclass
class Service:
    """A running service (the workflow or a partner) at `url`;
    `process` is None for one the lab did not start."""

    name: str
    url: str
    process: asyncio.subprocess.Process | None
    log_path: Path | None
    launch: Launch | None = None

    def log_tail(self, lines: int = 5) -> str:
        """The last `lines` lines of its log on one line,
        for an error message ("" without a log)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def log_cause(self) -> str:
        """What its log says went wrong, naming the log file, in one line."""
        if self.log_path is None:
            return "no log"
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return f"no log at {self.log_path}"
        line = first_error_line(text)
        if line is not None:
            return f"{line!r} (log: {self.log_path})"
        lines = text.strip().splitlines()
        if not lines:
            return f"nothing in its log {self.log_path}"
        last = " ".join(lines[-1].split())[:200]
        return f"no error in its log; last line {last!r} (log: {self.log_path})"


async def _wait_ready(service: Service, ready_url: str, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with http_client(timeout=1.0) as client:
        while True:
            if service.process is not None and service.process.returncode is not None:
                raise ServiceError(
                    f"{service.name} exited with code {service.process.returncode} before it "
                    f"was ready: {service.log_cause()}"
                )
            try:
                response = await client.get(ready_url)
                if response.status_code < 500:
                    return
            except httpx.TransportError:
                pass
            if loop.time() > deadline:
                raise ServiceError(
                    f"{service.name} not ready at {ready_url} after {timeout_s:g} s: "
                    f"{service.log_cause()}"
                )
            # Polling a port has no event to wait on; the interval bounds readiness latency.
            await asyncio.sleep(0.05)


async def stop_process(process: asyncio.subprocess.Process, grace_s: float = 3.0) -> None:
    """SIGTERM the process group, SIGKILL after `grace_s` seconds; waits until it is gone."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


# What a service that picks its own port (`--port 0`) prints once bound.
ANNOUNCED = re.compile(rb"ready on (http://[^\s]+)")


async def _announced_url(service: Service, timeout_s: float) -> str:
    """The URL a service printed once bound: no port is picked for it, so none can be taken."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if service.log_path is not None and service.log_path.exists():
            match = ANNOUNCED.search(service.log_path.read_bytes())
            if match:
                return match.group(1).decode()
        if service.process is not None and service.process.returncode is not None:
            raise ServiceError(
                f"{service.name} exited with code {service.process.returncode} before it "
                f"was ready: {service.log_cause()}"
            )
        if loop.time() > deadline:
            raise ServiceError(
                f"{service.name} did not say where it listens after {timeout_s:g} s: "
                f"{service.log_cause()}"
            )
        # A log line has no event to wait on; the interval bounds readiness latency.
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def run_service(
    name: str,
    command: Sequence[str],
    *,
    url: str | None,
    ready_path: str,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path | None,
    startup_timeout_s: float,
) -> AsyncIterator[Service]:
    """Start a service, wait until it answers, and stop it on the way out.

    ``url=None``: the service binds a port of its own choosing and announces it
    (``… ready on http://host:port``) in its log, which must then be given.
    """
    full_env = {**os.environ, **env}
    words = startable(name, command, cwd, full_env)
    launch = Launch(words, cwd, full_env, ready_path, startup_timeout_s)
    log = open(log_path, "ab") if log_path is not None else None  # noqa: ASYNC230
    try:
        process = await _spawn(name, launch, log)
        service = Service(
            name=name, url=url or "", process=process, log_path=log_path, launch=launch
        )
        try:
            if url is None:
                service.url = await _announced_url(service, startup_timeout_s)
            await _wait_ready(service, service.url.rstrip("/") + ready_path, startup_timeout_s)
            yield service
        finally:
            # The process running now: a restart may have replaced the first one.
            if service.process is not None:
                await asyncio.shield(stop_process(service.process))
    finally:
        if log is not None:
            log.close()


async def _spawn(name: str, launch: Launch, log: IO[bytes] | None) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *with_parent_death(launch.words),
            cwd=launch.cwd,
            env=launch.env,
            stdin=subprocess.DEVNULL,
            stdout=log if log is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise ServiceError(f"{name}: cannot start {launch.words[0]!r}: {exc.strerror}") from None


async def kill_and_restart(service: Service) -> tuple[int, int]:
    """SIGKILL a service's process group, start it again the same way, wait until ready.

    Nothing gets a chance to flush or clean up: what the service kept only in
    memory is gone, what it wrote to disk is there for the new process. Same
    command, environment, folder and port (a fixed-port service must bind it
    again). Returns the pids (before, after).
    """
    if service.process is None or service.launch is None:
        raise ServiceError(f"{service.name}: not started by the harness, so it cannot restart")
    if not service.url:
        raise ServiceError(f"{service.name}: restart needs a known url")
    before = service.process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(before, signal.SIGKILL)
    await service.process.wait()
    log = open(service.log_path, "ab") if service.log_path is not None else None  # noqa: ASYNC230
    try:
        service.process = await _spawn(service.name, service.launch, log)
    finally:
        # The child holds its own descriptor now.
        if log is not None:
            log.close()
    launch = service.launch
    await _wait_ready(
        service, service.url.rstrip("/") + launch.ready_path, launch.startup_timeout_s
    )
    return before, service.process.pid


@contextlib.asynccontextmanager
async def existing_service(name: str, url: str, ready_path: str) -> AsyncIterator[Service]:
    """A service the lab did not start (the workflow's `url`),
    once it answers `ready_path`; never stopped."""
    service = Service(name=name, url=url, process=None, log_path=None)
    await _wait_ready(service, url.rstrip("/") + ready_path, 5.0)
    yield service
