"""Paid orders become shipments, with an inbox in PostgreSQL, in one of two designs.

naive (``INBOX_MODE=naive``): on a delivery, in one transaction, insert the
inbox row, call the partner, commit. The effect is made before the commit:
if the commit fails the answer is 500, the provider redelivers, the inbox
row is not there, and the partner is called again: a second shipment.

outbox (``INBOX_MODE=outbox``): the inbox row and an outbox row commit
together, the answer is 200, and a dispatcher sends the outbox to the
partner with the event id as Idempotency-Key, marking each row sent. A lost
database connection at any step only means the row is sent again, under the
same key, which the partner answers without a second effect.

Environment: PORT, PARTNER_URL, PARTNER_TIMEOUT_S, WEBHOOK_SECRET, STATE_DIR
(workflows.service.config), DATABASE_URL (postgresql://), INBOX_MODE.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workflows.inbox_db import db
from workflows.service.config import ConfigError, Settings, env_str
from workflows.stripe_orders import events, signing

MODES = ("naive", "outbox")
# How long the dispatcher waits after a failed round before the next (its backoff).
RETRY_S = 0.2


@dataclass(frozen=True)
class InboxSettings(Settings):
    database_url: str = ""
    mode: str = "naive"

    @classmethod
    def from_env(cls) -> InboxSettings:
        base = Settings.from_env()
        url = env_str("DATABASE_URL")
        if not url.startswith(("postgresql://", "postgres://")):
            # Never the value: it may hold a password.
            raise ConfigError("DATABASE_URL: must start with postgresql://")
        mode = env_str("INBOX_MODE", "naive")
        if mode not in MODES:
            raise ConfigError(f"INBOX_MODE: must be one of {', '.join(MODES)}, got {mode!r}")
        return cls(**vars(base), database_url=url, mode=mode)


def _shipment(envelope: events.Envelope) -> dict[str, Any]:
    change = events.shipment_change(envelope)
    return {"order_id": change.order_id, "address": change.address, "version": change.version}


def _failed(what: str, exc: BaseException) -> Response:
    return JSONResponse({"error": f"{what}: {type(exc).__name__}"}, 500)


class Inbox:
    """The two designs over one database and one partner client."""

    def __init__(self, settings: InboxSettings) -> None:
        self.settings = settings
        self.client: httpx.AsyncClient | None = None
        self.wake = asyncio.Event()

    async def post(self, body: dict[str, Any], trace: str, key: str | None) -> httpx.Response:
        assert self.client is not None
        headers = {"traceparent": trace} if trace else {}
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post("/v1/shipments", json=body, headers=headers)

    async def naive(self, event_id: str, body: dict[str, Any], trace: str) -> Response:
        try:
            async with db.transaction(self.settings.database_url) as connection:
                if not await db.claim(connection, event_id):
                    return JSONResponse({"ok": True, "duplicate": True})
                try:
                    answer = await self.post(body, trace, key=None)
                except httpx.HTTPError as exc:
                    return _failed("partner", exc)
                if not answer.is_success:
                    return JSONResponse({"error": f"partner answered {answer.status_code}"}, 500)
                await db.commit(connection)
        except (psycopg.Error, TimeoutError) as exc:
            # The shipment exists; the inbox row does not. A redelivery ships again.
            return _failed("database", exc)
        return JSONResponse({"ok": True})

    async def outbox(self, event_id: str, body: dict[str, Any], trace: str) -> Response:
        try:
            async with db.transaction(self.settings.database_url) as connection:
                if await db.claim(connection, event_id):
                    await db.enqueue(connection, event_id, body, trace)
                await db.commit(connection)
        except (psycopg.Error, TimeoutError) as exc:
            return _failed("database", exc)
        self.wake.set()
        return JSONResponse({"ok": True})

    async def dispatch(self) -> None:
        """Send every unsent outbox row; any failure leaves the rest for the next round."""
        async with db.transaction(self.settings.database_url) as connection:
            for event_id, body, trace in await db.unsent(connection):
                answer = await self.post(body, trace, key=event_id)
                if answer.status_code == 429 or answer.status_code >= 500:
                    raise RuntimeError(f"partner answered {answer.status_code}")
                failure = None if answer.is_success else f"partner refused: {answer.status_code}"
                await db.mark_sent(connection, event_id, failure)

    async def dispatcher(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            try:
                await self.dispatch()
            except (psycopg.Error, httpx.HTTPError, TimeoutError, RuntimeError) as exc:
                print(f"inbox_db: outbox round failed ({type(exc).__name__}); retrying", flush=True)
                await asyncio.sleep(RETRY_S)
                self.wake.set()


def create_app(settings: InboxSettings) -> Starlette:
    inbox = Inbox(settings)
    handle = inbox.naive if settings.mode == "naive" else inbox.outbox

    async def webhook(request: Request) -> Response:
        raw = await request.body()
        try:
            signing.verify(raw, request.headers.get("stripe-signature"), settings.webhook_secret)
        except signing.SignatureError as exc:
            return JSONResponse({"error": f"signature: {exc}"}, 400)
        try:
            envelope = events.parse_envelope(raw)
            if envelope.type != events.PAYMENT_SUCCEEDED:
                return JSONResponse({"ok": True, "ignored": envelope.type})
            body = _shipment(envelope)
        except events.EventError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return await handle(envelope.id, body, request.headers.get("traceparent", ""))

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def status(request: Request) -> Response:
        if settings.mode == "naive":
            return JSONResponse({"pending": 0})
        try:
            pending = await db.count(settings.database_url, "outbox", "sent_at IS NULL")
        except (psycopg.Error, TimeoutError):
            # Not JSON on purpose: the lab reads it as "no usable answer", not "none pending".
            return Response("database unreachable", 503)
        return JSONResponse({"pending": pending})

    async def inbox_size(request: Request) -> Response:
        try:
            return JSONResponse({"inbox": await db.count(settings.database_url, "inbox")})
        except (psycopg.Error, TimeoutError):
            return JSONResponse({"error": "database unreachable"}, 503)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.create_schema(settings.database_url)
        async with httpx.AsyncClient(
            base_url=settings.partner_url, timeout=settings.partner_timeout_s
        ) as client:
            inbox.client = client
            # Rows a killed predecessor left unsent go out first.
            inbox.wake.set()
            task = asyncio.create_task(inbox.dispatcher()) if settings.mode == "outbox" else None
            try:
                yield
            finally:
                if task is not None:
                    task.cancel()

    return Starlette(
        routes=[
            Route("/webhooks/payments", webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/admin/status", status, methods=["GET"]),
            Route("/admin/inbox", inbox_size, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
