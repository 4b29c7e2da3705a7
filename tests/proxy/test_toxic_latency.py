"""latency: a delay from the time each chunk was read, with optional jitter."""

from __future__ import annotations

import asyncio

import pytest
from linkkit import connect, proxied

from harness.proxy.toxics.latency import LatencyToxic

pytestmark = pytest.mark.timeout(30)


async def test_latency_100_adds_about_100_ms_to_a_round_trip() -> None:
    async with proxied() as proxy, connect(proxy) as client:
        base = await client.round_trip()
        await proxy.add_toxic("lat", "latency", "downstream", 1.0, {"latency": 100, "jitter": 0})
        delayed = await client.round_trip()
    # The floor is the point; the ceiling and the gap leave room for a loaded CI
    # machine, where the undelayed round trip itself can take tens of ms.
    assert 0.099 <= delayed < 0.5
    assert delayed - base >= 0.05


async def test_back_to_back_chunks_wait_together_not_one_after_another() -> None:
    async with proxied() as proxy, connect(proxy) as client:
        await proxy.add_toxic("lat", "latency", "upstream", 1.0, {"latency": 100})
        loop = asyncio.get_running_loop()
        start = loop.time()
        # Five separate writes, each a separate chunk, all read at about the same time.
        for i in range(5):
            client.writer.write(bytes([65 + i]) * 10)
            await client.writer.drain()
        assert (
            await client.read_exact(50) == b"A" * 10 + b"B" * 10 + b"C" * 10 + b"D" * 10 + b"E" * 10
        )
        assert loop.time() - start < 0.3  # not 5 x 100 ms


def test_jitter_stays_in_go_range() -> None:
    toxic = LatencyToxic(latency=100, jitter=50)
    delays = {round(toxic.delay() * 1000) for _ in range(2000)}
    assert min(delays) == 50 and max(delays) == 149  # uniform in [-jitter, jitter-1]
    assert LatencyToxic(latency=0).passthrough()
    assert not LatencyToxic(latency=0, jitter=5).passthrough()
