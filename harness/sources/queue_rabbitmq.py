"""The ``queue`` source on RabbitMQ (AMQP 0.9.1): publish, let the broker redeliver, read it back.

    lab ──publish (confirmed)──► queue (quorum) ──► consumer ◄──[link "queue"]── workflow
                                   │ redelivers what a cut channel left unacked, or a nack
                                   └─ x-delivery-limit reached, or rejected ──► DLX ──► dlq_queue

The lab declares ``queue`` as a quorum queue and ``dlq_queue`` beside it, each
fresh (deleted first, and deleted after the drill). A quorum queue because it
is the one RabbitMQ queue that counts deliveries: ``x-delivery-limit`` makes
the broker itself dead-letter a message returned ``max_deliver`` times, and
the ``x-delivery-count`` header tells the consumer which delivery it holds,
which is what JetStream's ``max_deliver`` does; a classic queue only says
``redelivered`` (a yes or no) and would loop a poison message forever.

Outcomes come from AMQP alone (no management API): a passive declare gives a
queue's ready count, and the DLQ is read with ``basic.get`` and given back by
closing the channel, so it is not consumed.

On a standing stage the node and both queues stay up across drills, and so
does the workflow's consumer: ``begin_drill`` purges both queues and forgets
the last drill's publishes. A purge takes only ready messages; one the
consumer still held unacknowledged when the last drill settled (AMQP shows no
such count) may come back, but its message id is no publish of this drill and
its salted keys are no entity of this drill, so no outcome or effect counts it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractRobustConnection

from harness.inputs.fixtures import CapturedRequest
from harness.inputs.queue import QueueSpec
from harness.runtime.processes import ServiceError
from harness.sources.base import DeliveryContext, OpenContext
from harness.sources.queue_nats import PUBLISH_ACKED, Publisher
from harness.sources.rabbitmq_server import rabbitmq_server

CONNECT_TIMEOUT_S = 2.0
PUBLISH_TIMEOUT_S = 2.0


@dataclass
class RabbitRun:
    """The node of one drill: the lab's own connection (not through a link), what it published."""

    spec: QueueSpec
    url: str
    start_s: float | None
    connection: AbstractConnection
    channel: AbstractChannel
    # message id → (event id, body) of every message the broker confirmed.
    published: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    link_to = "queue"
    meta_key = "broker"

    @property
    def upstream(self) -> str:
        """Where the ``queue`` link points: the node's address (credentials stay with the pilot)."""
        parts = urlsplit(self.url)
        return f"amqp://{parts.hostname}:{parts.port}"

    def describe(self) -> dict[str, Any]:
        s = self.spec
        return {
            "kind": f"queue/{s.broker}",
            "url": self.upstream,
            "started_by_lab": s.url is None,
            "start_s": self.start_s,
            "queue": s.queue,
            "queue_type": "quorum",
            "max_deliver": s.max_deliver,
            "dlq": {"queue": s.dlq_queue, "via": "x-dead-letter-exchange (default exchange)"},
        }

    def deliverer(self, ctx: DeliveryContext) -> RabbitPublisher:
        return RabbitPublisher(
            self, ctx.events, ctx.plan, ctx.run_id, ctx.scenario, ctx.record, ctx.hooks
        )

    async def still_pending(self) -> int:
        """Messages ready in the queue: a cut consumer's unacked ones come back here."""
        return await ready(self, self.spec.queue)

    async def outcomes(self, run_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return await broker_outcomes(self, run_id)

    async def begin_drill(self, ctx: OpenContext) -> None:
        """Empty queues under the same consumer, and nothing remembered of the last drill."""
        channel = await self.connection.channel()
        try:
            for name in (self.spec.queue, self.spec.dlq_queue):
                queue = await channel.declare_queue(name, passive=True)
                await queue.purge()
        finally:
            with contextlib.suppress(Exception):
                await channel.close()
        self.published.clear()

    async def consuming(self) -> bool:
        """The workflow's consumer is on the work queue (aio-pika re-subscribes after a cut)."""
        channel = await self.connection.channel()
        try:
            queue = await channel.declare_queue(self.spec.queue, passive=True)
            return bool(queue.declaration_result.consumer_count)
        except Exception:  # the queue is gone (deleted by another drill): nothing consumes it
            return False
        finally:
            with contextlib.suppress(Exception):
                await channel.close()


@contextlib.asynccontextmanager
async def open_rabbitmq(spec: QueueSpec, base: Path, run_dir: Path) -> AsyncIterator[RabbitRun]:
    """The drill's node (started here, or the running one at ``url``), its queues fresh."""
    async with contextlib.AsyncExitStack() as stack:
        url, start_s = spec.url, None
        if url is None:
            broker = await stack.enter_async_context(rabbitmq_server(spec, base, run_dir))
            url, start_s = broker.url, broker.start_s
        connection = await _connect(url, "url" if spec.url is not None else "server")
        stack.push_async_callback(_close, connection)
        channel = await connection.channel(publisher_confirms=True)
        run = RabbitRun(spec, url, start_s, connection, channel)
        await _declare(run)
        if spec.url is not None:
            # A node that outlives the drill keeps nothing of it.
            stack.push_async_callback(_delete_queues, run)
        yield run


async def _connect(url: str, key: str) -> AbstractRobustConnection | AbstractConnection:
    try:
        return await aio_pika.connect(url, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:  # refused, not AMQP, bad credentials: all mean "fix the url"
        reason = str(exc) or type(exc).__name__
        raise ServiceError(
            f"[queue] {key}: no RabbitMQ answered at {_shown(url)} ({reason[:200]})"
        ) from None


def _shown(url: str) -> str:
    """The url without its password."""
    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", ":***@") if parts.password else url


async def _close(connection: AbstractConnection) -> None:
    with contextlib.suppress(Exception):
        await connection.close()


async def _declare(run: RabbitRun) -> None:
    """A fresh quorum queue dead-lettering into a fresh DLQ: nothing of an earlier drill remains."""
    s = run.spec
    try:
        await _delete_queues(run)
        await run.channel.declare_queue(s.dlq_queue, durable=True)
        arguments: dict[str, Any] = {
            "x-queue-type": "quorum",
            # RabbitMQ counts returns: a limit of N allows N + 1 deliveries in all.
            "x-delivery-limit": s.max_deliver - 1,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": s.dlq_queue,
        }
        await run.channel.declare_queue(s.queue, durable=True, arguments=arguments)
    except ServiceError:
        raise
    except Exception as exc:  # the broker refused a declaration: the names are what to fix
        raise ServiceError(f"[queue] queue: the broker refused it: {exc}") from None


async def _delete_queues(run: RabbitRun) -> None:
    for name in (run.spec.queue, run.spec.dlq_queue):
        # A fresh channel each: a refused delete closes the channel it was sent on.
        channel = await run.connection.channel()
        with contextlib.suppress(Exception):
            await channel.queue_delete(name)
        with contextlib.suppress(Exception):
            await channel.close()


# ------------------------------------------------------------------ deliver


@dataclass
class RabbitPublisher(Publisher):
    """The NATS publisher's plan and rows; each publish is a confirmed AMQP one."""

    queue: RabbitRun  # type: ignore[assignment]  # the same role, another broker

    async def _send(self, event: CapturedRequest, traceparent: str) -> tuple[int | None, str]:
        s = self.queue.spec
        # A message id of our own per publish: a planned duplicate is a second message.
        message_id = f"{event.event_id}#{self.stats.attempts}"
        message = aio_pika.Message(
            event.body,
            message_id=message_id,
            headers={"traceparent": traceparent},
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        self.stats.in_flight += 1
        try:
            exchange = self.queue.channel.default_exchange
            await exchange.publish(
                message, routing_key=s.queue, mandatory=True, timeout=PUBLISH_TIMEOUT_S
            )
        except TimeoutError:
            return None, "timeout"
        except Exception:  # nacked, unroutable, or the connection failed: recorded, not raised
            return None, "other"
        finally:
            self.stats.in_flight -= 1
        self.queue.published[message_id] = (event.event_id, event.body)
        return PUBLISH_ACKED, ""


# ------------------------------------------------------------------ settle and read back


async def ready(run: RabbitRun, name: str) -> int:
    """A queue's ready messages, from a passive declare (AMQP has no unacked count)."""
    channel = await run.connection.channel()
    try:
        queue = await channel.declare_queue(name, passive=True)
        return int(queue.declaration_result.message_count or 0)
    finally:
        with contextlib.suppress(Exception):
            await channel.close()


async def browse(run: RabbitRun, name: str, limit: int) -> list[str]:
    """The message ids a queue holds, read with basic.get and given back.

    Nothing is acknowledged: closing the channel returns every message read.
    On a quorum queue that return counts as a delivery, so the lab browses the
    work queue only when it still holds messages, at the end of the drill.
    """
    channel = await run.connection.channel()
    ids: list[str] = []
    try:
        queue = await channel.declare_queue(name, passive=True)
        for _ in range(limit):
            message = await queue.get(no_ack=False, fail=False, timeout=PUBLISH_TIMEOUT_S)
            if message is None:
                break
            ids.append(message.message_id or "")
    finally:
        with contextlib.suppress(Exception):
            await channel.close()
    return ids


async def broker_outcomes(
    run: RabbitRun, run_id: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One outcome row per message the broker finished, and the counts run.json keeps.

    ``dead_lettered``: its message id is in the DLQ (the workflow rejected it,
    or the broker's delivery limit sent it there). ``pending``: still ready in
    the work queue (no outcome row: the invariants count it unaccounted).
    ``processed``: gone from both. AMQP shows no unacked count, so a message
    a live consumer holds unacked at the end reads as gone; settling waits
    for the ready count and the partners' quiet, not for those.
    """
    s = run.spec
    limit = len(run.published) + 1
    started = time.monotonic()
    dead = set(await browse(run, s.dlq_queue, limit))
    ready_now = await ready(run, s.queue)
    waiting = set(await browse(run, s.queue, limit)) if ready_now else set()
    rows, still = [], []
    for message_id, (event_id, _) in sorted(run.published.items()):
        if message_id in dead:
            outcome, detail = "dead_lettered", f"in {s.dlq_queue} (message {message_id})"
        elif message_id in waiting:
            still.append(event_id)
            continue
        else:
            outcome, detail = "processed", f"acknowledged (message {message_id})"
        rows.append({"run_id": run_id, "event_id": event_id, "outcome": outcome, "detail": detail})
    counts = {
        "published": len(run.published),
        "acked": sum(r["outcome"] == "processed" for r in rows),
        "dead_lettered": sum(r["outcome"] == "dead_lettered" for r in rows),
        "pending": still,
        "ready": ready_now,
        "dlq_messages": len(dead),
        "read_s": round(time.monotonic() - started, 3),
    }
    return rows, counts
