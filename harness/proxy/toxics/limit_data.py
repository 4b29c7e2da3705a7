"""limit_data: forwards `bytes` bytes per connection and direction, then closes."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from harness.proxy.toxics.base import Chunk, Stub, Toxic


class Sent:
    """Bytes forwarded so far on one link; outlives updates of the toxic."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


@dataclasses.dataclass(frozen=True, slots=True)
class LimitDataToxic(Toxic):
    """Lets `bytes` bytes through on each connection and direction, then closes the stream."""

    type_name: ClassVar[str] = "limit_data"
    go_name: ClassVar[str] = "LimitDataToxic"
    fields: ClassVar[dict[str, str]] = {"bytes": "int64"}

    bytes: int = 0

    def new_state(self) -> Sent:
        """A fresh byte count per link, kept when the toxic is updated."""
        return Sent()

    async def pipe(self, stub: Stub) -> None:
        """Forward until the link's count reaches `bytes` (cutting the last chunk), then close."""
        sent: Sent = stub.state
        while (chunk := await stub.read()) is not None:
            remaining = max(0, self.bytes - sent.count)
            if remaining < len(chunk.data):
                chunk = Chunk(chunk.data[:remaining], chunk.stamp)
            if chunk.data:
                stub.write(chunk)
                sent.count += len(chunk.data)
            if self.bytes - sent.count <= 0:
                break
        stub.close()
