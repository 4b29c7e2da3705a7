"""Worker loops that drain a durable inbox, never two at once on the same entity.

Several loops run side by side; an item is claimed only when neither its
event nor its entity (an order, a user) is being worked on, so each entity's
events are applied one after another. A subclass says where pending items
come from, what an item's entity is, how one is processed, and what to do
with items that waited too long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar

IDLE_POLL_S = 0.2  # how often an idle loop looks again when nobody notified it


class Item(Protocol):
    @property
    def event_id(self) -> str: ...


T = TypeVar("T", bound=Item)


class KeyedPool(Generic[T]):
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._wake = asyncio.Event()
        self._busy_entities: set[str] = set()
        self._busy_events: set[str] = set()

    # -- what a subclass provides ----------------------------------------

    def pending(self) -> Iterable[T]:
        raise NotImplementedError

    def entity_of(self, item: T) -> str | None:
        raise NotImplementedError

    async def process(self, item: T) -> None:
        raise NotImplementedError

    def expire_orphans(self) -> None:
        """Finish items that waited too long for another one (default: none wait)."""

    # -- the loops ---------------------------------------------------------

    def notify(self) -> None:
        self._wake.set()

    def busy(self, entity: str) -> bool:
        return entity in self._busy_entities

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for _ in range(self.workers):
                tg.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            self.expire_orphans()
            item = self._claim()
            if item is None:
                # Clear, then look once more: a notify between the two cannot be lost.
                self._wake.clear()
                item = self._claim()
            if item is None:
                try:
                    async with asyncio.timeout(IDLE_POLL_S):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            entity = self.entity_of(item)
            try:
                await self.process(item)
            finally:
                self._busy_events.discard(item.event_id)
                if entity is not None:
                    self._busy_entities.discard(entity)
                self.notify()

    def _claim(self) -> T | None:
        for item in self.pending():
            entity = self.entity_of(item)
            if item.event_id in self._busy_events or (
                entity is not None and entity in self._busy_entities
            ):
                continue
            self._busy_events.add(item.event_id)
            if entity is not None:
                self._busy_entities.add(entity)
            return item
        return None
