"""The naive workflow: the way order-sync automations are often first written.

It does the partner call inside the webhook request, retries at once on any
error, and trusts the sender to deliver each event once and in order. Drills
show what that costs: a redelivery or a timed-out-but-applied call makes a
second shipment, and an old update delivered late overwrites a newer one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workflows.service.config import Settings
from workflows.stripe_orders import events, signing

TRIES = 3


def create_app(settings: Settings, client: httpx.AsyncClient | None = None) -> Starlette:
    outcomes: list[dict[str, str]] = []
    holder: dict[str, httpx.AsyncClient] = {}

    async def call_partner(method: str, path: str, body: dict[str, Any], trace: str) -> str:
        headers = {"traceparent": trace} if trace else {}
        last = ""
        for _ in range(TRIES):
            try:
                response = await holder["client"].request(method, path, json=body, headers=headers)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}"
                continue
            if response.is_success:
                return ""
            last = f"partner answered {response.status_code}"
        return last

    async def webhook(request: Request) -> Response:
        raw = await request.body()
        try:
            signing.verify(raw, request.headers.get("stripe-signature"), settings.webhook_secret)
        except signing.SignatureError as exc:
            return JSONResponse({"error": f"signature: {exc}"}, 400)
        try:
            envelope = events.parse_envelope(raw)
            if envelope.type not in events.HANDLED_TYPES:
                outcomes.append(
                    {"event_id": envelope.id, "outcome": "processed", "detail": "ignored type"}
                )
                return JSONResponse({"ok": True})
            change = events.shipment_change(envelope)
        except events.EventError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        trace = request.headers.get("traceparent", "")
        if envelope.type == events.PAYMENT_SUCCEEDED:
            body: dict[str, Any] = {
                "order_id": change.order_id,
                "address": change.address,
                "version": change.version,
            }
            error = await call_partner("POST", "/v1/shipments", body, trace)
            detail = f"shipment created for {change.order_id}"
        else:
            body = {"address": change.address, "version": change.version}
            error = await call_partner("PATCH", f"/v1/shipments/{change.order_id}", body, trace)
            detail = f"shipment {change.order_id} set to version {change.version}"
        if error:
            # The sender will redeliver; nothing is remembered about this try.
            return JSONResponse({"error": f"{error} after {TRIES} tries"}, 500)
        outcomes.append({"event_id": envelope.id, "outcome": "processed", "detail": detail})
        return JSONResponse({"ok": True})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def read_outcomes(request: Request) -> Response:
        return JSONResponse(outcomes)

    async def dead_letters(request: Request) -> Response:
        return JSONResponse([])

    async def status(request: Request) -> Response:
        return JSONResponse({"pending": 0})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if client is not None:
            holder["client"] = client
            yield
            return
        async with httpx.AsyncClient(
            base_url=settings.partner_url, timeout=settings.partner_timeout_s
        ) as own:
            holder["client"] = own
            yield

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
