"""Helpers for the data-plane tests: loopback servers, proxied clients, bounded waits.

Everything runs in the test's own event loop with a real `Proxy`, real
sockets on 127.0.0.1, and a timeout on every wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from harness.proxy.proxy import Proxy

WAIT_S = 5.0  # upper bound for anything that should happen "soon"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


@contextlib.asynccontextmanager
async def tcp_server(handler: Handler = echo) -> AsyncIterator[str]:
    """A loopback server running `handler` per connection; yields "127.0.0.1:PORT"."""
    tasks: set[asyncio.Task[None]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(serve(reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def proxied(handler: Handler = echo) -> AsyncIterator[Proxy]:
    """A started Proxy in front of a loopback server running `handler`."""
    async with tcp_server(handler) as upstream, Proxy("test", "127.0.0.1:0", upstream) as proxy:
        yield proxy


class Client:
    """A client connection, with bounded reads."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_exact(self, size: int, within: float = WAIT_S) -> bytes:
        return await asyncio.wait_for(self.reader.readexactly(size), within)

    async def read_some(self, within: float = WAIT_S) -> bytes:
        return await asyncio.wait_for(self.reader.read(65536), within)

    async def read_to_eof(self, within: float = WAIT_S) -> bytes:
        return await asyncio.wait_for(self.reader.read(), within)

    async def round_trip(self, payload: bytes = b"ping", within: float = WAIT_S) -> float:
        """Seconds for `payload` to come back from an echo server."""
        start = time.monotonic()
        await self.send(payload)
        assert await self.read_exact(len(payload), within) == payload
        return time.monotonic() - start

    async def stays_quiet(self, seconds: float) -> bool:
        """True if nothing (no data, no EOF) arrives for `seconds`."""
        try:
            await asyncio.wait_for(self.reader.read(1), seconds)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.writer.close()


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


@contextlib.asynccontextmanager
async def connect(proxy: Proxy) -> AsyncIterator[Client]:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port_of(proxy.listen)), WAIT_S
    )
    client = Client(reader, writer)
    try:
        yield client
    finally:
        client.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def until(condition: Callable[[], bool], within: float = WAIT_S) -> None:
    """Wait (bounded) until `condition()` holds, checking every few milliseconds."""
    step = 0.005
    for _ in range(int(within / step) + 1):
        if condition():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"condition not met within {within} s")
