"""bandwidth: at most `rate` KB/s (KB = 1000 bytes); rate 0 stalls the direction."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from harness.proxy.toxics.base import Chunk, Stub, Toxic, now

# Large chunks go out in pieces of rate*100 bytes, one every 100 ms, like Go.
_SLICE_S = 0.1


@dataclasses.dataclass(frozen=True, slots=True)
class BandwidthToxic(Toxic):
    """Limits the stream to `rate` KB/s; a rate of 0 stalls it with the connection left open."""

    type_name: ClassVar[str] = "bandwidth"
    go_name: ClassVar[str] = "BandwidthToxic"
    fields: ClassVar[dict[str, str]] = {"rate": "int64"}

    rate: int = 0

    @classmethod
    def check(cls, attributes: dict[str, int]) -> str | None:
        rate = attributes.get("rate", 0)
        if rate < 0:
            return f"bandwidth: rate must be >= 0 KB/s (0 stalls the stream), got {rate}"
        return None

    async def pipe(self, stub: Stub) -> None:
        """Release each chunk once its bytes have been paid for at `rate`,
        in 100 ms slices when large."""
        if self.rate <= 0:
            # The Go server never releases data at rate 0; the connection stays open.
            await stub.sleep(float("inf"))
            return
        piece = self.rate * 100
        per_byte = 1.0 / (self.rate * 1000.0)
        debt = 0.0  # seconds of sending time owed, carried between chunks
        while (chunk := await stub.read()) is not None:
            data = chunk.data
            debt += len(data) * per_byte
            while len(data) > piece:
                if not await stub.sleep(_SLICE_S):
                    stub.write(Chunk(data, chunk.stamp))  # Interrupted: forward, never drop.
                    return
                stub.write(Chunk(data[:piece], chunk.stamp))
                data = data[piece:]
                debt -= _SLICE_S
            start = now()
            if not await stub.sleep(debt):
                stub.write(Chunk(data, chunk.stamp))
                return
            # Oversleeping leaves a negative debt that shortens the next wait,
            # which keeps the long-run rate exact.
            debt -= now() - start
            stub.write(Chunk(data, chunk.stamp) if data is not chunk.data else chunk)
        stub.close()
