"""The ``queue`` source on NATS JetStream: publish the plan, let the broker redeliver, read it back.

    lab ──publish──► stream (JetStream) ──► durable consumer ◄──[link "queue"]── workflow
                          │                      │ acks, redeliveries after ack_wait,
                          └── DLQ stream ◄───────┘ max_deliver; the workflow dead-letters

The lab creates the stream, the DLQ stream and the workflow's durable consumer
from ``[queue]``, publishes each planned delivery (duplicates as distinct
messages: no ``Nats-Msg-Id``, so JetStream's dedupe cannot hide them), and
journals one attempt per publish whose status is the broker's publish ack.
What became of each message is read from the broker itself: the consumer's
ack floor and pending counts, the DLQ stream, and the max-deliveries and
termination advisories the lab listened to during the drill.

On a standing stage the broker, its streams and the consumer stay up across
drills: ``begin_drill`` purges both streams (the durable consumer stays, and
the workflow bound to it; a purge drops whatever it still held pending) and
forgets the last drill's publishes, so outcomes are about this drill's alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from nats.js.errors import NotFoundError

from harness.inputs.fixtures import CapturedRequest
from harness.inputs.queue import QueueSpec
from harness.plan.schedule import Plan, PlannedDelivery
from harness.replay.sender import DeliveryHooks, SendStats, attempt_row
from harness.runtime.processes import ServiceError
from harness.sources.base import DeliveryContext, OpenContext
from harness.sources.nats_server import nats_server

# What the journal's status column holds for a publish the broker acknowledged:
# the checks read 2xx as "delivered", and a stored message is delivered to the queue.
PUBLISH_ACKED = 200
CONNECT_TIMEOUT_S = 2.0
PUBLISH_TIMEOUT_S = 2.0


@dataclass
class QueueRun:
    """The broker of one drill: the lab's own connection (not through a link) and what it saw."""

    spec: QueueSpec
    url: str
    start_s: float | None
    nc: Client
    js: JetStreamContext
    # stream sequence → (event id, body) of every message the lab published.
    published: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    exhausted: set[int] = field(default_factory=set)  # max deliveries reached
    terminated: set[int] = field(default_factory=set)  # the consumer gave it up (term)

    link_to = "queue"  # the [links.X] to value that reaches the broker
    meta_key = "broker"  # its part of run.json

    @property
    def upstream(self) -> str:
        """Where the ``queue`` link points."""
        return self.url

    def describe(self) -> dict[str, Any]:
        """The broker as run.json records it."""
        s = self.spec
        return {
            "kind": f"queue/{s.broker}",
            "url": self.url,
            "started_by_lab": s.url is None,
            "start_s": self.start_s,
            "stream": s.stream,
            "subject": s.subject,
            "durable": s.durable,
            "ack_wait_s": s.ack_wait_s,
            "max_deliver": s.max_deliver,
            "dlq": {"stream": s.dlq_stream, "subject": s.dlq_subject},
        }

    def deliverer(self, ctx: DeliveryContext) -> Publisher:
        """Publishes the plan; the broker, not the lab, redelivers."""
        return Publisher(
            self, ctx.events, ctx.plan, ctx.run_id, ctx.scenario, ctx.record, ctx.hooks
        )

    async def still_pending(self) -> int:
        return await pending(self)

    async def outcomes(self, run_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return await broker_outcomes(self, run_id)

    async def begin_drill(self, ctx: OpenContext) -> None:
        """Empty streams under the same consumer, and nothing remembered of the last drill."""
        for name in (self.spec.stream, self.spec.dlq_stream):
            await self.js.purge_stream(name)
        # Sequence numbers keep growing past a purge: a late advisory about an
        # earlier drill's message names a number this drill never published.
        self.published.clear()
        self.exhausted.clear()
        self.terminated.clear()

    async def consuming(self) -> bool:
        """The workflow has a pull request waiting on its durable consumer."""
        info = await self.js.consumer_info(self.spec.stream, self.spec.durable)
        return bool(info.num_waiting)


@contextlib.asynccontextmanager
async def open_queue(spec: QueueSpec, base: Path, run_dir: Path) -> AsyncIterator[QueueRun]:
    """The drill's broker (started here, or the running one at ``url``), set up from ``spec``."""
    async with contextlib.AsyncExitStack() as stack:
        url, start_s = spec.url, None
        if url is None:
            broker = await stack.enter_async_context(nats_server(spec, base, run_dir))
            url, start_s = broker.url, broker.start_s
        nc = await _connect(url, "url" if spec.url is not None else "server")
        stack.push_async_callback(_close, nc)
        js = nc.jetstream(timeout=PUBLISH_TIMEOUT_S)
        run = QueueRun(spec, url, start_s, nc, js)
        await _declare(run)
        await _listen(run)
        yield run


async def _connect(url: str, key: str) -> Client:
    seen: list[str] = []

    async def remember(exc: Exception) -> None:
        # nats-py reports each failed try here; the last one is the reason people need.
        seen.append(str(exc) or type(exc).__name__)

    try:
        # allow_reconnect=False makes nats-py retry a refused first connect forever;
        # one reconnect try is what makes it give up.
        async with asyncio.timeout(CONNECT_TIMEOUT_S * 2):
            return await nats.connect(
                url,
                connect_timeout=CONNECT_TIMEOUT_S,
                allow_reconnect=True,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.1,
                error_cb=remember,
            )
    except Exception as exc:  # nats-py raises many kinds here; any means "not a NATS server"
        reason = seen[-1] if seen else (str(exc) or type(exc).__name__)
        raise ServiceError(f"[queue] {key}: no NATS server answered at {url} ({reason})") from None


async def _close(nc: Client) -> None:
    with contextlib.suppress(Exception):
        await nc.close()


async def _declare(run: QueueRun) -> None:
    """A fresh stream, DLQ stream and durable consumer: nothing of an earlier drill remains."""
    s, js = run.spec, run.js
    try:
        for name in (s.stream, s.dlq_stream):
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(name)
        await js.add_stream(StreamConfig(name=s.stream, subjects=[s.subject]))
        await js.add_stream(StreamConfig(name=s.dlq_stream, subjects=[s.dlq_subject]))
        config = ConsumerConfig(
            durable_name=s.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=s.ack_wait_s,
            max_deliver=s.max_deliver,
            filter_subject=s.subject,
        )
        await js.add_consumer(s.stream, config)
    except Exception as exc:  # an API error from the server: the declaration is what to fix
        raise ServiceError(f"[queue] stream: the broker refused it: {exc}") from None


async def _listen(run: QueueRun) -> None:
    """Record the broker's advisories about the consumer's messages as they come."""
    s = run.spec
    prefix = "$JS.EVENT.ADVISORY.CONSUMER"

    def into(seqs: set[int]) -> Callable[[Msg], Any]:
        async def handle(msg: Msg) -> None:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                seqs.add(int(json.loads(msg.data)["stream_seq"]))

        return handle

    consumer = f"{s.stream}.{s.durable}"
    await run.nc.subscribe(f"{prefix}.MAX_DELIVERIES.{consumer}", cb=into(run.exhausted))
    await run.nc.subscribe(f"{prefix}.MSG_TERMINATED.{consumer}", cb=into(run.terminated))
    await run.nc.flush()


# ------------------------------------------------------------------ deliver


@dataclass
class Publisher:
    """Publishes a plan in order, each delivery from its planned time; one attempt row each."""

    queue: QueueRun
    events: Sequence[CapturedRequest]
    plan: Plan
    run_id: str
    scenario: str
    record: Callable[[dict[str, Any]], None]
    hooks: DeliveryHooks
    stats: SendStats = field(default_factory=SendStats)
    _numbers: dict[str, int] = field(default_factory=dict)
    _t0: float = 0.0

    async def run(self, t0: float | None = None) -> SendStats:
        """Send the whole plan; the broker, not the lab, redelivers what is not acknowledged."""
        self._t0 = time.monotonic() if t0 is None else t0
        for delivery in self.plan.deliveries:
            wait = delivery.at_s - (time.monotonic() - self._t0)
            if wait > 0:
                await asyncio.sleep(wait)
            await self.hooks.before_dispatch(delivery.position)
            await self._publish(delivery)
        return self.stats

    def _row(self, delivery: PlannedDelivery, event: CapturedRequest) -> dict[str, Any]:
        number = self._numbers[event.event_id] = self._numbers.get(event.event_id, 0) + 1
        return attempt_row(self.run_id, self.scenario, event, number, delivery.at_s, delivery.tags)

    async def _publish(self, delivery: PlannedDelivery) -> None:
        event = self.events[delivery.event_index]
        row = self._row(delivery, event)
        self.stats.attempts += 1
        sent = time.monotonic() - self._t0
        status, error = None, ""
        if delivery.lost:
            error = "dropped"
        else:
            status, error = await self._send(event, row["traceparent"])
        finished = time.monotonic() - self._t0
        row.update(sent_at=sent, finished_at=finished, latency_ms=(finished - sent) * 1000.0)
        row.update(status=status, error_class=error, answer="")
        self.record(row)
        if error:
            self.stats.failed += 1
            self.stats.by_error[error] += 1
        else:
            self.stats.delivered += 1

    async def _send(self, event: CapturedRequest, traceparent: str) -> tuple[int | None, str]:
        """The broker's answer to one publish: (PUBLISH_ACKED, "") or (None, error class)."""
        s = self.queue.spec
        # No Nats-Msg-Id: a duplicate the plan asks for must reach the stream twice.
        headers = {"traceparent": traceparent}
        self.stats.in_flight += 1
        try:
            ack = await self.queue.js.publish(s.subject, event.body, headers=headers)
        except nats.errors.TimeoutError:
            return None, "timeout"
        except Exception:  # the broker refused or the connection failed: recorded, not raised
            return None, "other"
        finally:
            self.stats.in_flight -= 1
        self.queue.published[ack.seq] = (event.event_id, event.body)
        return PUBLISH_ACKED, ""


# ------------------------------------------------------------------ settle and read back


async def pending(run: QueueRun) -> int:
    """Messages the consumer has not finished: not yet delivered, or delivered and not acked."""
    info = await run.js.consumer_info(run.spec.stream, run.spec.durable)
    return int(info.num_pending or 0) + int(info.num_ack_pending or 0)


async def _dead_letters(run: QueueRun) -> list[bytes]:
    """The bodies held by the DLQ stream, in order."""
    info = await run.js.stream_info(run.spec.dlq_stream)
    first, last = int(info.state.first_seq or 0), int(info.state.last_seq or 0)
    bodies = []
    for seq in range(max(first, 1), last + 1):
        with contextlib.suppress(NotFoundError):
            bodies.append((await run.js.get_msg(run.spec.dlq_stream, seq)).data or b"")
    return bodies


async def broker_outcomes(
    run: QueueRun, run_id: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One outcome row per message the broker finished, and the counts run.json keeps.

    A message is ``dead_lettered`` when its body is in the DLQ stream, or when the
    broker stopped delivering it (max deliveries, or the consumer terminated it);
    ``processed`` when acknowledged (at or below the ack floor, or delivered with
    nothing left awaiting an ack). Anything else is still pending at the broker: no
    terminal outcome, so the invariants see it as unaccounted, and run.json names it.
    """
    info = await run.js.consumer_info(run.spec.stream, run.spec.durable)
    floor = int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0
    delivered = int(info.delivered.stream_seq or 0) if info.delivered else 0
    settled = not info.num_ack_pending
    dead = await _dead_letters(run)
    rows, still = [], []
    for seq, (event_id, body) in sorted(run.published.items()):
        if body in dead:
            outcome, detail = "dead_lettered", f"in {run.spec.dlq_stream} (stream seq {seq})"
        elif seq in run.exhausted or seq in run.terminated:
            why = "max deliveries reached" if seq in run.exhausted else "terminated"
            outcome, detail = "dead_lettered", f"{why}, not in the DLQ (stream seq {seq})"
        elif seq <= floor or (settled and seq <= delivered):
            outcome, detail = "processed", f"acknowledged (stream seq {seq})"
        else:
            still.append(event_id)
            continue
        rows.append({"run_id": run_id, "event_id": event_id, "outcome": outcome, "detail": detail})
    counts = {
        "published": len(run.published),
        "acked": sum(r["outcome"] == "processed" for r in rows),
        "dead_lettered": sum(r["outcome"] == "dead_lettered" for r in rows),
        "pending": still,
        "num_pending": int(info.num_pending or 0),
        "num_ack_pending": int(info.num_ack_pending or 0),
        "num_redelivered": int(info.num_redelivered or 0),
        "ack_floor_stream_seq": floor,
        "delivered_stream_seq": delivered,
        "dlq_messages": len(dead),
        "max_deliveries_reached": len(run.exhausted & run.published.keys()),
    }
    return rows, counts
