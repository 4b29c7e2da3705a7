"""The partner simulator as an ASGI app: the declared API plus `/_sim/*` admin endpoints.

Admin requests are neither counted nor journaled; every other path goes
through the simulator's gate (see simulator.py), matched or not.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import FaultConfig, FaultConfigError, parse_faults
from .jsonl import JsonLines
from .netfaults import ConnectionRegistry
from .simulator import Simulator
from .spec import ResolvedPartner

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _admin_routes(sim: Simulator) -> list[Route]:
    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "partner": sim.partner.name, "requests": sim.request_no})

    async def read_ledger(request: Request) -> Response:
        return JSONResponse(sim.ledger.entries)

    async def read_requests(request: Request) -> Response:
        return JSONResponse(sim.journal.entries)

    async def read_state(request: Request) -> Response:
        return JSONResponse(sim.state())

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

    return [
        Route("/_sim/health", health, methods=["GET"]),
        Route("/_sim/ledger", read_ledger, methods=["GET"]),
        Route("/_sim/requests", read_requests, methods=["GET"]),
        Route("/_sim/state", read_state, methods=["GET"]),
        Route("/_sim/faults", read_faults, methods=["GET"]),
        Route("/_sim/faults", replace_faults, methods=["POST"]),
        Route("/_sim/reset", reset, methods=["POST"]),
    ]


def create_app(
    partner: ResolvedPartner | Mapping[str, Any],
    *,
    faults: FaultConfig | None = None,
    ledger_path: Path | None = None,
    requests_path: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
    registry: ConnectionRegistry | None = None,
) -> Starlette:
    """The app for one resolved declaration; `faults` replaces the declaration's own."""
    spec = (
        partner if isinstance(partner, ResolvedPartner) else ResolvedPartner.model_validate(partner)
    )
    ledger, journal = JsonLines(ledger_path), JsonLines(requests_path)
    sim = Simulator(
        spec,
        faults if faults is not None else parse_faults(spec.faults),
        ledger=ledger,
        journal=journal,
        clock=clock,
        registry=registry,
    )

    async def declared(request: Request) -> Response:
        return await sim.handle(request)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sim.restart_clock()
        try:
            yield
        finally:
            ledger.close()
            journal.close()

    routes = [*_admin_routes(sim), Route("/{rest:path}", declared, methods=_ALL_METHODS)]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.simulator = sim
    return app
