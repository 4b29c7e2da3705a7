"""The ``poll`` source: the lab serves the captured records as a paged API the workflow pulls.

    workflow ──[link "source"]──► source API (loopback, this process) ── Pager (pages, faults)
        ▲                                      │ one attempt row per record served
        └── trigger (POST, N times) ◄── lab    └ the page log (run.json poll.outcomes.pages)

A run is a pass over the listing: fired by the pilot's ``trigger`` (an HTTP
call the workflow answers when its pass is over), or by the workflow's own
schedule, which the lab waits out until ``runs`` passes end. The server is an
asyncio server of this process, opened and closed with the drill (or with a
standing stage, which serves each drill's records and page faults afresh from
``begin_drill``), so nothing outlives it. Each record served on a 2xx page is
one attempt row (a record served twice is two, like a duplicate delivery);
error pages are in the log. Every page request answered in a judged pass is
also a row of the requests table, as a partner's calls are (partner
``source``, its ``page`` set), so the checks judge whether the job waited as
the source asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from harness.inputs.fixtures import CapturedRequest
from harness.inputs.poll import PollSpec
from harness.partner.waits import asked_wait_s
from harness.replay.sender import SendStats
from harness.runtime.http import client as http_client
from harness.runtime.processes import ServiceError
from harness.sources.base import DeliveryContext, OpenContext
from harness.sources.poll_command import run_command, trigger_cwd
from harness.sources.poll_pages import Answer, Pager, Record, pages_needed

HEAD_LIMIT = 16 * 1024  # a GET's request line and headers; more is not a page request
READ_TIMEOUT_S = 5.0  # a client that sends no full request in this time is dropped
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}


def collection(spec: PollSpec, events: Sequence[CapturedRequest]) -> list[Record]:
    """The records the source serves: each event's body, read by the pilot's field names."""
    out = []
    for index, event in enumerate(events):
        where = f"[poll] fixtures: event {event.event_id}"
        try:
            body = json.loads(event.body)
        except ValueError:
            raise ServiceError(f"{where}: the body is not JSON") from None
        if not isinstance(body, dict):
            raise ServiceError(f"{where}: the body is not a JSON object")
        for name in (spec.key, spec.version, spec.updated_at):
            if name not in body:
                raise ServiceError(f"{where}: no field {name!r} ([poll] key/version/updated_at)")
        try:
            version, updated = int(body[spec.version]), float(body[spec.updated_at])
        except (TypeError, ValueError):
            problem = f"{spec.version}/{spec.updated_at} must be numbers"
            raise ServiceError(f"{where}: {problem}") from None
        out.append(Record(index, str(body[spec.key]), version, updated, body))
    return out


def changed_id(event_id: str, version: int) -> str:
    """The event id of a record as it changed at the source during a drill."""
    return f"{event_id}@v{version}"


@dataclass
class PollRun:
    """The source API of one drill: where it listens, the pager, and what it served."""

    spec: PollSpec
    pager: Pager
    events: Sequence[CapturedRequest]
    url: str
    faults_told: list[str]
    pages: list[dict[str, Any]] = field(default_factory=list)
    record: Callable[[dict[str, Any]], None] | None = None
    request: Callable[[dict[str, Any]], None] | None = None  # the requests table's rows
    stats: SendStats = field(default_factory=SendStats)
    run_id: str = ""
    scenario: str = ""
    t0: float = 0.0
    hold_until: float = 0.0  # monotonic time until which the source asked the job to wait
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    run_dir: Path = Path(".")  # a command trigger's output goes here
    trigger_cwd: Path = Path(".")  # where a command trigger runs (checked when the source opens)
    _served: dict[str, int] = field(default_factory=dict)

    link_to = "source"  # the [links.X] to value that reaches it
    meta_key = "poll"  # its part of run.json

    @property
    def upstream(self) -> str:
        return self.url

    def describe(self) -> dict[str, Any]:
        s = self.spec
        return {
            "kind": f"poll/{s.paging}",
            "url": self.url,
            "path": s.path,
            "page_size": s.page_size,
            "records": len(self.pager.records),
            "runs": s.runs,
            "driven_by": s.trigger.describe() if s.trigger else "its own schedule",
            "faults": self.faults_told,
        }

    def deliverer(self, ctx: DeliveryContext) -> Puller:
        """Drives the passes; the rows come from the server as it answers pages."""
        self.record, self.run_id, self.scenario = ctx.record, ctx.run_id, ctx.scenario
        self.request = ctx.request
        # Rows are journaled from now on: their clock starts now too. The drill takes its
        # own origin with no await in between, and Puller.run sets it exactly.
        self.t0, self.hold_until = time.monotonic(), 0.0
        return Puller(self, ctx.workflow_url, ctx.meta, ctx.values)

    async def still_pending(self) -> int:
        """Nothing waits at the source once the runs are over: the drill settles on partners."""
        return 0

    async def outcomes(self, run_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """No outcome rows (a pull has no per-record answer); run.json keeps passes and pages."""
        return [], {"passes": self.pager.passes, "pages": self.pages}

    def expected_versions(self) -> dict[str, dict[str, Any]]:
        """The records changed while served, as events of their own (``<event id>@v<N>``,
        the id their attempt rows carry): each new version must reach the partner as the
        captured one did, and is what the entity should end on."""
        return {
            changed_id(self.events[i].event_id, v): {"of": self.events[i].event_id, "version": v}
            for i, v in self.pager.changed.items()
        }

    async def begin_drill(self, ctx: OpenContext) -> None:
        """Serve the next drill's records with its page faults, from a first pass, and
        forget what was served before (the server and its address stay)."""
        self.pager = _pager(self.spec, ctx)  # before anything is forgotten: it may refuse
        self.events, self.faults_told = ctx.events, ctx.scenario.poll.tell()
        self.pages, self.record, self.request, self.stats = [], None, None, SendStats()
        self.run_id = self.scenario = ""
        self.ended, self.run_dir, self._served = asyncio.Event(), ctx.run_dir, {}

    async def consuming(self) -> bool:
        """A triggered job asks for pages when the lab fires it: nothing to ask the source."""
        return True

    def serve(self, query: dict[str, str]) -> Answer:
        """Answer one page request, and journal it."""
        sent = time.monotonic() - self.t0
        # The drill judges its ``runs`` passes; a schedule that keeps running is answered
        # (an empty listing) and its pages logged, but not journaled as more deliveries.
        judged = self.pager.passes < self.spec.runs
        answer = self.pager.answer(query) if judged else self.pager.after_drill()
        wait = answer.headers.get("Retry-After")
        # Error and slow pages are no attempts (no record reached the workflow); the page
        # log keeps them, with the wait a 429 asked for, as evidence of how the job paged.
        self.pages.append(
            {"at": round(sent, 4), "page": answer.page, "status": answer.status,
             "keys": [r.key for r in answer.served], "fault": answer.fault,
             "retry_after_s": float(wait) if wait else None, "delay_s": answer.delay_s}
        )  # fmt: skip
        # Read as a partner's answer is: only a 429/503 asks the job to wait.
        asked = asked_wait_s(answer.status, answer.headers, time.time())
        if asked is not None:
            # A scheduler fires its next run minutes later, never sooner than the wait:
            # the lab, which fires runs back to back, keeps the same manners (Puller).
            self.hold_until = max(self.hold_until, time.monotonic() + answer.delay_s + asked)
        if judged:
            self._journal_request(answer, sent, asked)
        for served in answer.served if judged and 200 <= answer.status < 300 else []:
            self._journal(served, answer, sent)
        if self.pager.passes >= self.spec.runs:
            self.ended.set()
        return answer

    def _journal_request(self, answer: Answer, sent: float, wait: float | None) -> None:
        """The page request as a row of the requests table, named after the source."""
        if self.request is None:
            return
        reason = "" if 200 <= answer.status < 300 else str(answer.body.get("error", ""))
        self.request(
            {"run_id": self.run_id, "at": sent, "partner": self.link_to, "method": "GET",
             "path": self.spec.path, "status": answer.status,
             # The source answers at once, but a slow page as late as its fault says.
             "duration_ms": round(answer.delay_s * 1000.0, 3), "route": "", "effect": "",
             "business_key": "", "reason": reason, "correlation_id": "",
             "idempotency_key": "", "fault": answer.fault, "retry_after_s": wait,
             "event_id": "", "page": answer.page}
        )  # fmt: skip

    def _journal(self, served: Record, answer: Answer, sent: float) -> None:
        event = self.events[served.index]
        if self.pager.changed.get(served.index) == served.version:
            # The record as it changed at the source is an event of its own.
            event = replace(event, event_id=changed_id(event.event_id, served.version))
        number = self._served[event.event_id] = self._served.get(event.event_id, 0) + 1
        tags = [f"page:{answer.page}", *(["repeat"] if served.key == answer.repeated else [])]
        self.stats.attempts += 1
        self.stats.delivered += 1
        if number > 1:
            self.stats.redeliveries += 1
        if self.record is None:
            return
        self.record(
            {"run_id": self.run_id, "scenario": self.scenario,
             "delivery_id": f"{event.event_id}#{number}", "event_id": event.event_id,
             "event_type": event.event_type, "entity_id": event.entity_id,
             "entity_version": served.version, "traceparent": "", "attempt": number,
             "scheduled_at": sent, "sent_at": sent, "finished_at": sent, "latency_ms": 0.0,
             "status": answer.status, "error_class": "", "fault_tags": ",".join(tags),
             "answer": ""}
        )  # fmt: skip


# ------------------------------------------------------------------ the HTTP server


async def _read_head(reader: asyncio.StreamReader) -> str:
    async with asyncio.timeout(READ_TIMEOUT_S):
        head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > HEAD_LIMIT:
        raise ValueError("request head too long")
    return head.decode("latin-1").split("\r\n", 1)[0]


def _handler(run: PollRun) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                method, target, _ = (await _read_head(reader)).split(" ", 2)
            except (ValueError, TimeoutError, asyncio.IncompleteReadError):
                return  # not a request this source reads (LimitOverrunError is a ValueError)
            url = urlsplit(target)
            if method != "GET" or url.path != run.spec.path:
                answer = Answer(404, {"error": f"no route {method} {url.path}"}, 0)
            else:
                answer = run.serve(dict(parse_qsl(url.query)))
            if answer.delay_s:
                await asyncio.sleep(answer.delay_s)  # the slow page fault: the answer is late
            body = json.dumps(answer.body).encode()
            head = [
                f"HTTP/1.1 {answer.status} {REASONS.get(answer.status, 'Error')}",
                "Content-Type: application/json",
                f"Content-Length: {len(body)}",
                "Connection: close",
                *(f"{k}: {v}" for k, v in answer.headers.items()),
            ]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    return handle


def _pager(spec: PollSpec, ctx: OpenContext) -> Pager:
    """The drill's records and page faults; refused when one pass could not end in bounds."""
    records = collection(spec, ctx.events)
    needed = pages_needed(len(records), spec, ctx.scenario.poll)
    if needed > spec.max_pages:
        # Declared so that one pass would never end within the bound: refused before it starts.
        raise ServiceError(
            f"[poll] max_pages: one pass would take {needed} pages ({len(records)} records at "
            f"page_size {spec.page_size}), past max_pages = {spec.max_pages}"
        )
    return Pager(spec, ctx.scenario.poll, records)


@contextlib.asynccontextmanager
async def open_poll(spec: PollSpec, ctx: OpenContext) -> AsyncIterator[PollRun]:
    """The drill's source API on a free loopback port; closed (connections too) on exit."""
    run = PollRun(spec, _pager(spec, ctx), ctx.events, "", ctx.scenario.poll.tell())
    run.run_dir = ctx.run_dir
    if spec.trigger is not None and spec.trigger.command is not None:
        run.trigger_cwd = trigger_cwd(spec.trigger, ctx.base)  # a bad one stops the drill now
    server = await asyncio.start_server(_handler(run), "127.0.0.1", 0, limit=HEAD_LIMIT)
    port = server.sockets[0].getsockname()[1]
    run.url = f"http://127.0.0.1:{port}"
    try:
        yield run
    finally:
        server.close()
        if hasattr(server, "close_clients"):
            server.close_clients()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await server.wait_closed()


# ------------------------------------------------------------------ driving the runs


@dataclass
class Puller:
    """Drives the drill's passes: fires the trigger N times, or waits out the schedule."""

    source: PollRun
    workflow_url: str
    meta: dict[str, Any]
    values: Mapping[str, str] = field(default_factory=dict)  # placeholders of a command trigger
    stats: SendStats = field(init=False)

    def __post_init__(self) -> None:
        self.stats = self.source.stats

    async def run(self, t0: float | None = None) -> SendStats:
        src, spec = self.source, self.source.spec
        src.t0 = time.monotonic() if t0 is None else t0
        if spec.trigger is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(spec.schedule_timeout_s):
                    await src.ended.wait()
            self.meta["passes"] = src.pager.passes
            return self.stats
        fired = self.meta.setdefault("triggers", [])
        trigger = spec.trigger
        if trigger.command is not None:
            for number in range(1, spec.runs + 1):
                await self._waited_out(number)
                run = await run_command(trigger, src.trigger_cwd, self.values, src.run_dir, number)
                fired.append(run)
        else:
            async with http_client(timeout=trigger.timeout_s) as client:
                for number in range(1, spec.runs + 1):
                    await self._waited_out(number)
                    fired.append(await _fire(client, f"{self.workflow_url}{trigger.http}", number))
        self.meta["passes"] = src.pager.passes
        return self.stats

    async def _waited_out(self, number: int) -> None:
        """Before a run after the first, the rest of any wait the source asked for.

        Runs the lab fires come back to back, where a real schedule's are minutes
        apart: without this, the next run's first page would be blamed as early
        for a wait the previous run (or process) was told of. The wait is the
        pilot's own ``retry_after_s``, so it is bounded by it.
        """
        pause = self.source.hold_until - time.monotonic()
        if number > 1 and pause > 0:
            self.meta.setdefault("waited_before_run_s", {})[str(number)] = round(pause, 3)
            await asyncio.sleep(pause)  # the schedule's gap, not a synchronisation


async def _fire(client: httpx.AsyncClient, url: str, number: int) -> dict[str, Any]:
    """One trigger call; its answer (or why none came) as run.json keeps it."""
    started = time.monotonic()
    try:
        response = await client.post(url)
        status, error = response.status_code, ""
    except httpx.TimeoutException:
        status, error = None, "timeout"
    except httpx.HTTPError as exc:
        status, error = None, type(exc).__name__
    return {"run": number, "status": status, "error": error,
            "took_s": round(time.monotonic() - started, 3)}  # fmt: skip
