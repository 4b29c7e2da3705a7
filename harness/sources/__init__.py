"""Event sources: how the captured events reach the workflow, one module per kind.

A kind declares its pilot table (the model lives in ``harness.inputs``, which
every stage reads), ``open`` (an async context manager: the broker for the
drill, set up from the table), how it delivers the plan (one attempt row per
publish), how the drill knows it has settled, and how outcomes are read back.
Webhook deliveries are the original source and stay in ``harness.replay``;
``queue`` is the first kind here. Adding a kind is a module and a line below.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.inputs.pilot import Pilot
from harness.sources import queue_nats


@dataclass(frozen=True)
class SourceKind:
    """One kind of event source: its pilot table, and how a drill opens it."""

    table: str  # the pilot table that declares it ([queue])
    brokers: tuple[str, ...]  # the values of its ``broker`` key this kind serves
    open: Callable[[Any, Path, Path], AbstractAsyncContextManager[queue_nats.QueueRun]]


SOURCES: dict[str, SourceKind] = {
    "queue": SourceKind("queue", ("nats",), queue_nats.open_queue),
}


def declared(pilot: Pilot) -> tuple[SourceKind, Any] | None:
    """The source the pilot declares besides webhooks (its kind and table), or None."""
    for kind in SOURCES.values():
        table = getattr(pilot.spec, kind.table, None)
        if table is not None:
            return kind, table
    return None
