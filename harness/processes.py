"""Services the drill starts (workflow, partner simulator) as real processes.

Every process is started in its own session through ``harness.launch``, which
asks the kernel to kill it when the harness dies (PR_SET_PDEATHSIG), so a
harness killed with SIGKILL leaves nothing running; the normal exit, Ctrl-C
and exceptions stop them through the async context manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx


class ServiceError(RuntimeError):
    """A service did not start; the message says which and why, in one line."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def with_parent_death(command: Sequence[str]) -> list[str]:
    """The command, wrapped so that it is killed when this process dies."""
    return [sys.executable, "-m", "harness.launch", str(os.getpid()), *command]


def resolve_command(command: Sequence[str]) -> list[str]:
    """'python' as the first word means the interpreter running the harness."""
    words = list(command)
    if words and words[0] in {"python", "python3"}:
        words[0] = sys.executable
    return words


@dataclass
class Service:
    name: str
    url: str
    process: asyncio.subprocess.Process | None
    log_path: Path | None

    def log_tail(self, lines: int = 5) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])


async def _wait_ready(service: Service, ready_url: str, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with httpx.AsyncClient(timeout=1.0) as client:
        while True:
            if service.process is not None and service.process.returncode is not None:
                raise ServiceError(
                    f"{service.name} exited with code {service.process.returncode} before it "
                    f"was ready: {service.log_tail() or 'no output'}"
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
                    f"{service.log_tail() or 'no output'}"
                )
            # Polling a port has no event to wait on; the interval bounds readiness latency.
            await asyncio.sleep(0.05)


async def stop_process(process: asyncio.subprocess.Process, grace_s: float = 3.0) -> None:
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


@contextlib.asynccontextmanager
async def run_service(
    name: str,
    command: Sequence[str],
    *,
    url: str,
    ready_path: str,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path | None,
    startup_timeout_s: float,
) -> AsyncIterator[Service]:
    """Start a service, wait until it answers, and stop it on the way out."""
    full_env = {**os.environ, **env}
    log = open(log_path, "ab") if log_path is not None else None  # noqa: ASYNC230
    try:
        try:
            process = await asyncio.create_subprocess_exec(
                *with_parent_death(resolve_command(command)),
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=log if log is not None else subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ServiceError(f"{name}: cannot start {command[0]!r}: {exc.strerror}") from None
        service = Service(name=name, url=url, process=process, log_path=log_path)
        try:
            await _wait_ready(service, url.rstrip("/") + ready_path, startup_timeout_s)
            yield service
        finally:
            await asyncio.shield(stop_process(process))
    finally:
        if log is not None:
            log.close()


@contextlib.asynccontextmanager
async def existing_service(name: str, url: str, ready_path: str) -> AsyncIterator[Service]:
    service = Service(name=name, url=url, process=None, log_path=None)
    await _wait_ready(service, url.rstrip("/") + ready_path, 5.0)
    yield service
