"""The hardened workflow's HTTP face: verify, store durably, answer 200; the worker does the rest.

Answering only after the event is committed to the inbox means a 200 is a
promise the workflow can keep across a crash, and answering before any partner
call means the sender never times out waiting on the partner (so it never
redelivers for that reason).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workflows.stripe_orders import events, signing

from .client import CircuitBreaker, PartnerClient, RetryPolicy
from .inbox import Inbox
from .settings import HardenedSettings
from .worker import Processor


def fallback_traceparent(event_id: str) -> str:
    """A W3C traceparent derived from the event id, for webhooks that arrive without one.

    Deriving the trace id from the event id keeps every partner call of one
    event correlated even across restarts.
    """
    trace_id = hashlib.sha256(event_id.encode()).hexdigest()[:32]
    return f"00-{trace_id}-{os.urandom(8).hex()}-01"


def create_app(settings: HardenedSettings, http: httpx.AsyncClient | None = None) -> Starlette:
    base = settings.base
    holder: dict[str, object] = {}

    def inbox() -> Inbox:
        box = holder["inbox"]
        assert isinstance(box, Inbox)
        return box

    def processor() -> Processor:
        proc = holder["processor"]
        assert isinstance(proc, Processor)
        return proc

    def breaker() -> CircuitBreaker:
        brk = holder["breaker"]
        assert isinstance(brk, CircuitBreaker)
        return brk

    async def webhook(request: Request) -> Response:
        raw = await request.body()
        try:
            signing.verify(raw, request.headers.get("stripe-signature"), base.webhook_secret)
        except signing.SignatureError as exc:
            return JSONResponse({"error": f"signature: {exc}"}, 400)
        try:
            envelope = events.parse_envelope(raw)
        except events.EventError as exc:
            # Without an event id there is nothing to dedupe or dead-letter by.
            return JSONResponse({"error": str(exc)}, 400)
        order_id: str | None = None
        version: int | None = None
        problem: str | None = None
        if envelope.type in events.HANDLED_TYPES:
            try:
                change = events.shipment_change(envelope)
                order_id, version = change.order_id, change.version
            except events.EventError as exc:
                problem = str(exc)
        trace = request.headers.get("traceparent") or fallback_traceparent(envelope.id)
        accepted = inbox().accept(
            event_id=envelope.id,
            event_type=envelope.type,
            payload=raw,
            traceparent=trace,
            order_id=order_id,
            version=version,
            problem=problem,
        )
        if accepted:
            processor().notify()
        return JSONResponse({"ok": True, "duplicate": not accepted})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def read_outcomes(request: Request) -> Response:
        return JSONResponse(inbox().outcomes())

    async def dead_letters(request: Request) -> Response:
        return JSONResponse(inbox().dead_letters())

    async def status(request: Request) -> Response:
        brk = breaker()
        return JSONResponse(
            {
                "pending": inbox().pending_count(),
                "breaker": brk.state,
                "breaker_opened": brk.times_opened,
            }
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        box = Inbox(base.state_dir / "inbox.sqlite3")
        try:
            async with httpx.AsyncClient(
                base_url=base.partner_url, timeout=base.partner_timeout_s
            ) as own:
                brk = CircuitBreaker(
                    threshold=settings.breaker_threshold, cooldown_s=settings.breaker_cooldown_s
                )
                client = PartnerClient(
                    http or own,
                    RetryPolicy(
                        max_attempts=settings.max_attempts,
                        max_throttled=settings.max_throttled,
                        base_s=settings.backoff_base_s,
                        cap_s=settings.backoff_cap_s,
                    ),
                    brk,
                )
                proc = Processor(
                    box,
                    client,
                    workers=settings.workers,
                    orphan_update_timeout_s=settings.orphan_update_timeout_s,
                )
                holder.update(inbox=box, processor=proc, breaker=brk)
                async with asyncio.TaskGroup() as tg:
                    running = tg.create_task(proc.run())
                    try:
                        yield
                    finally:
                        # Work in progress stays `pending` in the inbox and resumes
                        # on the next start with the same idempotency keys.
                        running.cancel()
        finally:
            box.close()

    return Starlette(
        routes=[
            Route("/webhooks/payments", webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/admin/outcomes", read_outcomes, methods=["GET"]),
            Route("/admin/dead-letters", dead_letters, methods=["GET"]),
            Route("/admin/status", status, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
