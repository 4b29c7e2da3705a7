"""Redis: a fresh ``redis-server`` per drill, or a running server (``url = "redis://..."``).

Embedded: the program on PATH (or the table's ``server``) on 127.0.0.1 and a
free port, no persistence (a drill's data need only outlive the workflow,
not the server), its working folder a scratch one; it dies with the harness
(``harness.runtime.launch``). With ``url`` the drill empties the URL's
database number when it starts and between schedules (FLUSHDB), so point it
at a server kept for drills.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from harness.inputs.services import RedisSpec, where_from
from harness.runtime.processes import free_port, stop_process, with_parent_death
from harness.runtime.scratch import scratch_dir
from harness.services._kind import Kind, Running, ServiceStartError, cause_in, log_text

PROGRAM = "redis-server"
# Between choosing a free port and the server binding it, another process may take it.
PORT_TRIES = 3


def _command(*words: str) -> bytes:
    """One command in RESP, the protocol's own framing."""
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


async def _call(url: str, timeout_s: float, *command: str) -> None:
    """AUTH and SELECT as the URL says, then ``command``; ConnectionError if refused."""
    parts = urlsplit(url)
    sequence: list[tuple[str, ...]] = []
    if parts.password:
        user = unquote(parts.username or "") or "default"
        sequence.append(("AUTH", user, unquote(parts.password)))
    database = parts.path.strip("/")
    if database:
        sequence.append(("SELECT", database))
    sequence.append(command)
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 6379)
        try:
            for words in sequence:
                writer.write(_command(*words))
                await writer.drain()
                answer = await reader.readline()
                if not answer or answer.startswith(b"-"):
                    # The server's own words; they never hold the password.
                    said = answer.decode(errors="replace").strip("-\r\n") or "connection closed"
                    raise ConnectionError(f"{words[0]} refused: {said}")
        finally:
            writer.close()


def _program(name: str, spec: RedisSpec) -> str:
    found = shutil.which(spec.server or PROGRAM)
    if found is None:
        key = "server" if spec.server else "kind"
        raise ServiceStartError(
            f"[services.{name}] {key}: no {spec.server or PROGRAM} found on PATH; "
            "install Redis (Debian: redis-server) or give url"
        )
    return found


async def _ready(name: str, process: asyncio.subprocess.Process, port: int, log: Path,
                 deadline: float) -> bool:  # fmt: skip
    """True once the server answers PING; False if it died of a taken port."""
    loop = asyncio.get_running_loop()
    while True:
        if process.returncode is not None:
            if "in use" in log_text(log):
                return False
            raise ServiceStartError(
                f"[services.{name}] redis-server exited with code {process.returncode} "
                f"before it was ready: {cause_in(log)}"
            )
        with contextlib.suppress(OSError, TimeoutError, ConnectionError):
            await _call(f"redis://127.0.0.1:{port}", 1.0, "PING")
            return True
        if loop.time() > deadline:
            raise ServiceStartError(
                f"[services.{name}] redis-server not ready after its startup_timeout_s: "
                f"{cause_in(log)}"
            )
        # A port coming up has no event to wait on; the interval bounds readiness latency.
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def _embedded(name: str, spec: RedisSpec, folder: Path) -> AsyncIterator[Running]:
    started = time.monotonic()
    program = _program(name, spec)
    log = folder / f"service-{name}.log"
    deadline = asyncio.get_running_loop().time() + spec.startup_timeout_s
    with scratch_dir("redis") as work:
        for attempt in range(1, PORT_TRIES + 1):
            port = free_port()
            words = [
                program, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(work),
                "--save", "", "--appendonly", "no", "--daemonize", "no",
            ]  # fmt: skip
            with open(log, "ab") as out:  # noqa: ASYNC230 - the child takes its own descriptor
                process = await asyncio.create_subprocess_exec(
                    *with_parent_death(words), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            try:
                if not await _ready(name, process, port, log, deadline):
                    if attempt == PORT_TRIES:
                        raise ServiceStartError(f"[services.{name}] no free port: {cause_in(log)}")
                    continue
                yield Running(
                    name=name,
                    kind="redis",
                    address=f"127.0.0.1:{port}",
                    source="embedded",
                    start_s=time.monotonic() - started,
                    template="redis://{address}/0",
                    direct=f"redis://127.0.0.1:{port}/0",
                )
                return
            finally:
                await asyncio.shield(stop_process(process, grace_s=5.0))


def start(
    name: str, spec: RedisSpec, folder: Path
) -> contextlib.AbstractAsyncContextManager[Running]:
    """A Redis for one drill: embedded, or the server at ``url`` with its database emptied."""
    return _embedded(name, spec, folder) if spec.url is None else _on_server(name, spec, folder)


@contextlib.asynccontextmanager
async def _on_server(name: str, spec: RedisSpec, folder: Path) -> AsyncIterator[Running]:
    """The server at ``url``, its database emptied for this drill."""
    assert spec.url is not None
    started = time.monotonic()
    source = where_from(spec.url)
    try:
        await _call(spec.url, spec.startup_timeout_s, "FLUSHDB")
    except (OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ServiceStartError(f"[services.{name}] url: cannot reach {source}: {reason}") from None
    parts = urlsplit(spec.url)
    user = parts.netloc.rpartition("@")[0]
    template = f"{parts.scheme}://{user + '@' if user else ''}{{address}}{parts.path}"
    yield Running(
        name=name,
        kind="redis",
        address=f"{parts.hostname}:{parts.port or 6379}",
        source=source,
        start_s=time.monotonic() - started,
        template=template,
        direct=spec.url,
    )


async def clean(running: Running) -> None:
    """Empty the drill's database number for the next schedule."""
    await _call(running.direct, 5.0, "FLUSHDB")


KIND = Kind(
    name="redis",
    spec=RedisSpec,
    start=start,
    clean=clean,
    url_template="redis://[user:password@]{address}/[db]",
)
