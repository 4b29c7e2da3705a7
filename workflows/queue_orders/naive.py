"""The naive consumer: acknowledge on receipt, then call the partner once. No inbox.

Its defect is the classic one for a queue: it trusts each message to arrive
once. When its connection is cut, the acks it sent are lost with it, the
broker redelivers after ``ack_wait``, and it ships the parcel again (the
duplicate the ``exactly_once`` check catches). Acking first also means a
crash between the ack and the partner call loses the event for good.
"""

from __future__ import annotations

from typing import Any

from workflows.queue_orders.consumer import Delivery, Handler, Partner
from workflows.stripe_orders import events


def make_handler(partner: Partner) -> Handler:
    async def handle(msg: Delivery) -> None:
        await msg.ack()  # "we have it": the broker forgets it (if the ack arrives)
        try:
            envelope = events.parse_envelope(msg.data)
            if envelope.type not in events.HANDLED_TYPES:
                return
            change = events.shipment_change(envelope)
        except events.EventError:
            return  # a poison message: acked above, so simply gone
        if envelope.type == events.PAYMENT_SUCCEEDED:
            body: dict[str, Any] = {
                "order_id": change.order_id,
                "address": change.address,
                "version": change.version,
            }
            await partner.call("POST", "/v1/shipments", body, msg)
        else:
            body = {"address": change.address, "version": change.version}
            await partner.call("PATCH", f"/v1/shipments/{change.order_id}", body, msg)

    return handle
