"""bandwidth: a rate cap in KB/s (1000 bytes); rate 0 stalls the direction."""

from __future__ import annotations

import asyncio

import pytest
from linkkit import connect, proxied

from harness.proxy.toxics import TOXIC_TYPES

pytestmark = pytest.mark.timeout(30)


async def test_100_kb_per_s_moves_200_kb_in_about_2_s() -> None:
    payload = b"x" * 200_000
    async with proxied() as proxy, connect(proxy) as client:
        await proxy.add_toxic("bw", "bandwidth", "upstream", 1.0, {"rate": 100})
        loop = asyncio.get_running_loop()
        start = loop.time()
        await client.send(payload)
        assert await client.read_exact(len(payload), within=10) == payload
        elapsed = loop.time() - start
    assert 1.8 <= elapsed < 3.0, elapsed


async def test_rate_0_stalls_without_closing() -> None:
    async with proxied() as proxy, connect(proxy) as client:
        await proxy.add_toxic("bw", "bandwidth", "downstream", 1.0, {"rate": 0})
        await client.send(b"anyone there?")
        assert await client.stays_quiet(0.3)
        # Removing the stall releases what it held.
        await proxy.remove_toxic("bw")
        assert await client.read_exact(13) == b"anyone there?"


def test_negative_rate_is_refused_instead_of_crashing() -> None:
    message = TOXIC_TYPES["bandwidth"].check({"rate": -1})
    assert message is not None and "rate" in message and "\n" not in message
    assert TOXIC_TYPES["bandwidth"].check({"rate": 0}) is None
