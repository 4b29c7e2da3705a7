"""The hardened consumer: an inbox and an outbox in PostgreSQL, effect before ack, a DLQ.

Per message, under its order's lock:

1. One transaction takes the event on: nothing to do when the inbox says it
   is done (a redelivery, a duplicate publish) or when it is an update older
   than the order's applied version (recorded as superseded); else its inbox
   row and its outbox row (the partner call, with the event id as
   Idempotency-Key) commit together.
2. The outbox row is sent. On 2xx one transaction marks it sent and records
   the order's version; then the message is acknowledged.
3. A redelivery of an event whose row is not marked sent sends that same row
   again under the same key: an answer lost on the way back, or a database
   link lost between the call and the mark, costs a replayed answer from the
   partner, never a second effect.

No sweep of unsent rows at start-up: a row a killed predecessor left unsent
belongs to a message it never acknowledged, which the broker delivers again
(step 3). A sweep would also send the row of a message the broker has since
dead-lettered, an effect for a dead letter.

- A partner that asks for a wait (429 or 503 with Retry-After) gets it: the
  consumer holds the message (telling the broker it is in progress) until
  that time has passed and calls again, a few times; past that it gives the
  message back with a delay of at least the Retry-After. No call goes out
  before the time the partner named, and a rate limit spends none of the
  message's deliveries.
- A database that fails or hangs (every step bounded by
  ``store.QUERY_TIMEOUT_S``) is a retry, like a partner that does.
- A message it cannot process is given back (nak) for the broker to
  redeliver; on the last delivery the broker allows (``MAX_DELIVER``) it is
  dead-lettered (NATS: published to the DLQ subject and terminated; RabbitMQ:
  rejected, and the queue's dead-letter exchange routes it to the DLQ) and
  its row marked failed. Except when its effect is made and only the mark
  failed: that message is acknowledged, not dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from workflows.queue_orders.consumer import Delivery, Handler, Partner
from workflows.queue_orders.settings import QueueSettings
from workflows.queue_orders.store import Call, Event, Store, StoreError
from workflows.stripe_orders import events

log = logging.getLogger("workflows.queue_orders")
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
    """The handler maker, with the inbox and outbox at the settings' database."""
    store = Store(settings.database_url)
    # One lock per order seen: a reference workflow's drill has a few dozen.
    locks: dict[str, asyncio.Lock] = {}

    def last_delivery(msg: Delivery) -> bool:
        return msg.num_delivered >= settings.max_deliver and settings.dlq

    def make_handler(partner: Partner) -> Handler:
        async def give_up_or_retry(
            msg: Delivery, why: str, wait_s: float = 0.0, event_id: str = ""
        ) -> None:
            if not last_delivery(msg):
                # A later delivery may succeed (an update whose create is still on its
                # way): ask for it after a pause that grows with each try, and never
                # before the time a partner's Retry-After named.
                grown = NAK_DELAY_S * msg.num_delivered
                await msg.retry(max(grown, wait_s + WAIT_MARGIN_S if wait_s else 0.0))
                return
            if event_id:
                # The DLQ is the verdict either way; an unmarked row only lacks the why.
                with contextlib.suppress(StoreError):
                    await store.failed(event_id, why)
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
            event = Event(
                envelope.id, change.order_id, change.version, envelope.type == events.ORDER_UPDATED
            )
            # Messages are handled side by side (a RabbitMQ consumer prefetches
            # several): two versions of one order must not both pass the version
            # check and land in the wrong order. The retry pause is taken outside.
            async with locks.setdefault(change.order_id, asyncio.Lock()):
                failed = await settle(msg, event, _call_for(envelope, change))
            if failed is not None:
                await give_up_or_retry(msg, *failed, event_id=event.id)

        async def settle(msg: Delivery, event: Event, call: Call) -> tuple[str, float] | None:
            """Ack what is done or already done; else why it failed and the wait asked."""
            try:
                row = await store.take(event, call)
            except StoreError as exc:
                return f"database: {exc}", 0.0
            if row is None:
                await msg.ack()  # a redelivery, a duplicate or a superseded update
                return None
            status, wait_s = await _call_politely(partner, row, msg)
            if status in FINAL_REFUSALS:
                return f"partner refused with {status}", 0.0
            if status is None or not 200 <= status < 300:
                return f"partner answered {status}", wait_s
            try:
                await store.sent(event)
            except StoreError as exc:
                if not last_delivery(msg):
                    # The redelivery sends the row again under its key: a replay, not an effect.
                    return f"database: {exc}", 0.0
                log.warning("%s: effect made, not marked sent (%s); acknowledged", event.id, exc)
            await msg.ack()
            return None

        return handle

    return make_handler


def _call_for(envelope: events.Envelope, change: events.ShipmentChange) -> Call:
    """The partner call the event makes, keyed by the event id."""
    if envelope.type == events.PAYMENT_SUCCEEDED:
        body: dict[str, Any] = {
            "order_id": change.order_id,
            "address": change.address,
            "version": change.version,
        }
        return Call("POST", "/v1/shipments", body, envelope.id)
    body = {"address": change.address, "version": change.version}
    return Call("PATCH", f"/v1/shipments/{change.order_id}", body, envelope.id)


async def _call_politely(partner: Partner, call: Call, msg: Delivery) -> tuple[int | None, float]:
    """Call, and while the partner asks for a wait, hold the message that long and call again.

    A rate limit is the partner's, not the message's: waiting in place spends
    none of its deliveries (a nak would, and a throttled burst would end in
    the DLQ). After HOLD_TRIES calls the wait still asked is returned for the nak.
    """
    for tries in range(1, HOLD_TRIES + 1):
        status, wait_s = await partner.answer(call.method, call.path, call.body, msg, call.key)
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
