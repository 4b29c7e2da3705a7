"""contacts-sync's HTTP face: verify, store durably, answer 2xx; the worker does the rest.

Answering only after the event is committed means a 2xx is a promise that
survives a crash; answering before any CRM call means the provider never
times out waiting on the CRM, so it never redelivers for that reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import events, verify
from .crm import Backoff, CrmClient
from .settings import ContactsSettings
from .store import Queued, Store
from .worker import Worker

WEBHOOK_PATH = "/webhooks/idp"


def fallback_traceparent(event_id: str) -> str:
    """A traceparent derived from the event id, for webhooks that arrive without one."""
    trace_id = hashlib.sha256(event_id.encode()).hexdigest()[:32]
    return f"00-{trace_id}-{os.urandom(8).hex()}-01"


def _queued(event_id: str, raw: bytes, trace: str) -> Queued:
    user_id: str | None = None
    revision: int | None = None
    problem: str | None = None
    try:
        kind = events.event_type(raw)
        if kind in events.HANDLED_TYPES:
            change = events.user_change(raw)
            user_id, revision = change.user_id, change.revision
    except events.EventError as exc:
        # Kept and dead-lettered rather than refused: the provider would retry it forever.
        kind, problem = "", str(exc)
    return Queued(event_id, kind, raw, trace, "pending", None, user_id, revision, problem)


def create_app(settings: ContactsSettings) -> Starlette:
    holder: dict[str, Store | Worker] = {}

    def store() -> Store:
        value = holder["store"]
        assert isinstance(value, Store)
        return value

    async def webhook(request: Request) -> Response:
        raw = await request.body()
        try:
            signed = verify.verify(
                raw, request.headers, settings.signing_secret, tolerance_s=settings.tolerance_s
            )
        except verify.SignatureError as exc:
            return JSONResponse({"error": f"signature: {exc}"}, 401)
        trace = request.headers.get("traceparent") or fallback_traceparent(signed.message_id)
        accepted = store().accept(_queued(signed.message_id, raw, trace))
        if accepted:
            worker = holder["worker"]
            assert isinstance(worker, Worker)
            worker.notify()
        return JSONResponse({"ok": True, "duplicate": not accepted})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def outcomes(request: Request) -> Response:
        return JSONResponse(store().outcomes())

    async def status(request: Request) -> Response:
        return JSONResponse({"pending": store().pending_count()})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        box = Store(settings.data_dir / "contacts.sqlite3")
        backoff = Backoff(
            max_attempts=settings.max_attempts,
            max_throttled=settings.max_throttled,
            base_s=settings.backoff_base_s,
            cap_s=settings.backoff_cap_s,
        )
        try:
            async with httpx.AsyncClient(
                base_url=settings.crm_base_url, timeout=settings.crm_timeout_s
            ) as http:
                worker = Worker(
                    box,
                    CrmClient(http, backoff, rng=random.Random()),
                    workers=settings.workers,
                    orphan_wait_s=settings.orphan_wait_s,
                )
                holder.update(store=box, worker=worker)
                async with asyncio.TaskGroup() as tg:
                    running = tg.create_task(worker.run())
                    try:
                        yield
                    finally:
                        # Unfinished events stay pending and resume on the next start.
                        running.cancel()
        finally:
            box.close()

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/admin/outcomes", outcomes, methods=["GET"]),
            Route("/admin/status", status, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
