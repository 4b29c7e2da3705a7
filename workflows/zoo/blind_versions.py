"""blind-versions: updates applied as they come, with no look at their version.

The classic: last write wins by arrival, not by version. Two updates of one
order delivered out of order leave the partner holding the older one. Caught
by final_state (overwritten) when updates are reordered.
"""

from __future__ import annotations

from types import ModuleType

from workflows.hardened.client import PartnerError
from workflows.hardened.inbox import InboxEvent
from workflows.hardened.worker import Processor
from workflows.stripe_orders import events


class BlindProcessor(Processor):
    async def _update(self, event: InboxEvent, change: events.ShipmentChange) -> None:
        order = self.inbox.order(change.order_id)
        if order is None:
            self.inbox.set_waiting(event.event_id)
            return
        try:
            await self.client.update_shipment(
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
        self.inbox.finish(event.event_id, "processed", f"set to version {change.version}")


def install(app: ModuleType) -> None:
    app.Processor = BlindProcessor  # type: ignore[attr-defined]
