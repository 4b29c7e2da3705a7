"""The hardened consumer: dedupe by event id, effect before ack, dead-letter what cannot be done.

- A message whose event the inbox already holds is acknowledged and skipped:
  a redelivery (lost ack, cut connection) or a duplicate publish ships nothing.
- The partner call carries the event id as its Idempotency-Key, so a call that
  landed but whose answer was lost is not applied twice either.
- The ack goes out only after the inbox records the effect: a crash before it
  means a redelivery, which the inbox answers.
- A message it cannot process is left unacknowledged (nak) for the broker to
  redeliver; on the last delivery the broker allows (``MAX_DELIVER``) it is
  dead-lettered (NATS: published to the DLQ subject and terminated; RabbitMQ:
  rejected, and the queue's dead-letter exchange routes it to the DLQ).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workflows.queue_orders.consumer import Delivery, Handler, Partner
from workflows.queue_orders.inbox import Inbox
from workflows.queue_orders.settings import QueueSettings
from workflows.stripe_orders import events

# A partner's answers that will not change on a retry: the event cannot be done.
FINAL_REFUSALS = frozenset({400, 409, 422})
NAK_DELAY_S = 0.3


def make_handler_for(settings: QueueSettings) -> Callable[[Partner], Handler]:
    """The handler maker, with the inbox in the settings' state folder."""
    inbox = Inbox(settings.state_dir / "inbox.sqlite")

    def make_handler(partner: Partner) -> Handler:
        async def give_up_or_retry(msg: Delivery, why: str) -> None:
            if msg.num_delivered < settings.max_deliver or not settings.dlq:
                # A later delivery may succeed (an update whose create is still on its
                # way): ask for it after a pause that grows with each try.
                await msg.retry(NAK_DELAY_S * msg.num_delivered)
                return
            await msg.dead_letter(why)

        async def handle(msg: Delivery) -> None:
            try:
                envelope = events.parse_envelope(msg.data)
                if envelope.type not in events.HANDLED_TYPES:
                    await msg.ack()
                    return
                change = events.shipment_change(envelope)
            except events.EventError as exc:
                await give_up_or_retry(msg, f"poison: {exc}")
                return
            if inbox.done(envelope.id):
                await msg.ack()  # a redelivery or a duplicate: done already
                return
            applied = inbox.applied_version(change.order_id)
            if envelope.type == events.ORDER_UPDATED and (applied or -1) >= change.version:
                inbox.finish(envelope.id, "superseded")
                await msg.ack()
                return
            status = await _apply(partner, envelope, change, msg)
            if status is not None and 200 <= status < 300:
                inbox.finish(envelope.id, "processed", change.order_id, change.version)
                await msg.ack()
            elif status in FINAL_REFUSALS:
                await give_up_or_retry(msg, f"partner refused with {status}")
            else:
                await give_up_or_retry(msg, f"partner answered {status}")

        return handle

    return make_handler


async def _apply(
    partner: Partner, envelope: events.Envelope, change: events.ShipmentChange, msg: Delivery
) -> int | None:
    if envelope.type == events.PAYMENT_SUCCEEDED:
        body: dict[str, Any] = {
            "order_id": change.order_id,
            "address": change.address,
            "version": change.version,
        }
        return await partner.call("POST", "/v1/shipments", body, msg, key=envelope.id)
    body = {"address": change.address, "version": change.version}
    return await partner.call("PATCH", f"/v1/shipments/{change.order_id}", body, msg)
