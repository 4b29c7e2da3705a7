"""timeout: drops all data; closes the link after `timeout` ms without input (0 = never)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from harness.proxy.toxics.base import Stub, Toxic


@dataclasses.dataclass(frozen=True, slots=True)
class TimeoutToxic(Toxic):
    """Drops all data;
    closes the stream after `timeout` ms without input (0: holds it open forever)."""

    type_name: ClassVar[str] = "timeout"
    go_name: ClassVar[str] = "TimeoutToxic"
    fields: ClassVar[dict[str, str]] = {"timeout": "int64"}

    timeout: int = 0

    async def pipe(self, stub: Stub) -> None:
        """Swallow chunks, re-arming the timer after each;
        close when it runs out or the input ends."""
        if self.timeout <= 0:
            while await stub.read() is not None:
                pass  # Dropped on purpose.
            stub.close()
            return
        # As in Go, the timer is armed afresh after every chunk it swallows.
        while True:
            arrived, chunk = await stub.read_or_timeout(self.timeout / 1000.0)
            if not arrived or chunk is None:
                stub.close()
                return

    def on_remove(self, stub: Stub) -> None:
        """Close the stream: a link that lost bytes to this toxic must not carry on as if whole."""
        # A stream that lost bytes must not carry on: close it, whatever the
        # toxicity draw was for this link (Toxiproxy PR #168).
        stub.close()
