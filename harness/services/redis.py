"""Redis: a running server only (``url = "redis://..."``); no embedded one yet.

The drill empties the URL's database number when it starts and between
schedules (FLUSHDB), so point it at a server kept for drills.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from harness.inputs.services import RedisSpec, where_from
from harness.services._kind import Kind, Running, ServiceStartError


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


@contextlib.asynccontextmanager
async def start(name: str, spec: RedisSpec, folder: Path) -> AsyncIterator[Running]:
    """The server at ``url``, its database emptied for this drill."""
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
