"""The harness as the webhook provider: deliver, sign, redeliver, record.

The sender walks a delivery plan, signs every attempt as the provider would
(fresh timestamp per attempt, the same event id every time), and redelivers on
the provider's retry schedule whenever the workflow does not answer 2xx in
time. Every attempt becomes one journal row the moment it ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from harness.inputs.fixtures import CapturedRequest
from harness.plan.schedule import Plan, PlannedDelivery
from harness.replay.signing import replay_headers


class DeliveryHooks(Protocol):
    """Called before the first attempt of each delivery (toxic windows, the nemesis)."""

    async def before_dispatch(self, position: int) -> None: ...


class _NoHooks:
    async def before_dispatch(self, position: int) -> None:
        return None


# How much of a refusing answer the journal keeps: enough to name the reason.
ANSWER_CHARS = 300


def answer_text(content: bytes) -> str:
    """The start of an answer body as one line of text (it is the workflow's, so untrusted)."""
    text = content[: ANSWER_CHARS * 4].decode("utf-8", errors="replace")
    return " ".join(text.split())[:ANSWER_CHARS]


def trace_id_for(run_id: str, event_id: str) -> str:
    """A W3C trace id that is stable for an event within a run."""
    return hashlib.sha256(f"{run_id}/{event_id}".encode()).hexdigest()[:32]


def attempt_row(
    run_id: str,
    scenario: str,
    event: CapturedRequest,
    number: int,
    scheduled_at: float,
    tags: Sequence[str],
) -> dict[str, Any]:
    """The journal's attempt row for the ``number``-th delivery of ``event``, before its answer:
    one shape for every way an event reaches the workflow (a webhook, a publish)."""
    trace = trace_id_for(run_id, event.event_id)
    return {
        "run_id": run_id,
        "scenario": scenario,
        "delivery_id": f"{event.event_id}#{number}",
        "event_id": event.event_id,
        "event_type": event.event_type,
        "entity_id": event.entity_id,
        "entity_version": event.entity_version,
        "traceparent": f"00-{trace}-{number:016x}-01",
        "attempt": number,
        "scheduled_at": scheduled_at,
        "fault_tags": ",".join(tags),
    }


def classify(status: int | None, error: BaseException | None) -> str:
    """An attempt's error class for the journal: "" for a 2xx,
    else timeout, connect, reset, http_4xx, http_5xx or other."""
    if error is not None:
        if isinstance(error, httpx.TimeoutException):
            return "timeout"
        if isinstance(error, httpx.ConnectError):
            return "connect"
        if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            # A peer that vanishes mid-exchange: reset or closed without an answer.
            return "reset"
        return "other"
    if status is None:
        return "other"
    if 200 <= status < 300:
        return ""
    return "http_4xx" if status < 500 else "http_5xx"


@dataclass
class SendStats:
    """Counts of the provider's side of a replay: attempts, their answers and redeliveries."""

    attempts: int = 0
    in_flight: int = 0
    delivered: int = 0  # attempts answered 2xx
    failed: int = 0  # attempts not answered 2xx (incl. lost in transit)
    redeliveries: int = 0
    gave_up: int = 0  # events the provider stopped retrying
    by_error: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Delivering(Protocol):
    """What delivers a drill's plan (the webhook sender, a source's publisher): run it, count it."""

    stats: SendStats

    async def run(self, t0: float | None = None) -> SendStats: ...


class Sender:
    """Plays the webhook provider: sends the plan's deliveries, signed, and redelivers failed ones.

    At most `concurrency` attempts are in flight; a failed attempt is retried after each wait of
    `retry_schedule_s` in turn, then given up. Every attempt is passed to `record`.
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        path: str,
        events: Sequence[CapturedRequest],
        plan: Plan,
        secret: str,
        retry_schedule_s: Sequence[float],
        concurrency: int,
        run_id: str,
        scenario: str,
        record: Callable[[dict[str, Any]], None],
        hooks: DeliveryHooks | None = None,
        stale_age_s: float = 600.0,
    ) -> None:
        self._client = client
        self._path = path
        self._events = events
        self._plan = plan
        self._secret = secret
        self._retry = list(retry_schedule_s)
        self._concurrency = concurrency
        # Bounds first deliveries and provider retries together.
        self._slots = asyncio.Semaphore(concurrency)
        self._run_id = run_id
        self._scenario = scenario
        self._record = record
        self._hooks = hooks or _NoHooks()
        self._stale_age_s = stale_age_s
        self._attempt_no: dict[str, int] = defaultdict(int)
        self._t0 = 0.0
        self.stats = SendStats()

    def _now(self) -> float:
        return time.monotonic() - self._t0

    async def run(self, t0: float | None = None) -> SendStats:
        """Send the whole plan, redeliveries included; returns when nothing is left."""
        self._t0 = time.monotonic() if t0 is None else t0
        plan = iter(self._plan.deliveries)
        async with asyncio.TaskGroup() as group:
            for _ in range(self._concurrency):
                group.create_task(self._worker(group, plan))
        return self.stats

    async def _worker(self, group: asyncio.TaskGroup, plan: Iterator[PlannedDelivery]) -> None:
        # Workers take planned deliveries in order from one shared iterator, each
        # as soon as it is free: no dispatcher hop between one delivery and the
        # next (that hop cost a quarter of the throughput at four slots).
        for delivery in plan:
            wait = delivery.at_s - self._now()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._deliver(group, delivery, tuple(delivery.tags), 0, first=True)

    async def _deliver(
        self,
        group: asyncio.TaskGroup,
        delivery: PlannedDelivery,
        tags: tuple[str, ...],
        retries_done: int,
        first: bool = False,
    ) -> None:
        async with self._slots:
            if first:
                # Slot first, then the hook: a toxic window for this position must
                # not switch while an earlier delivery still holds the only slot.
                await self._hooks.before_dispatch(delivery.position)
            ok = await self._attempt(delivery, tags)
        if ok or delivery.lost:
            return
        if retries_done >= len(self._retry):
            self.stats.gave_up += 1
            return
        group.create_task(self._redeliver(group, delivery, retries_done))

    async def _redeliver(
        self, group: asyncio.TaskGroup, delivery: PlannedDelivery, retries_done: int
    ) -> None:
        await asyncio.sleep(self._retry[retries_done])
        self.stats.redeliveries += 1
        # A provider retry is honest: a fresh signature, whatever the first one was.
        retry = PlannedDelivery(
            position=delivery.position,
            event_index=delivery.event_index,
            event_id=delivery.event_id,
            at_s=delivery.at_s,
            tags=(),
        )
        await self._deliver(group, retry, ("retry",), retries_done + 1)

    def _headers(self, event: CapturedRequest, stale: bool, span: int) -> dict[str, str]:
        signed_at = time.time() - (self._stale_age_s if stale else 0.0)
        headers = replay_headers(event, self._secret, signed_at)
        for name in [n for n in headers if n.lower() in {"traceparent", "tracestate"}]:
            del headers[name]
        trace = trace_id_for(self._run_id, event.event_id)
        headers["traceparent"] = f"00-{trace}-{span:016x}-01"
        return headers

    async def _attempt(self, delivery: PlannedDelivery, tags: tuple[str, ...]) -> bool:
        event = self._events[delivery.event_index]
        self._attempt_no[event.event_id] += 1
        number = self._attempt_no[event.event_id]
        row = attempt_row(self._run_id, self._scenario, event, number, delivery.at_s, tags)
        self.stats.attempts += 1
        if delivery.lost:
            now = self._now()
            row.update(sent_at=now, finished_at=now, latency_ms=0.0, status=None)
            row["error_class"] = "dropped"
            self.stats.failed += 1
            self.stats.by_error["dropped"] += 1
            self._record(row)
            return False

        headers = self._headers(event, delivery.stale_signature, number)
        status: int | None = None
        answer = ""
        error: BaseException | None = None
        self.stats.in_flight += 1
        sent = self._now()
        try:
            response = await self._client.request(
                event.method or "POST", self._path, content=event.body, headers=headers
            )
            status = response.status_code
            if not response.is_success:
                answer = answer_text(response.content)
        except httpx.HTTPError as exc:
            error = exc
        except asyncio.CancelledError:
            # Stopped mid-answer (the drill's deadline): the attempt was made, so it is recorded.
            stopped = self._now()
            row.update(sent_at=sent, finished_at=stopped, latency_ms=(stopped - sent) * 1000.0)
            self._record({**row, "status": None, "error_class": "unfinished"})
            raise
        finally:
            self.stats.in_flight -= 1
        finished = self._now()
        error_class = classify(status, error)
        row.update(
            sent_at=sent,
            finished_at=finished,
            latency_ms=(finished - sent) * 1000.0,
            status=status,
            error_class=error_class,
            answer=answer,
        )
        self._record(row)
        if error_class:
            self.stats.failed += 1
            self.stats.by_error[error_class] += 1
            return False
        self.stats.delivered += 1
        return True


def expected_rows(
    run_id: str,
    events: Sequence[CapturedRequest],
    never_delivered: frozenset[str],
    effect_for: Mapping[str, str],
) -> list[dict[str, Any]]:
    """One row per distinct event the run is about, with the effect it must cause."""
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.event_id in rows:
            continue
        rows[event.event_id] = {
            "run_id": run_id,
            "event_id": event.event_id,
            "event_type": event.event_type,
            "entity_id": event.entity_id,
            "entity_version": event.entity_version,
            "expected_effect": effect_for.get(event.event_type, ""),
            "dropped": event.event_id in never_delivered,
        }
    return list(rows.values())
