"""ticket-router's HTTP face: one delivery, handled inline, one helpdesk call.

`opened` creates the ticket, `edited` and `closed` overwrite it by external id.
A failed delivery answers 500 so the sender may try again later; nothing is
kept between deliveries except the debug list of what happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .github import DeliveryError, IssueChange, issue_change, verify
from .settings import RouterSettings

WEBHOOK_PATH = "/github/webhook"
ACTIONS = ("opened", "edited", "closed")
RETRY_PAUSE_S = 0.1


def create_app(settings: RouterSettings) -> Starlette:
    deliveries: list[dict[str, str]] = []
    holder: dict[str, httpx.AsyncClient] = {}

    def record(delivery: str, result: str, why: str) -> None:
        deliveries.append({"delivery": delivery, "result": result, "why": why})

    async def send(method: str, path: str, body: dict[str, Any], trace: str) -> str:
        """'' on success, else why the last try failed."""
        headers = {"traceparent": trace} if trace else {}
        why = ""
        for attempt in range(settings.tries):
            if attempt:
                await asyncio.sleep(RETRY_PAUSE_S)
            try:
                answer = await holder["http"].request(method, path, json=body, headers=headers)
            except httpx.HTTPError as exc:
                why = f"{type(exc).__name__} on {method} {path}"
                continue
            if answer.is_success:
                return ""
            why = f"helpdesk answered {answer.status_code} to {method} {path}"
            if answer.status_code < 500 and answer.status_code != 429:
                break
        return why

    async def apply(change: IssueChange, trace: str) -> str:
        if change.action == "opened":
            return await send("POST", "/api/v2/tickets", {"ticket": change.ticket()}, trace)
        path = f"/api/v2/tickets/external/{quote(change.external_id, safe='')}"
        return await send("PUT", path, {"ticket": change.ticket()}, trace)

    async def webhook(request: Request) -> Response:
        raw = await request.body()
        delivery = request.headers.get("x-github-delivery", "")
        try:
            verify(raw, request.headers.get("x-hub-signature-256"), settings.github_secret)
        except DeliveryError as exc:
            return JSONResponse({"error": str(exc)}, 401)
        kind = request.headers.get("x-github-event", "")
        if kind != "issues":
            record(delivery, "skipped", f"event {kind or '(none)'} is not routed")
            return JSONResponse({"ok": True})
        try:
            change = issue_change(raw)
        except DeliveryError as exc:
            record(delivery, "failed", str(exc))
            return JSONResponse({"error": str(exc)}, 400)
        if change.action not in ACTIONS:
            record(delivery, "skipped", f"action {change.action} is not routed")
            return JSONResponse({"ok": True})
        why = await apply(change, request.headers.get("traceparent", ""))
        if why:
            record(delivery, "failed", why)
            return JSONResponse({"error": why}, 500)
        record(delivery, "ok", f"{change.action} {change.external_id}")
        return JSONResponse({"ok": True})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def debug(request: Request) -> Response:
        return JSONResponse(deliveries)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(
            base_url=settings.helpdesk_url, timeout=settings.helpdesk_timeout_s
        ) as http:
            holder["http"] = http
            yield

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/debug/deliveries", debug, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
