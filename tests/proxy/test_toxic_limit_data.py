"""limit_data: exactly N bytes per connection and direction, then close."""

from __future__ import annotations

import pytest
from linkkit import connect, proxied

pytestmark = pytest.mark.timeout(30)


async def test_passes_exactly_n_bytes_then_closes() -> None:
    async with proxied() as proxy:
        await proxy.add_toxic("l", "limit_data", "downstream", 1.0, {"bytes": 10})
        async with connect(proxy) as client:
            await client.send(b"0123456789abcdefghij" * 5)
            assert await client.read_to_eof() == b"0123456789"


async def test_counter_survives_an_update() -> None:
    async with proxied() as proxy, connect(proxy) as client:
        # Downstream, so the echo of what passed can still reach the client.
        await proxy.add_toxic("l", "limit_data", "downstream", 1.0, {"bytes": 10})
        assert await client.round_trip(b"123456") < 0.5
        await proxy.update_toxic("l", {"bytes": 8}, None)
        await client.send(b"abcdef")
        # 6 already passed, so only 2 more may, then the connection closes.
        assert await client.read_to_eof() == b"ab"


async def test_zero_closes_on_the_first_data() -> None:
    async with proxied() as proxy:
        await proxy.add_toxic("l", "limit_data", "upstream", 1.0, {"bytes": 0})
        async with connect(proxy) as client:
            assert await client.stays_quiet(0.1)  # connected, open, nothing sent yet
            await client.send(b"x")
            assert await client.read_to_eof() == b""
