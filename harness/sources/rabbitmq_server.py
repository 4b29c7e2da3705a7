"""A RabbitMQ node for one drill: started on loopback from the run folder, stopped with its epmd.

    lab ── rabbitmq-server (beam, node chaoslab-<pid>-<n>@localhost) ── epmd on a port of its own

Everything the node writes (Mnesia, logs, the Erlang cookie in ``HOME``) is
under the run folder, and it listens on free ports (AMQP, distribution, and
an epmd of its own through ``ERL_EPMD_PORT``, so the machine's epmd, if any,
is never touched). The program is ``/usr/lib/rabbitmq/bin/rabbitmq-server``
(Debian's; ``/usr/sbin/rabbitmq-server`` is a wrapper that insists on the
``rabbitmq`` user), else one on PATH, else the pilot's ``server``. Ready is an
AMQP connection that opens. The lab starts the node's epmd itself, before
the node, as a child of its own: an epmd the node starts daemonizes out of
the node's process group, and one still starting when a slow boot is cut
short escapes any later ``epmd -kill``. Stopping is SIGTERM to the node's
process group (it shuts down cleanly on it), then a wait for beam's port
programs, which leave that group, and last SIGTERM to the epmd.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any

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
# epmd listens within milliseconds; it exits at once if its port is taken.
EPMD_START_S = 5.0
EPMD_STOP_GRACE_S = 2.0
HELPER_GRACE_S = 5.0
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
    await asyncio.to_thread(end_orphans)
    home = inside(run_dir, "broker-store")
    shutil.rmtree(home, ignore_errors=True)
    port, epmd_port = spec.port or free_port(), free_port()
    env = {**os.environ, **node_env(home, port, epmd_port)}
    log_path = inside(run_dir, "broker.log")
    try:
        with open(log_path, "ab") as log:  # noqa: ASYNC230 (a local file, opened once)
            started = time.monotonic()
            async with _own_epmd(epmd_port, env, run_dir, log):
                process = await _spawn([program], env, run_dir, log)
                try:
                    await _wait_ready(process, port, spec, log_path)
                    yield Broker(f"amqp://127.0.0.1:{port}", round(time.monotonic() - started, 3))
                finally:
                    await asyncio.shield(stop_process(process, STOP_GRACE_S))
                    await asyncio.shield(asyncio.to_thread(_end_helpers, env["RABBITMQ_NODENAME"]))
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextlib.asynccontextmanager
async def _own_epmd(
    port: int, env: dict[str, str], cwd: Path, log: IO[bytes]
) -> AsyncIterator[None]:
    """The node's epmd, listening on ``port`` until the node has stopped.

    Without an epmd on PATH the node starts its Erlang's own, which the helper
    sweep ends with the node (its environment names the node).
    """
    epmd = shutil.which("epmd", path=env.get("PATH"))
    if epmd is None:
        yield
        return
    # Not the node's name in its environment: the sweep that follows the node is not for it.
    own_env = {k: v for k, v in env.items() if k != "RABBITMQ_NODENAME"}
    process = await _spawn([epmd, "-port", str(port), "-address", "127.0.0.1"], own_env, cwd, log)
    try:
        await _epmd_listening(process, port, cwd / "broker.log")
        yield
    finally:
        await asyncio.shield(stop_process(process, EPMD_STOP_GRACE_S))


async def _epmd_listening(process: asyncio.subprocess.Process, port: int, log_path: Path) -> None:
    """Until the epmd started here holds ``port``: another's listener there is not ours."""
    deadline = time.monotonic() + EPMD_START_S
    while not await asyncio.to_thread(_holds, process.pid, port):
        if process.returncode is not None:
            raise ServiceError(
                f"[queue] server: the node's epmd exited with {process.returncode} before it "
                f"listened on port {port} (taken?) (see {log_path})"
            )
        if time.monotonic() > deadline:
            raise ServiceError(
                f"[queue] server: the node's epmd did not listen on port {port} "
                f"in {EPMD_START_S:g} s (see {log_path})"
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), POLL_S / 10)


def _holds(pid: int, port: int) -> bool:
    """Whether process ``pid`` listens on TCP ``port``."""
    import psutil  # here: every drill loads this module, few start RabbitMQ

    try:
        sockets = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in sockets)


async def _spawn(
    command: list[str], env: dict[str, str], cwd: Path, log: IO[bytes]
) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *with_parent_death(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one group: SIGTERM reaches beam and its helpers
        )
    except OSError as exc:
        raise ServiceError(f"[queue] server: cannot start {command[0]!r}: {exc.strerror}") from None


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
    # Whether it ended by itself, and what it logged, are read before we stop it: after
    # the stop it has always exited, and a node stopped mid-boot logs errors of the stop's.
    exited, before = process.returncode, _read(log_path)
    await stop_process(process, STOP_GRACE_S)
    text = _read(log_path)
    if exited is not None:
        reason = first_error_line(text) or f"exited with {exited}"
    else:
        logged = first_error_line(before)
        reason = f"no AMQP answer on port {port} in {spec.startup_timeout_s:g} s" + (
            f"; its log said: {logged}" if logged else ""
        )
    taken = "eaddrinuse" in text.lower() and spec.port is not None
    if taken:
        raise ServiceError(f"[queue] port: {port} is taken: {reason} (see {log_path})")
    raise ServiceError(f"[queue] server: the broker did not start: {reason} (see {log_path})")


# The node names this module gives: the pid of the harness that started the node comes first.
_NODENAME = re.compile(r"chaoslab-(\d+)-\d+@localhost")


def end_orphans() -> list[int]:
    """Kill the nodes (and their helpers) of harnesses that died without stopping them; their pids.

    A harness killed outright takes its launcher with it (the parent-death signal),
    but beam is the launched script's child and outlives it. Such a node keeps its
    ports and a CPU busy; the next node this machine starts ends it.
    """
    import psutil  # here: every drill loads this module, few start RabbitMQ

    ended = []
    for proc, nodename in _node_processes():
        found = _NODENAME.fullmatch(nodename)
        if found and not psutil.pid_exists(int(found.group(1))):
            with contextlib.suppress(psutil.Error):
                proc.kill()
                ended.append(proc.pid)
    return ended


def _end_helpers(nodename: str) -> None:
    """Wait for what the node left to go, killing any still there after HELPER_GRACE_S.

    beam's port programs (erl_child_setup, inet_gethost) each lead a session of
    their own, so the SIGTERM to the node's group misses them: they leave when
    they see beam gone, a moment after it. An epmd the node started itself
    never leaves by itself and is stopped at once.
    """
    import psutil  # here: every drill loads this module, few start RabbitMQ

    left = [proc for proc, name in _node_processes() if name == nodename]
    for proc in left:
        if proc.info["name"] == "epmd":
            with contextlib.suppress(psutil.Error):
                proc.terminate()
    # Not psutil.wait_procs: an orphan's zombie, which is gone for us, would count as alive.
    deadline = time.monotonic() + HELPER_GRACE_S
    while left and time.monotonic() < deadline:
        left = [proc for proc in left if _running(proc)]
        if left:
            time.sleep(POLL_S / 5)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def _node_processes() -> Iterator[tuple[Any, str]]:
    """Every process whose environment names a RabbitMQ node, with that name: a node's
    beam and the helpers it started, and no other process (psutil.Process, name)."""
    import psutil

    for proc in psutil.process_iter(["name", "environ"]):
        nodename = (proc.info.get("environ") or {}).get("RABBITMQ_NODENAME")
        if nodename:
            yield proc, nodename


def _running(proc: Any) -> bool:
    """Alive and not a zombie (``proc`` is a psutil.Process)."""
    import psutil

    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


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
