"""slow_close: data flows normally; the end of the stream is held back."""

from __future__ import annotations

import asyncio

import pytest
from linkkit import connect, proxied

pytestmark = pytest.mark.timeout(30)


async def greet_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"bye")
    await writer.drain()


async def test_eof_reaches_the_client_after_the_delay() -> None:
    async with proxied(greet_and_close) as proxy:
        await proxy.add_toxic("sc", "slow_close", "downstream", 1.0, {"delay": 400})
        loop = asyncio.get_running_loop()
        async with connect(proxy) as client:
            start = loop.time()
            assert await client.read_exact(3) == b"bye"
            assert loop.time() - start < 0.2  # data is not delayed
            assert await client.read_to_eof() == b""
            assert 0.38 <= loop.time() - start < 1.0
