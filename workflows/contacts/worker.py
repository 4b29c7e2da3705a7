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

import time
from collections.abc import Iterable

from workflows.service.keyed_pool import KeyedPool

from . import events
from .crm import CrmClient, CrmError
from .store import Contact, Queued, Store


class Worker(KeyedPool[Queued]):
    def __init__(
        self, store: Store, crm: CrmClient, *, workers: int = 4, orphan_wait_s: float = 10.0
    ) -> None:
        super().__init__(workers)
        self.store = store
        self.crm = crm
        self.orphan_wait_s = orphan_wait_s

    def pending(self) -> Iterable[Queued]:
        return self.store.pending()

    def entity_of(self, item: Queued) -> str | None:
        return item.user_id

    def expire_orphans(self) -> None:
        now = time.time()
        for item in self.store.waiting():
            if now - (item.waiting_since or now) < self.orphan_wait_s or item.user_id is None:
                continue
            # Its create may still be in the inbox, retrying through a CRM outage.
            if self.busy(item.user_id) or any(
                other.state != "waiting" for other in self.store.open_for(item.user_id)
            ):
                continue
            self.store.finish(
                item.event_id,
                "dead_lettered",
                f"no contact for {item.user_id} after {self.orphan_wait_s:g}s:"
                " its user.created never arrived",
            )

    async def process(self, item: Queued) -> None:
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
