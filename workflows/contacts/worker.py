"""The worker: drains the inbox into CRM calls, one user at a time, in revision order.

Per user the store remembers the email the contact was created with and the
revision the CRM holds:

- an update not newer than that revision, or with a newer update queued
  behind it, is `superseded` and never sent;
- an update that arrives before its user's create waits until the create is
  done (or dead-letters after `orphan_wait_s`), so the CRM ends on the newest revision;
- a second `user.created` for a user that already has a contact is a `duplicate`.
"""

from __future__ import annotations

import asyncio
import time

from . import events
from .crm import CrmClient, CrmError
from .store import Contact, Queued, Store

IDLE_POLL_S = 0.2


class Worker:
    def __init__(
        self, store: Store, crm: CrmClient, *, workers: int = 4, orphan_wait_s: float = 10.0
    ) -> None:
        self.store = store
        self.crm = crm
        self.workers = workers
        self.orphan_wait_s = orphan_wait_s
        self._wake = asyncio.Event()
        self._busy_users: set[str] = set()
        self._busy_events: set[str] = set()

    def notify(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for _ in range(self.workers):
                tg.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            self._expire_orphans()
            item = self._claim()
            if item is None:
                # Clear, then look again: a notify between the two cannot be lost.
                self._wake.clear()
                item = self._claim()
            if item is None:
                try:
                    async with asyncio.timeout(IDLE_POLL_S):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            try:
                await self._process(item)
            finally:
                self._busy_events.discard(item.event_id)
                if item.user_id is not None:
                    self._busy_users.discard(item.user_id)
                self.notify()

    def _claim(self) -> Queued | None:
        for item in self.store.pending():
            if item.event_id in self._busy_events or item.user_id in self._busy_users:
                continue
            self._busy_events.add(item.event_id)
            if item.user_id is not None:
                self._busy_users.add(item.user_id)
            return item
        return None

    def _expire_orphans(self) -> None:
        now = time.time()
        for item in self.store.waiting():
            if now - (item.waiting_since or now) < self.orphan_wait_s or item.user_id is None:
                continue
            # Its create may still be in the inbox, retrying through a CRM outage.
            if item.user_id in self._busy_users or any(
                other.state != "waiting" for other in self.store.open_for(item.user_id)
            ):
                continue
            self.store.finish(
                item.event_id,
                "dead_lettered",
                f"no contact for {item.user_id} after {self.orphan_wait_s:g}s:"
                " its user.created never arrived",
            )

    async def _process(self, item: Queued) -> None:
        if item.problem is not None:
            self.store.finish(item.event_id, "dead_lettered", f"malformed event: {item.problem}")
            return
        if item.type not in events.HANDLED_TYPES:
            self.store.finish(item.event_id, "processed", f"ignored: type {item.type}")
            return
        change = events.user_change(item.payload)  # parsed once already at accept
        if item.type == events.USER_CREATED:
            await self._create(item, change)
        else:
            await self._update(item, change)

    async def _create(self, item: Queued, change: events.UserChange) -> None:
        known = self.store.contact(change.user_id)
        if known is not None:
            detail = f"{change.user_id} already has a contact (created by {known.created_by})"
            self.store.finish(item.event_id, "duplicate", detail)
            return
        try:
            answer = await self.crm.create(
                change.properties(), f"{item.event_id}:create", item.traceparent
            )
            detail = f"contact {answer.body.get('id', '?')} created ({answer.attempts} attempt(s))"
        except CrmError as exc:
            if exc.status != 409:
                self._dead_letter_user(item, change.user_id, exc.reason)
                return
            # HubSpot's "Contact already exists": an earlier try of this create landed.
            detail = "contact already existed at the CRM"
        self.store.save_contact(
            Contact(change.user_id, change.email, change.revision, item.event_id)
        )
        self.store.finish(item.event_id, "processed", f"{detail} at revision {change.revision}")
        if self.store.release_waiting(change.user_id):
            self.notify()

    def _dead_letter_user(self, item: Queued, user_id: str, reason: str) -> None:
        self.store.finish(item.event_id, "dead_lettered", reason)
        for other in self.store.open_for(user_id):
            if other.state == "waiting":
                detail = f"its user.created {item.event_id} was dead-lettered"
                self.store.finish(other.event_id, "dead_lettered", detail)

    async def _update(self, item: Queued, change: events.UserChange) -> None:
        known = self.store.contact(change.user_id)
        if known is None:
            self.store.set_waiting(item.event_id)
            return
        if change.revision <= known.revision:
            detail = f"revision {change.revision} is not newer than {known.revision}"
            self.store.finish(item.event_id, "superseded", detail)
            return
        newer = [
            other.revision or 0
            for other in self.store.open_for(change.user_id)
            if other.type == events.USER_UPDATED and (other.revision or 0) > change.revision
        ]
        if newer:
            detail = f"revision {max(newer)} is queued behind revision {change.revision}"
            self.store.finish(item.event_id, "superseded", detail)
            return
        try:
            answer = await self.crm.update(
                known.email, change.properties(), f"{item.event_id}:update", item.traceparent
            )
        except CrmError as exc:
            self.store.finish(item.event_id, "dead_lettered", exc.reason)
            return
        self.store.save_contact(
            Contact(change.user_id, known.email, change.revision, known.created_by)
        )
        detail = f"contact set to revision {change.revision} ({answer.attempts} attempt(s))"
        self.store.finish(item.event_id, "processed", detail)
