"""Event sources: how the captured events reach the workflow, one module per kind.

A kind declares its pilot table (the model lives in ``harness.inputs``, which
every stage reads), ``open`` (an async context manager yielding a
``SourceRun``: the broker or the source API for the drill, set up from the
table), how it delivers or drives the events (one attempt row per publish, or
per record served), how the drill knows it has settled, and how outcomes are
read back. Webhook deliveries are the original source and stay in
``harness.replay``; ``queue`` and ``poll`` are the kinds here. Adding a kind
is a module and a line below.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from harness.inputs.pilot import Pilot
from harness.sources import poll_http
from harness.sources.base import DeliveryContext, OpenContext, SourceRun, StandingRun

__all__ = [
    "SOURCES",
    "DeliveryContext",
    "OpenContext",
    "SourceKind",
    "SourceRun",
    "StandingRun",
    "amends_expected",
    "declared",
    "no_standing",
]


@dataclass(frozen=True)
class SourceKind:
    """One kind of event source: its pilot table, and how a drill opens it."""

    table: str  # the pilot table that declares it ([queue], [poll])
    brokers: tuple[str, ...]  # the values of its ``broker`` key this kind serves
    open: Callable[[Any, OpenContext], AbstractAsyncContextManager[SourceRun]]
    # It may change a record while serving it (its run has ``expected_versions()``):
    # the drill journals the expected rows after the drive, at the versions served.
    amends_expected: bool = False
    # Why drills of this table cannot share a standing stage; "": its run is a ``StandingRun``.
    no_standing: Callable[[Any], str] = lambda _table: ""


@asynccontextmanager
async def _open_queue(table: Any, ctx: OpenContext) -> AsyncIterator[SourceRun]:
    # One module per broker: the table's ``broker`` says which. Each is imported
    # here, when a queue is opened: its client library (nats, aio_pika) costs a
    # quarter second of CPU that a drill without a queue need not pay.
    if table.broker == "rabbitmq":
        from harness.sources import queue_rabbitmq

        opener: Callable[..., AbstractAsyncContextManager[SourceRun]] = queue_rabbitmq.open_rabbitmq
    else:
        from harness.sources import queue_nats

        opener = queue_nats.open_queue
    async with opener(table, ctx.base, ctx.run_dir) as run:
        yield run


@asynccontextmanager
async def _open_poll(table: Any, ctx: OpenContext) -> AsyncIterator[SourceRun]:
    async with poll_http.open_poll(table, ctx) as run:
        yield run


def _poll_no_standing(table: Any) -> str:
    # A triggered job pages when the lab fires it; one on its own schedule pages
    # between drills too, and a pass could read two drills' records.
    if table.trigger is not None:
        return ""
    return (
        "the job pages the source on its own schedule, between drills too, so a pass "
        "could read two drills' records: every drill runs on a source, workflow and "
        "partners of its own"
    )


SOURCES: dict[str, SourceKind] = {
    # Both brokers purge their queues between drills under a consumer that stays bound.
    "queue": SourceKind("queue", ("nats", "rabbitmq"), _open_queue),
    # The source serves each drill's records and page faults afresh.
    "poll": SourceKind("poll", (), _open_poll, amends_expected=True, no_standing=_poll_no_standing),
}


def declared(pilot: Pilot) -> tuple[SourceKind, Any] | None:
    """The source the pilot declares besides webhooks (its kind and table), or None."""
    for kind in SOURCES.values():
        table = getattr(pilot.spec, kind.table, None)
        if table is not None:
            return kind, table
    return None


def amends_expected(pilot: Pilot) -> bool:
    """Whether the pilot's source may change records it serves (see ``SourceKind``)."""
    found = declared(pilot)
    return found is not None and found[0].amends_expected


def no_standing(pilot: Pilot) -> str:
    """Why the pilot's source cannot stay open across drills on a standing stage, or ''."""
    found = declared(pilot)
    return found[0].no_standing(found[1]) if found is not None else ""
