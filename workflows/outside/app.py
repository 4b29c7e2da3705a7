"""POST /hooks/billing: check the HMAC, book `invoice.paid` at the ledger, answer.

Signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(HOOK_KEY, raw body)>`.
With dedupe on, deliveries of one event id are serialised by a lock, a booked
id is answered without a second booking, and the ledger call carries the
event id as Idempotency-Key (covers a crash between booking and recording).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import Config
from .seen import Booked


def _signature_ok(body: bytes, header: str | None, key: str) -> bool:
    if not header:
        return False
    expected = "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def _entry(event: Any) -> tuple[str, dict[str, Any]]:
    """The event id and ledger entry of an invoice.paid event; ValueError if it has none."""
    try:
        data = event["data"]
        entry = {"invoice": str(data["invoice"]), "amount_cents": int(data["amount_cents"])}
        return str(event["id"]), entry
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"invoice.paid without {exc}") from None


def create_app(config: Config) -> Starlette:
    booked = Booked(config.data_dir)
    locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
    holder: dict[str, httpx.AsyncClient] = {}

    async def book(event_id: str, entry: dict[str, Any]) -> Response:
        headers = {"Idempotency-Key": event_id} if config.dedupe else {}
        try:
            answer = await holder["http"].post("/ledger/entries", json=entry, headers=headers)
        except httpx.HTTPError as exc:
            return JSONResponse({"error": f"ledger unreachable: {type(exc).__name__}"}, 502)
        if not answer.is_success:
            return JSONResponse({"error": f"ledger answered {answer.status_code}"}, 502)
        if config.dedupe:
            booked.add(event_id)
        return JSONResponse({"booked": event_id})

    async def hook(request: Request) -> Response:
        raw = await request.body()
        if not _signature_ok(raw, request.headers.get("x-hub-signature-256"), config.hook_key):
            return JSONResponse({"error": "bad signature"}, 401)
        try:
            event = json.loads(raw)
            if not isinstance(event, dict):
                raise ValueError("not an object")
            if event.get("type") != "invoice.paid":
                return JSONResponse({"ignored": event.get("type")})
            event_id, entry = _entry(event)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        if not config.dedupe:
            return await book(event_id, entry)
        async with locks[event_id]:
            if event_id in booked:
                return JSONResponse({"booked": event_id, "duplicate": True})
            return await book(event_id, entry)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(
            base_url=config.upstream_base, timeout=config.upstream_timeout_s
        ) as http:
            holder["http"] = http
            yield

    return Starlette(routes=[Route("/hooks/billing", hook, methods=["POST"])], lifespan=lifespan)
