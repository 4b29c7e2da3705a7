"""latency: each chunk leaves `latency` ± `jitter` ms after it was read."""

from __future__ import annotations

import dataclasses
import random
from typing import ClassVar

from harness.proxy.toxics.base import Stub, Toxic, now


@dataclasses.dataclass(frozen=True, slots=True)
class LatencyToxic(Toxic):
    """Delays every chunk by `latency` ms, ± `jitter` ms, counted from when it was read."""

    type_name: ClassVar[str] = "latency"
    go_name: ClassVar[str] = "LatencyToxic"
    fields: ClassVar[dict[str, str]] = {"latency": "int64", "jitter": "int64"}

    latency: int = 0
    jitter: int = 0

    def passthrough(self) -> bool:
        """No delay at all: the link skips the stage."""
        return self.latency <= 0 and self.jitter <= 0

    def delay(self) -> float:
        """Seconds; jitter is a uniform integer in [-jitter, jitter-1] ms as in Go."""
        ms = self.latency
        if self.jitter > 0:
            ms += random.randrange(-self.jitter, self.jitter)
        return ms / 1000.0

    async def pipe(self, stub: Stub) -> None:
        """Hold each chunk until its delay has passed since it was read;
        an interrupt forwards it at once."""
        while (chunk := await stub.read()) is not None:
            # The clock started when the chunk was read, so chunks sent back to
            # back wait together rather than one after another.
            wait = self.delay() - (now() - chunk.stamp)
            if not await stub.sleep(wait):
                stub.write(chunk)  # Interrupted: forward, never drop.
                return
            # Go moves the stamp on by the wait, so a later latency stage
            # counts from (about) now and chained latencies add up.
            chunk.stamp += wait
            stub.write(chunk)
        stub.close()
