"""reset_peer: on the first chunk (or end), wait `timeout` ms and close with a TCP RST.

The RST comes from SO_LINGER 0, which the proxy sets on both sockets of a
connection set up while a reset_peer toxic is configured. Added to an open
connection, the same close is an ordinary FIN.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from harness.proxy.toxics.base import Stub, Toxic


@dataclasses.dataclass(frozen=True, slots=True)
class ResetPeerToxic(Toxic):
    """Drops the first data, waits `timeout` ms and ends the connection with a TCP RST."""

    type_name: ClassVar[str] = "reset_peer"
    go_name: ClassVar[str] = "ResetToxic"
    fields: ClassVar[dict[str, str]] = {"timeout": "int64"}

    timeout: int = 0

    async def pipe(self, stub: Stub) -> None:
        """Swallow the first chunk (or the end), wait without heeding interrupts, then close."""
        await stub.read()  # The first chunk is dropped.
        # Go waits here without listening for interrupts; so do we, then close.
        await stub.sleep_uninterrupted(self.timeout / 1000.0)
        stub.close()
