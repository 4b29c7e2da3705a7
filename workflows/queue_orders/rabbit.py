"""The RabbitMQ (AMQP 0.9.1) adapter: the same handlers, consuming the lab's quorum queue.

A robust connection (aio-pika) reconnects and re-subscribes after a cut, so a
cut link is a pause, as with NATS. Up to ``PREFETCH`` messages at a time, each
acked explicitly: AMQP has no delayed nack, so a message waiting out its retry
pause is held, and with one message at a time it would hold the whole queue.
A quorum queue puts a returned message back at its head, so an update waiting
for its order's create would come back before the create, every time, until
its delivery limit dead-lettered it. The queue counts deliveries
(``x-delivery-count``, 0 on the first) and dead-letters on its own past its
limit; giving a message up early is a reject without requeue, which its
dead-letter exchange routes to the DLQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from workflows.queue_orders.consumer import Handler
from workflows.queue_orders.settings import QueueSettings

log = logging.getLogger("workflows.queue_orders")
# Messages handled at once; aio-pika runs each delivery's callback as its own task.
PREFETCH = 8


@dataclass
class RabbitDelivery:
    """An AMQP delivery as the handlers see it."""

    message: AbstractIncomingMessage

    @property
    def data(self) -> bytes:
        return self.message.body

    @property
    def headers(self) -> Mapping[str, Any]:
        return self.message.headers or {}

    @property
    def num_delivered(self) -> int:
        return int(self.headers.get("x-delivery-count") or 0) + 1

    async def ack(self) -> None:
        await self.message.ack()

    async def retry(self, delay_s: float) -> None:
        # AMQP has no delayed nack: hold it for the pause (the other prefetched ones go on).
        await asyncio.sleep(delay_s)
        await self.message.nack(requeue=True)

    async def in_progress(self) -> None:
        # RabbitMQ keeps an unacknowledged message with its consumer (no ack timer
        # to reset short of the server's consumer_timeout): nothing to say.
        return None

    async def dead_letter(self, why: str) -> None:
        log.warning("dead-lettering %s: %s", self.message.message_id, why)
        await self.message.reject(requeue=False)


@contextlib.asynccontextmanager
async def consuming(settings: QueueSettings, handle: Handler) -> AsyncIterator[None]:
    """Consume ``QUEUE`` while the app runs; a cut connection is reconnected by aio-pika."""
    connection = await aio_pika.connect_robust(settings.broker_url, reconnect_interval=0.2)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        queue = await channel.declare_queue(settings.queue, passive=True)  # the lab's, as declared

        async def on_message(message: AbstractIncomingMessage) -> None:
            try:
                await handle(RabbitDelivery(message))
            except Exception as exc:  # a lost channel mid-handle: the broker redelivers
                log.warning("handling %s failed: %s", message.message_id, exc)

        await queue.consume(on_message)
        yield
    finally:
        with contextlib.suppress(Exception):
            await connection.close()
