"""timeout: swallow data; 0 keeps the connection open, N closes it after N ms."""

from __future__ import annotations

import asyncio

import pytest
from linkkit import connect, proxied, until

pytestmark = pytest.mark.timeout(30)


async def test_timeout_0_swallows_data_and_keeps_the_connection_open() -> None:
    async with proxied() as proxy, connect(proxy) as client:
        await proxy.add_toxic("t", "timeout", "upstream", 1.0, {"timeout": 0})
        await client.send(b"lost")
        assert await client.stays_quiet(0.4)
        assert len(proxy.connections) == 1


async def test_timeout_n_closes_after_about_n_ms() -> None:
    async with proxied() as proxy:
        await proxy.add_toxic("t", "timeout", "downstream", 1.0, {"timeout": 200})
        loop = asyncio.get_running_loop()
        async with connect(proxy) as client:
            start = loop.time()
            await client.send(b"swallowed")
            assert await client.read_to_eof() == b""
            elapsed = loop.time() - start
        assert 0.18 <= elapsed < 0.6, elapsed
        await until(lambda: not proxy.connections)


async def test_removing_it_closes_open_connections_in_its_direction() -> None:
    async with proxied() as proxy, connect(proxy) as client:
        await proxy.add_toxic("t", "timeout", "downstream", 1.0, {"timeout": 0})
        await client.send(b"lost")
        assert await client.stays_quiet(0.1)
        await proxy.remove_toxic("t")
        assert await client.read_to_eof() == b""


async def test_each_swallowed_chunk_rearms_the_timer_as_in_go() -> None:
    async with proxied() as proxy, connect(proxy) as client:
        await proxy.add_toxic("t", "timeout", "upstream", 1.0, {"timeout": 250})
        loop = asyncio.get_running_loop()
        start = loop.time()
        last = start
        for _ in range(4):
            last = loop.time()
            await client.send(b"keepalive")
            assert await client.stays_quiet(0.1)  # paces the input; the link stays open
        assert await client.read_to_eof() == b""
        assert loop.time() - last >= 0.24
        assert loop.time() - start >= 0.5  # three pauses + 250 ms, far past one timeout
