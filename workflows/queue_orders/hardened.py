"""The hardened consumer: dedupe by event id, effect before ack, dead-letter what cannot be done.

- A message whose event the inbox already holds is acknowledged and skipped:
  a redelivery (lost ack, cut connection) or a duplicate publish ships nothing.
- The partner call carries the event id as its Idempotency-Key, so a call that
  landed but whose answer was lost is not applied twice either.
- The ack goes out only after the inbox records the effect: a crash before it
  means a redelivery, which the inbox answers.
- A partner that asks for a wait (429 or 503 with Retry-After) gets it: the
  consumer holds the message (telling the broker it is in progress) until
  that time has passed and calls again, a few times; past that it gives the
  message back with a delay of at least the Retry-After. No call goes out
  before the time the partner named, and a rate limit spends none of the
  message's deliveries.
- A message it cannot process is given back (nak) for the broker to
  redeliver; on the last delivery the broker allows (``MAX_DELIVER``) it is
  dead-lettered (NATS: published to the DLQ subject and terminated; RabbitMQ:
  rejected, and the queue's dead-letter exchange routes it to the DLQ).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from workflows.queue_orders.consumer import Delivery, Handler, Partner
from workflows.queue_orders.inbox import Inbox
from workflows.queue_orders.settings import QueueSettings
from workflows.stripe_orders import events

# A partner's answers that will not change on a retry: the event cannot be done.
FINAL_REFUSALS = frozenset({400, 409, 422})
NAK_DELAY_S = 0.3
# Answers that ask the caller to come back later, when they name a time.
WAIT_STATUSES = frozenset({429, 503})
HOLD_TRIES = 4  # calls of one message through a partner's waits before it is given back
# Below the shortest ack_wait a pilot would set: the broker keeps a held message ours.
IN_PROGRESS_EVERY_S = 0.25
# Clocks and timers are not exact: come back a little after the named time, not on it.
WAIT_MARGIN_S = 0.05


def make_handler_for(settings: QueueSettings) -> Callable[[Partner], Handler]:
    """The handler maker, with the inbox in the settings' state folder."""
    inbox = Inbox(settings.state_dir / "inbox.sqlite")
    # One lock per order seen: a reference workflow's drill has a few dozen.
    locks: dict[str, asyncio.Lock] = {}

    def make_handler(partner: Partner) -> Handler:
        async def give_up_or_retry(msg: Delivery, why: str, wait_s: float = 0.0) -> None:
            if msg.num_delivered < settings.max_deliver or not settings.dlq:
                # A later delivery may succeed (an update whose create is still on its
                # way): ask for it after a pause that grows with each try, and never
                # before the time a partner's Retry-After named.
                grown = NAK_DELAY_S * msg.num_delivered
                await msg.retry(max(grown, wait_s + WAIT_MARGIN_S if wait_s else 0.0))
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
            # Messages are handled side by side (a RabbitMQ consumer prefetches
            # several): two versions of one order must not both pass the version
            # check and land in the wrong order. The retry pause is taken outside.
            async with locks.setdefault(change.order_id, asyncio.Lock()):
                failed = await settle(msg, envelope, change)
            if failed is not None:
                await give_up_or_retry(msg, *failed)

        async def settle(
            msg: Delivery, envelope: events.Envelope, change: events.ShipmentChange
        ) -> tuple[str, float] | None:
            """Ack what is done or already done; else why it failed and the wait asked."""
            if inbox.done(envelope.id):
                await msg.ack()  # a redelivery or a duplicate: done already
                return None
            applied = inbox.applied_version(change.order_id)
            if envelope.type == events.ORDER_UPDATED and (applied or -1) >= change.version:
                inbox.finish(envelope.id, "superseded")
                await msg.ack()
                return None
            status, wait_s = await _apply(partner, envelope, change, msg)
            if status is not None and 200 <= status < 300:
                inbox.finish(envelope.id, "processed", change.order_id, change.version)
                await msg.ack()
                return None
            if status in FINAL_REFUSALS:
                return f"partner refused with {status}", 0.0
            return f"partner answered {status}", wait_s

        return handle

    return make_handler


async def _apply(
    partner: Partner, envelope: events.Envelope, change: events.ShipmentChange, msg: Delivery
) -> tuple[int | None, float]:
    """The partner's last answer to the event's call, and the wait it still asks for."""
    if envelope.type == events.PAYMENT_SUCCEEDED:
        body: dict[str, Any] = {
            "order_id": change.order_id,
            "address": change.address,
            "version": change.version,
        }
        return await _call_politely(partner, "POST", "/v1/shipments", body, msg, envelope.id)
    body = {"address": change.address, "version": change.version}
    return await _call_politely(partner, "PATCH", f"/v1/shipments/{change.order_id}", body, msg)


async def _call_politely(
    partner: Partner, method: str, path: str, body: dict[str, Any], msg: Delivery, key: str = ""
) -> tuple[int | None, float]:
    """Call, and while the partner asks for a wait, hold the message that long and call again.

    A rate limit is the partner's, not the message's: waiting in place spends
    none of its deliveries (a nak would, and a throttled burst would end in
    the DLQ). After HOLD_TRIES calls the wait still asked is returned for the nak.
    """
    for tries in range(1, HOLD_TRIES + 1):
        status, wait_s = await partner.answer(method, path, body, msg, key)
        if status not in WAIT_STATUSES or not wait_s or tries == HOLD_TRIES:
            return status, wait_s
        await _hold(msg, wait_s + WAIT_MARGIN_S)
    raise AssertionError("unreachable: the last try returns")


async def _hold(msg: Delivery, wait_s: float) -> None:
    """Wait ``wait_s``, telling the broker the message is in progress so it is not redelivered."""
    until = time.monotonic() + wait_s
    while (left := until - time.monotonic()) > 0:
        # A cut link loses the progress report; the broker then redelivers, which the inbox answers.
        with contextlib.suppress(Exception):
            await msg.in_progress()
        await asyncio.sleep(min(IN_PROGRESS_EVERY_S, left))
