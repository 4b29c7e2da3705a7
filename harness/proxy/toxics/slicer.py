"""slicer: splits each chunk into pieces of about `average_size` bytes, `delay` µs apart."""

from __future__ import annotations

import dataclasses
import random
from typing import ClassVar

from harness.proxy.toxics.base import Chunk, Stub, Toxic


@dataclasses.dataclass(frozen=True, slots=True)
class SlicerToxic(Toxic):
    """Cuts each chunk into pieces of about `average_size` ± `size_variation` bytes,
    `delay` µs apart."""

    type_name: ClassVar[str] = "slicer"
    go_name: ClassVar[str] = "SlicerToxic"
    fields: ClassVar[dict[str, str]] = {
        "average_size": "int",
        "size_variation": "int",
        "delay": "int",
    }

    average_size: int = 0
    size_variation: int = 0
    delay: int = 0

    @classmethod
    def check(cls, attributes: dict[str, int]) -> str | None:
        average = attributes.get("average_size", 0)
        if average <= 0:
            return f"slicer: average_size must be > 0 bytes, got {average}"
        return None

    def cuts(self, length: int) -> list[int]:
        """Offsets splitting [0, length) into pieces of at most average+variation bytes."""
        limit = max(1, self.average_size + self.size_variation)
        bounds = [0]
        # Halve around the middle, shifted by up to ±variation, as Go does;
        # iterative so a large chunk cannot exhaust the stack.
        stack = [(0, length)]
        pieces: list[tuple[int, int]] = []
        while stack:
            start, end = stack.pop()
            if end - start <= limit:
                pieces.append((start, end))
                continue
            mid = start + (end - start) // 2
            if self.size_variation > 0:
                mid += random.randrange(-self.size_variation, self.size_variation)
            mid = min(max(mid, start + 1), end - 1)
            stack.append((mid, end))
            stack.append((start, mid))
        bounds.extend(end for _, end in pieces)
        return bounds

    async def pipe(self, stub: Stub) -> None:
        """Write each chunk's pieces with `delay` between them;
        an interrupt forwards the rest whole."""
        gap = self.delay / 1_000_000.0
        while (chunk := await stub.read()) is not None:
            data = chunk.data
            bounds = self.cuts(len(data))
            for i in range(1, len(bounds)):
                stub.write(Chunk(data[bounds[i - 1] : bounds[i]], chunk.stamp))
                if not await stub.sleep(gap):
                    if bounds[i] < len(data):
                        stub.write(Chunk(data[bounds[i] :], chunk.stamp))  # Forward the rest.
                    return
        stub.close()
