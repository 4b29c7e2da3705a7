"""The background worker: drains the inbox into partner calls, one order at a time.

Several workers run side by side, but never two on the same order, so each
order's events are applied in a single, version-checked sequence. Per order
the workflow remembers what the partner holds (shipment id, applied version):

- an update not newer than the applied version, or with a newer update queued
  behind it, is `superseded`, never sent;
- an update that arrives before its order's create waits; the create releases
  it once the shipment exists, so the partner ends on the latest version;
- a payment event for an order that already has a shipment is a `duplicate`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from workflows.service.keyed_pool import KeyedPool
from workflows.stripe_orders import events

from .client import PartnerClient, PartnerError
from .inbox import Inbox, InboxEvent


class Processor(KeyedPool[InboxEvent]):
    def __init__(
        self,
        inbox: Inbox,
        client: PartnerClient,
        *,
        workers: int = 4,
        orphan_update_timeout_s: float = 10.0,
    ) -> None:
        super().__init__(workers)
        self.inbox = inbox
        self.client = client
        self.orphan_update_timeout_s = orphan_update_timeout_s

    def pending(self) -> Iterable[InboxEvent]:
        return self.inbox.pending()

    def entity_of(self, item: InboxEvent) -> str | None:
        return item.order_id

    def expire_orphans(self) -> None:
        now = time.time()
        for event in self.inbox.waiting():
            since = event.waiting_since or now
            if now - since < self.orphan_update_timeout_s:
                continue
            # Not an orphan while its create is in the inbox (being retried through
            # a partner outage, say): that create will release it.
            if event.order_id is not None and (
                self.busy(event.order_id)
                or any(
                    other.event_id != event.event_id and other.state != "waiting"
                    for other in self.inbox.open_events_for(event.order_id)
                )
            ):
                continue
            self.inbox.finish(
                event.event_id,
                "dead_lettered",
                f"no shipment for order {event.order_id} after "
                f"{self.orphan_update_timeout_s:g}s: its create never arrived",
            )

    async def process(self, event: InboxEvent) -> None:
        if event.problem is not None:
            self.inbox.finish(event.event_id, "dead_lettered", f"malformed event: {event.problem}")
            return
        if event.type not in events.HANDLED_TYPES:
            self.inbox.finish(event.event_id, "processed", f"ignored: type {event.type}")
            return
        try:
            change = events.shipment_change(events.parse_envelope(event.payload))
        except events.EventError as exc:
            self.inbox.finish(event.event_id, "dead_lettered", f"malformed event: {exc}")
            return
        if event.type == events.PAYMENT_SUCCEEDED:
            await self._create(event, change)
        else:
            await self._update(event, change)

    async def _create(self, event: InboxEvent, change: events.ShipmentChange) -> None:
        order = self.inbox.order(change.order_id)
        if order is not None:
            self.inbox.finish(
                event.event_id,
                "duplicate",
                f"order {change.order_id} already has shipment {order.shipment_id}"
                f" (created by {order.created_by})",
            )
            return
        try:
            result = await self.client.create_shipment(
                order_id=change.order_id,
                address=change.address,
                version=change.version,
                idempotency_key=f"{event.event_id}:create",
                traceparent=event.traceparent,
                attempts_used=event.attempts,
                on_attempt=lambda n: self.inbox.set_attempts(event.event_id, n),
            )
        except PartnerError as exc:
            self.inbox.finish(event.event_id, "dead_lettered", exc.reason)
            for waiting in self.inbox.open_events_for(change.order_id):
                if waiting.state == "waiting":
                    self.inbox.finish(
                        waiting.event_id,
                        "dead_lettered",
                        f"its create {event.event_id} was dead-lettered",
                    )
            return
        shipment_id = str(result.body.get("id", ""))
        self.inbox.record_created(change.order_id, shipment_id, change.version, event.event_id)
        replayed = ", replayed" if result.replayed else ""
        self.inbox.finish(
            event.event_id,
            "processed",
            f"shipment {shipment_id} created at version {change.version}"
            f" ({result.attempts} attempt(s){replayed})",
        )
        if self.inbox.release_waiting(change.order_id):
            self.notify()

    async def _update(self, event: InboxEvent, change: events.ShipmentChange) -> None:
        order = self.inbox.order(change.order_id)
        if order is None:
            self.inbox.set_waiting(event.event_id)
            return
        if change.version <= order.applied_version:
            self.inbox.finish(
                event.event_id,
                "superseded",
                f"version {change.version} is not newer than applied version"
                f" {order.applied_version}",
            )
            return
        newer = [
            e
            for e in self.inbox.open_events_for(change.order_id)
            if e.type == events.ORDER_UPDATED
            and e.event_id != event.event_id
            and e.version is not None
            and e.version > change.version
        ]
        if newer:
            latest = max(newer, key=lambda e: e.version or 0)
            self.inbox.finish(
                event.event_id,
                "superseded",
                f"newer version {latest.version} ({latest.event_id}) is queued",
            )
            return
        try:
            result = await self.client.update_shipment(
                order_id=change.order_id,
                address=change.address,
                version=change.version,
                idempotency_key=f"{event.event_id}:update",
                traceparent=event.traceparent,
                attempts_used=event.attempts,
                on_attempt=lambda n: self.inbox.set_attempts(event.event_id, n),
            )
        except PartnerError as exc:
            self.inbox.finish(event.event_id, "dead_lettered", exc.reason)
            return
        self.inbox.record_version(change.order_id, change.version)
        replayed = ", replayed" if result.replayed else ""
        self.inbox.finish(
            event.event_id,
            "processed",
            f"shipment {order.shipment_id} set to version {change.version}"
            f" ({result.attempts} attempt(s){replayed})",
        )
