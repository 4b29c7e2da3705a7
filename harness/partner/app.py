"""The partner simulator's HTTP API: a shipments service with faults you can dial.

Every /v1 request goes through the same gate, in this order:

    count it → rate limit (429) → injected burst (5xx) → validate →
    Idempotency-Key → apply effect (ledger) → slow delay → answer

A slow response therefore applies its effect first and answers late, which is
how a client timeout turns into a duplicate when the client retries without a
key. The partner applies updates blindly, with no version check: keeping stale
updates away is the workflow's job.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import FaultConfig, FaultConfigError, TokenBucket, parse_faults
from .idempotency import IdempotencyStore, Lookup, StoredResponse, fingerprint, normalise_key
from .ledger import Ledger


@dataclass
class Order:
    shipment_ids: list[str] = field(default_factory=list)
    version: int = 0
    address: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "shipments": len(self.shipment_ids),
            "shipment_ids": list(self.shipment_ids),
            "version": self.version,
            "address": self.address,
        }


class BadRequest(Exception):
    """Request body fails validation; nothing is applied and no key is stored."""


def _error(status: int, code: str, message: str, headers: dict[str, str]) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


def _text_field(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{key}: must be a non-empty string, got {value!r}")
    return value


def _address(body: dict[str, Any]) -> Any:
    if "address" not in body:
        raise BadRequest("address: missing")
    value = body["address"]
    if not isinstance(value, str | dict):
        raise BadRequest(f"address: must be a string or an object, got {type(value).__name__}")
    return value


def _version(body: dict[str, Any]) -> int:
    value = body.get("version")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"version: must be a non-negative integer, got {value!r}")
    return value


class Simulator:
    def __init__(self, faults: FaultConfig, ledger: Ledger) -> None:
        self.ledger = ledger
        self.keys = IdempotencyStore()
        self.orders: dict[str, Order] = {}
        self.faults = faults
        self.bucket: TokenBucket | None = None
        self.request_no = 0
        self.origin = time.monotonic()
        self._shipment_seq = 0
        self.set_faults(faults)

    def set_faults(self, faults: FaultConfig) -> None:
        self.faults = faults
        self.restart_clock()

    def restart_clock(self) -> None:
        self.origin = time.monotonic()
        self.request_no = 0
        rl = self.faults.rate_limit
        self.bucket = TokenBucket(rl.capacity, rl.refill_per_s) if rl else None
        if self.bucket is not None:
            self.bucket.start(self.origin)

    def reset(self) -> None:
        self.orders.clear()
        self.keys.clear()
        self.ledger.clear()
        self._shipment_seq = 0
        self.restart_clock()

    # -- effects ---------------------------------------------------------

    def create(self, body: dict[str, Any], key: str, trace: str) -> tuple[int, dict[str, Any]]:
        order_id = _text_field(body, "order_id")
        address = _address(body)
        version = _version(body)
        self._shipment_seq += 1
        shipment_id = f"shp_{self._shipment_seq:06d}"
        order = self.orders.setdefault(order_id, Order())
        order.shipment_ids.append(shipment_id)
        order.version = version
        order.address = address
        self.ledger.append(
            kind="shipment.created",
            business_key=order_id,
            entity_version=version,
            idempotency_key=key,
            correlation_id=trace,
            shipment_id=shipment_id,
        )
        return 201, {"id": shipment_id, "order_id": order_id, "version": version}

    def update(
        self, order_id: str, body: dict[str, Any], key: str, trace: str
    ) -> tuple[int, dict[str, Any]] | None:
        address = _address(body)
        version = _version(body)
        order = self.orders.get(order_id)
        if order is None or not order.shipment_ids:
            return None
        order.version = version
        order.address = address
        shipment_id = order.shipment_ids[-1]
        self.ledger.append(
            kind="shipment.updated",
            business_key=order_id,
            entity_version=version,
            idempotency_key=key,
            correlation_id=trace,
            shipment_id=shipment_id,
        )
        return 200, {"id": shipment_id, "order_id": order_id, "version": version}

    # -- the /v1 gate ----------------------------------------------------

    async def handle(self, request: Request, op: str) -> Response:
        self.request_no += 1
        number = self.request_no
        now = time.monotonic()
        elapsed = now - self.origin
        delay_s = max(
            (s.delay_ms / 1000 for s in self.faults.slow if s.window.matches(elapsed, number)),
            default=0.0,
        )
        headers = {"X-Sim-Request": str(number)}
        response: Response
        if self.bucket is not None:
            allowed = self.bucket.take(now)
            headers.update(self.bucket.headers(now, limited=not allowed))
            if not allowed:
                response = _error(429, "rate_limit", "too many requests", headers)
                return await self._late(delay_s, response)
        burst = next((b for b in self.faults.bursts if b.window.matches(elapsed, number)), None)
        if burst is not None and not burst.after_effect:
            response = _error(burst.status, "injected_fault", "injected failure", headers)
            return await self._late(delay_s, response)
        if op == "get":
            order = self.orders.get(request.path_params["order_id"])
            if order is None or not order.shipment_ids:
                return await self._late(delay_s, _error(404, "not_found", "no shipment", headers))
            return await self._late(delay_s, JSONResponse(order.to_json(), headers=headers))
        return await self._mutate(request, op, headers, delay_s, burst.status if burst else None)

    async def _mutate(
        self,
        request: Request,
        op: str,
        headers: dict[str, str],
        delay_s: float,
        fault_status: int | None,
    ) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return await self._late(
                delay_s, _error(400, "invalid_json", f"body is not JSON: {exc}", headers)
            )
        if not isinstance(body, dict):
            return await self._late(
                delay_s, _error(400, "invalid_body", "body must be a JSON object", headers)
            )
        key = normalise_key(request.headers.get("idempotency-key", ""))
        trace = request.headers.get("traceparent", "")
        scope = (request.method, request.url.path)
        if key:
            lookup, stored = self.keys.begin(scope, key, fingerprint(body))
            if lookup is Lookup.MISMATCH:
                return await self._late(
                    delay_s,
                    _error(
                        422,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used with a different body",
                        headers,
                    ),
                )
            if lookup is Lookup.IN_FLIGHT:
                return await self._late(
                    delay_s,
                    _error(
                        409,
                        "idempotency_key_in_use",
                        "a request with this Idempotency-Key is still in flight",
                        headers,
                    ),
                )
            if lookup is Lookup.REPLAY and stored is not None:
                replay = Response(
                    stored.body,
                    stored.status,
                    headers={**headers, "Idempotent-Replayed": "true"},
                    media_type="application/json",
                )
                return await self._late(delay_s, replay)
        applied: StoredResponse | None = None
        try:
            result: tuple[int, dict[str, Any]] | None
            try:
                if op == "create":
                    result = self.create(body, key, trace)
                else:
                    result = self.update(request.path_params["order_id"], body, key, trace)
            except BadRequest as exc:
                return await self._late(delay_s, _error(400, "invalid_request", str(exc), headers))
            if result is None:
                return await self._late(delay_s, _error(404, "not_found", "no shipment", headers))
            status, payload = result
            response = JSONResponse(payload, status, headers=headers)
            applied = StoredResponse(status, bytes(response.body))
            if fault_status is not None:
                # The effect is committed but the client is told it failed.
                response = _error(fault_status, "injected_fault", "failed after commit", headers)
            # The key stays in flight for the whole delay, as it would on a
            # real server still busy with the request.
            return await self._late(delay_s, response)
        finally:
            if key:
                if applied is not None:
                    self.keys.complete(scope, key, applied)
                else:
                    self.keys.abandon(scope, key)

    @staticmethod
    async def _late(delay_s: float, response: Response) -> Response:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        return response


def create_app(faults: FaultConfig | None = None, ledger_path: Path | None = None) -> Starlette:
    ledger = Ledger(ledger_path)
    sim = Simulator(faults or FaultConfig(), ledger)

    async def create_shipment(request: Request) -> Response:
        return await sim.handle(request, "create")

    async def update_shipment(request: Request) -> Response:
        return await sim.handle(request, "update")

    async def get_shipment(request: Request) -> Response:
        return await sim.handle(request, "get")

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "requests": sim.request_no})

    async def read_ledger(request: Request) -> Response:
        return JSONResponse(sim.ledger.entries)

    async def read_state(request: Request) -> Response:
        return JSONResponse(
            {
                "orders": {oid: o.to_json() for oid, o in sim.orders.items()},
                "requests": sim.request_no,
            }
        )

    async def read_faults(request: Request) -> Response:
        return JSONResponse(sim.faults.to_json())

    async def replace_faults(request: Request) -> Response:
        raw = await request.body()
        try:
            decoded = json.loads(raw) if raw.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return JSONResponse({"error": f"faults: body is not valid JSON: {exc}"}, 400)
        try:
            parsed = parse_faults(decoded)
        except FaultConfigError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        sim.set_faults(parsed)
        return JSONResponse(parsed.to_json())

    async def reset(request: Request) -> Response:
        sim.reset()
        return JSONResponse({"ok": True})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sim.restart_clock()
        try:
            yield
        finally:
            ledger.close()

    routes = [
        Route("/v1/shipments", create_shipment, methods=["POST"]),
        Route("/v1/shipments/{order_id}", update_shipment, methods=["PATCH"]),
        Route("/v1/shipments/{order_id}", get_shipment, methods=["GET"]),
        Route("/_sim/health", health, methods=["GET"]),
        Route("/_sim/ledger", read_ledger, methods=["GET"]),
        Route("/_sim/state", read_state, methods=["GET"]),
        Route("/_sim/faults", read_faults, methods=["GET"]),
        Route("/_sim/faults", replace_faults, methods=["POST"]),
        Route("/_sim/reset", reset, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.simulator = sim
    return app
