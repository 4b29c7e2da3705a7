"""reset_peer: a TCP RST after the first data, on connections set up while it exists."""

from __future__ import annotations

import asyncio

import pytest
from linkkit import connect, proxied

pytestmark = pytest.mark.timeout(30)


async def test_downstream_reset_gives_the_client_connection_reset() -> None:
    async with proxied() as proxy:
        await proxy.add_toxic("r", "reset_peer", "downstream", 1.0, {"timeout": 0})
        async with connect(proxy) as client:
            await client.send(b"ping")
            with pytest.raises(ConnectionResetError):
                await client.read_to_eof()


async def test_upstream_reset_waits_its_timeout() -> None:
    async with proxied() as proxy:
        await proxy.add_toxic("r", "reset_peer", "upstream", 1.0, {"timeout": 300})
        loop = asyncio.get_running_loop()
        async with connect(proxy) as client:
            start = loop.time()
            await client.send(b"ping")  # dropped: the echo server never sees it
            with pytest.raises(ConnectionResetError):
                await client.read_to_eof()
            assert 0.28 <= loop.time() - start < 1.0


async def test_added_to_an_open_connection_it_closes_with_a_plain_eof() -> None:
    async with proxied() as proxy, connect(proxy) as client:
        await client.round_trip()
        await proxy.add_toxic("r", "reset_peer", "downstream", 1.0, {"timeout": 0})
        await client.send(b"ping")
        assert await client.read_to_eof() == b""


async def test_nothing_happens_until_data_flows() -> None:
    async with proxied() as proxy:
        await proxy.add_toxic("r", "reset_peer", "upstream", 1.0, {"timeout": 0})
        async with connect(proxy) as client:
            assert await client.stays_quiet(0.2)
