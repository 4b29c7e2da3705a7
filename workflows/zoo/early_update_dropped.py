"""early-update-dropped: an update for an entity not created yet is acknowledged and dropped.

The classic: "no shipment for this order? nothing to update" — answered 200,
reported done. Webhooks do not arrive in order; when the update beats its
create, the partner ends on the create's data for ever. Caught by
final_state (stale) with an update delivered before its create.
"""

from __future__ import annotations

from types import ModuleType

from workflows.hardened.inbox import InboxEvent
from workflows.hardened.worker import Processor
from workflows.stripe_orders import events


class DroppingProcessor(Processor):
    async def _update(self, event: InboxEvent, change: events.ShipmentChange) -> None:
        if self.inbox.order(change.order_id) is None:
            self.inbox.finish(event.event_id, "processed", "ignored: no shipment for this order")
            return
        await super()._update(event, change)


def install(app: ModuleType) -> None:
    app.Processor = DroppingProcessor  # type: ignore[attr-defined]
