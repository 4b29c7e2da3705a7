"""A RabbitMQ node for one drill: started on loopback from the run folder, stopped with its epmd.

    lab ── rabbitmq-server (beam, node chaoslab-<pid>-<n>@localhost) ── epmd on a port of its own

Everything the node writes (Mnesia, logs, the Erlang cookie in ``HOME``) is
under the run folder, and it listens on free ports (AMQP, distribution, and
an epmd of its own through ``ERL_EPMD_PORT``, so the machine's epmd, if any,
is never touched). The program is ``/usr/lib/rabbitmq/bin/rabbitmq-server``
(Debian's; ``/usr/sbin/rabbitmq-server`` is a wrapper that insists on the
``rabbitmq`` user), else one on PATH, else the pilot's ``server``. Ready is an
AMQP connection that opens. Stopping is SIGTERM to its process group (the
node shuts down cleanly on it), then ``epmd -kill`` on its epmd port, because
epmd daemonizes out of that group.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from harness.inputs.queue import QueueSpec
from harness.places import inside
from harness.runtime.processes import (
    ServiceError,
    first_error_line,
    free_port,
    stop_process,
    with_parent_death,
)
from harness.sources.base import declared_program
from harness.sources.nats_server import Broker

PROGRAM = "rabbitmq-server"
DEBIAN_PROGRAM = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
# The node's clean shutdown on SIGTERM takes a second or two; past this it is killed.
STOP_GRACE_S = 15.0
POLL_S = 0.1
_NODES = itertools.count(1)
# Only the logged-in guest over loopback; the node's own log stays in the run folder.
CONFIG = "loopback_users.guest = true\nlog.console = false\nlog.file.level = warning\n"


def find_program(declared: str | None, base: Path) -> str:
    """The rabbitmq-server to run: the declared one, Debian's real script, or one on PATH."""
    if declared is not None:
        return declared_program(declared, base)
    if DEBIAN_PROGRAM.is_file():
        return str(DEBIAN_PROGRAM)
    found = shutil.which(PROGRAM)
    if found is None:
        raise ServiceError(
            f"server: no {PROGRAM} in {DEBIAN_PROGRAM.parent} nor on PATH "
            "(apt-get install rabbitmq-server, or give [queue] server)"
        )
    return found


def node_env(home: Path, port: int, epmd_port: int) -> dict[str, str]:
    """The environment that keeps a node's every file and port its own."""
    (home / "mnesia").mkdir(parents=True, exist_ok=True)
    (home / "log").mkdir(exist_ok=True)
    (home / "rabbitmq.conf").write_text(CONFIG)
    (home / "enabled_plugins").write_text("[].\n")  # none: the machine's list is not ours
    return {
        "HOME": str(home),  # the Erlang cookie goes here
        "RABBITMQ_NODENAME": f"chaoslab-{os.getpid()}-{next(_NODES)}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(free_port()),
        "ERL_EPMD_PORT": str(epmd_port),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
    }


@contextlib.asynccontextmanager
async def rabbitmq_server(spec: QueueSpec, base: Path, run_dir: Path) -> AsyncIterator[Broker]:
    """A fresh node for this drill; ServiceError (naming the key) if it won't start."""
    program = find_program(spec.server, base)
    home = inside(run_dir, "broker-store")
    shutil.rmtree(home, ignore_errors=True)
    port, epmd_port = spec.port or free_port(), free_port()
    env = {**os.environ, **node_env(home, port, epmd_port)}
    log_path = inside(run_dir, "broker.log")
    try:
        with open(log_path, "ab") as log:  # noqa: ASYNC230 (a local file, opened once)
            started = time.monotonic()
            process = await _spawn(program, env, run_dir, log)
            try:
                await _wait_ready(process, port, spec, log_path)
                yield Broker(f"amqp://127.0.0.1:{port}", round(time.monotonic() - started, 3))
            finally:
                await asyncio.shield(stop_process(process, STOP_GRACE_S))
                await asyncio.shield(_kill_epmd(epmd_port))
    finally:
        shutil.rmtree(home, ignore_errors=True)


async def _spawn(
    program: str, env: dict[str, str], cwd: Path, log: IO[bytes]
) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *with_parent_death([program]),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one group: SIGTERM reaches beam and its helpers
        )
    except OSError as exc:
        raise ServiceError(f"[queue] server: cannot start {program!r}: {exc.strerror}") from None


async def _wait_ready(
    process: asyncio.subprocess.Process, port: int, spec: QueueSpec, log_path: Path
) -> None:
    """Until an AMQP connection opens; the node's own error line if it exits first."""
    import aiormq  # here, not at the top: every drill loads this module, few start RabbitMQ

    deadline = time.monotonic() + spec.startup_timeout_s
    url = f"amqp://guest:guest@127.0.0.1:{port}/"
    while time.monotonic() < deadline:
        if process.returncode is not None:
            break
        # The port first (quietly), then AMQP: the client logs every refused connect.
        if await _listening(port):
            with contextlib.suppress(Exception):  # reset, or not AMQP yet: ask again
                async with asyncio.timeout(max(0.5, deadline - time.monotonic())):
                    connection = await aiormq.connect(url)
                await connection.close()
                return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), POLL_S)  # a pause that notices an exit
    # Whether it ended by itself is read before we stop it: after the stop it has always exited.
    exited = process.returncode
    await stop_process(process, STOP_GRACE_S)
    text = _read(log_path)
    reason = first_error_line(text) or (
        f"exited with {exited}"
        if exited is not None
        else f"no AMQP answer on port {port} in {spec.startup_timeout_s:g} s"
    )
    taken = "eaddrinuse" in text.lower() and spec.port is not None
    if taken:
        raise ServiceError(f"[queue] port: {port} is taken: {reason} (see {log_path})")
    raise ServiceError(f"[queue] server: the broker did not start: {reason} (see {log_path})")


def _read(path: Path) -> str:
    """The node's log so far (small: it logs warnings only)."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _kill_epmd(epmd_port: int) -> None:
    """The node's own epmd daemonized out of its group: ask it to stop, by its port."""
    epmd = shutil.which("epmd")
    if epmd is None:
        return
    env = {**os.environ, "ERL_EPMD_PORT": str(epmd_port)}
    with contextlib.suppress(OSError, TimeoutError):
        killer = await asyncio.create_subprocess_exec(
            epmd, "-kill", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        await asyncio.wait_for(killer.wait(), 5.0)
