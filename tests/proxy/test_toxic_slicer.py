"""slicer: chunks cut into pieces of average_size ± size_variation, delay µs apart."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from linkkit import port_of, proxied, until

from harness.proxy.toxics import TOXIC_TYPES
from harness.proxy.toxics.slicer import SlicerToxic

pytestmark = pytest.mark.timeout(30)


class Reads(asyncio.Protocol):
    """Records the size of each read, to see the pieces as the client gets them."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.data = bytearray()

    def data_received(self, data: bytes) -> None:
        self.sizes.append(len(data))
        self.data.extend(data)


async def test_splits_a_payload_into_reads_no_larger_than_average_plus_variation() -> None:
    payload = bytes(range(100))
    async with proxied() as proxy:
        await proxy.add_toxic(
            "s",
            "slicer",
            "downstream",
            1.0,
            {"average_size": 10, "size_variation": 5, "delay": 20_000},
        )
        loop = asyncio.get_running_loop()
        transport, reads = await loop.create_connection(Reads, "127.0.0.1", port_of(proxy.listen))
        try:
            transport.write(payload)
            await until(lambda: len(reads.data) >= len(payload))
        finally:
            transport.close()
    assert bytes(reads.data) == payload
    assert max(reads.sizes) <= 15, reads.sizes
    assert len(reads.sizes) >= 7, reads.sizes


def test_cuts_cover_the_chunk_within_the_size_limit() -> None:
    toxic = SlicerToxic(average_size=10, size_variation=5, delay=0)
    for length in (0, 1, 15, 16, 100, 32 * 1024):
        bounds = toxic.cuts(length)
        pieces = [b - a for a, b in itertools.pairwise(bounds)]
        assert bounds[0] == 0 and bounds[-1] == length
        assert all(0 < p <= 15 for p in pieces) or length == 0


def test_average_size_0_is_refused_instead_of_crashing() -> None:
    message = TOXIC_TYPES["slicer"].check({"average_size": 0, "size_variation": 0, "delay": 0})
    assert message is not None and "average_size" in message
    assert TOXIC_TYPES["slicer"].check({"average_size": 1, "size_variation": 0, "delay": 0}) is None
