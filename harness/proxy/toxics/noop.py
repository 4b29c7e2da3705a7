"""noop: forwards every chunk unchanged (a registered public type in Toxiproxy)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from harness.proxy.toxics.base import Toxic


@dataclasses.dataclass(frozen=True, slots=True)
class NoopToxic(Toxic):
    """Leaves the stream untouched; Toxiproxy registers it, so the API accepts it."""

    type_name: ClassVar[str] = "noop"
    go_name: ClassVar[str] = "NoopToxic"
    fields: ClassVar[dict[str, str]] = {}

    def passthrough(self) -> bool:
        """Always: the link never runs a noop stage."""
        return True
