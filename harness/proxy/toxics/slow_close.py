"""slow_close: data passes; the end of the stream is held back `delay` ms."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from harness.proxy.toxics.base import Stub, Toxic


@dataclasses.dataclass(frozen=True, slots=True)
class SlowCloseToxic(Toxic):
    """Lets data through but holds back the end of the stream (the close) by `delay` ms."""

    type_name: ClassVar[str] = "slow_close"
    go_name: ClassVar[str] = "SlowCloseToxic"
    fields: ClassVar[dict[str, str]] = {"delay": "int64"}

    delay: int = 0

    async def pipe(self, stub: Stub) -> None:
        """Forward every chunk, then wait `delay` before passing on the end of stream."""
        while (chunk := await stub.read()) is not None:
            stub.write(chunk)
        if await stub.sleep(self.delay / 1000.0):
            stub.close()
        # Interrupted during the delay: the end marker is still in the input
        # queue, so whatever runs next closes the stream.
