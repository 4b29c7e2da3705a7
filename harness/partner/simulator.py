"""The gate every partner request goes through, one step after another:

    count (→ forget keys) → rate limit (429) → burst before effect (5xx)
    → route match (404) → required/types (400) → Idempotency-Key (replay/409/422)
    → needs_entity (404) → effect (entity store + ledger) → burst after effect
    → slow delay → answer (or the answer is lost)

A slow answer applies its effect first and answers late, which is how a
client timeout turns into a duplicate when the client retries without a key.
Effects are applied blindly, with no version check: keeping stale updates
away is the workflow's job. Every request, matched or not, gets one journal line.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import answers, validation
from .entities import Entity, EntityStore
from .faults import Burst, FaultConfig, TokenBucket
from .handed_ids import Handed, HandedIds
from .idempotency import IdempotencyStore, Lookup, StoredResponse, fingerprint, normalise_key
from .jsonl import JsonLines
from .netfaults import ConnectionRegistry, FaultResponse, LostAnswerResponse
from .routing import CompiledRoute, Router
from .selectors import MISSING, parse_selector
from .spec import ResolvedPartner
from .waits import asked_wait_s

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Exchange:
    """One journal line: what was asked and what came of it."""

    at: float
    partner: str
    method: str
    path: str
    query: str
    status: int | None = None  # None: the connection was broken on purpose
    duration_ms: float = 0.0
    route: str | None = None
    effect: str | None = None  # only when applied
    key: str | None = None
    reason: str | None = None
    traceparent: str | None = None
    idempotency_key: str | None = None
    fault: str | None = None  # "forgot_keys", "lost_answer:<how>": what the partner did to it
    # How long the answer asked the caller to wait (Retry-After, RateLimit-Reset), on 429/503.
    retry_after_s: float | None = None
    # The connection ends with this answer (the caller's or our `Connection: close`, HTTP/1.0,
    # a broken connection): a held answer is then a closed one, as the caller sees it.
    closes: bool = False


def _decode(raw: bytes) -> tuple[Any, bool]:
    if not raw.strip():
        return MISSING, True
    try:
        return json.loads(raw), True
    except (json.JSONDecodeError, UnicodeDecodeError):
        return MISSING, False


def _closes(request: Request, response: Response) -> bool:
    """Whether the connection ends after this answer (RFC 9112 section 9.3)."""
    if isinstance(response, FaultResponse):
        return True
    asked = request.headers.get("connection", "").lower()
    said = response.headers.get("connection", "").lower()
    http10 = request.scope.get("http_version") == "1.0" and "keep-alive" not in asked
    return "close" in asked or "close" in said or http10


class Simulator:
    """One partner API: routes, idempotency, entities and faults, answering on one event loop.

    It owns the stores and writes to `ledger` (effects) and `journal` (requests); the caller owns
    and closes those logs. `clock` times faults, `wall` stamps the logs.
    """

    def __init__(
        self,
        partner: ResolvedPartner,
        faults: FaultConfig,
        *,
        ledger: JsonLines,
        journal: JsonLines,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        registry: ConnectionRegistry | None = None,
    ) -> None:
        self.partner = partner
        self.router = Router(partner.routes)
        self.ledger, self.journal = ledger, journal
        self.clock, self.wall = clock, wall
        self.registry = registry
        self.keys = IdempotencyStore(partner.idempotency.ttl_s, clock)
        self.entities = EntityStore()
        self.ids = HandedIds()
        self.faults = faults
        self.bucket: TokenBucket | None = None
        self.request_no = 0
        self.last_request_at: float | None = None
        self.origin = clock()
        self.set_faults(faults)

    # -- admin -----------------------------------------------------------

    def set_faults(self, faults: FaultConfig) -> None:
        """Play `faults` from now on, with their windows counted from now."""
        self.faults = faults
        self.restart_clock()

    def restart_clock(self) -> None:
        """Count fault windows (seconds and request numbers) from now,
        and refill the rate-limit bucket."""
        self.origin = self.clock()
        self.request_no = 0
        rl = self.faults.rate_limit
        self.bucket = TokenBucket(rl.capacity, rl.refill_per_s) if rl else None
        if self.bucket is not None:
            self.bucket.start(self.origin)

    def reset(self) -> None:
        """Forget entities, ids, keys and both logs between scenarios; the faults stay."""
        self.entities.clear()
        self.ids.clear()
        self.keys.clear()
        self.ledger.clear()
        self.journal.clear()
        self.last_request_at = None
        self.restart_clock()

    def state(self) -> dict[str, Any]:
        """What the partner holds, and its request and effect counts, for /__admin/state."""
        return {
            "requests": self.request_no,
            "effects": len(self.ledger.entries),
            "last_request_at": self.last_request_at,
            "entities": self.entities.state(),
            "handed_ids": self.ids.state(),
        }

    # -- the gate --------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        """Answer one request through the gate (faults, validation, idempotency),
        journaling the exchange."""
        started = self.clock()
        self.last_request_at = self.wall()
        x = Exchange(
            at=self.last_request_at,
            partner=self.partner.name,
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            traceparent=request.headers.get("traceparent"),
            # Known before any answer, so a throttled call still says which operation it was.
            idempotency_key=self._idempotency_key(request),
        )
        response = await self._gate(request, x)
        x.status = None if isinstance(response, FaultResponse) else response.status_code
        if x.status is not None:
            x.retry_after_s = asked_wait_s(x.status, response.headers, self.wall())
        x.duration_ms = round((self.clock() - started) * 1000, 3)
        x.closes = _closes(request, response)
        self.journal.append(asdict(x))
        return response

    def _reject(
        self, x: Exchange, status: int, code: str, reason: str, headers: dict[str, str]
    ) -> Response:
        x.reason = reason
        return answers.error(status, code, reason, headers)

    async def _gate(self, request: Request, x: Exchange) -> Response:
        self.request_no += 1
        number = self.request_no
        now = self.clock()
        elapsed = now - self.origin
        delay_s = max(
            (s.delay_ms / 1000 for s in self.faults.slow if s.window.matches(elapsed, number)),
            default=0.0,
        )
        headers = {"X-Sim-Request": str(number)}
        if self.faults.forgets_keys(elapsed, number):
            # A restart or a pruning between an earlier call and this one.
            self.keys.clear()
            x.fault = "forgot_keys"
        if self.bucket is not None:
            allowed = self.bucket.take(now)
            headers.update(self.bucket.headers(now, limited=not allowed))
            if not allowed:
                limited = self._reject(x, 429, "rate_limit", "rate limited", headers)
                return await _late(delay_s, limited)
        burst = next((b for b in self.faults.bursts if b.window.matches(elapsed, number)), None)
        if burst is not None and not burst.after_effect:
            failed = self._reject(
                x, burst.status, "injected_fault", f"injected {burst.status}", headers
            )
            return await _late(delay_s, failed)
        raw = await request.body()
        body, body_is_json = _decode(raw)
        sources: dict[str, Any] = {
            "body": body,
            "query": dict(request.query_params),
            "header": dict(request.headers),
            "method": request.method,
        }
        route = self.router.match(request.method, x.path, x.query, sources)
        if route is None:
            return await _late(
                delay_s, self._reject(x, 404, "not_found", "no route matches", headers)
            )
        x.route = route.spec.label()
        delay_s += route.spec.delay_ms / 1000
        checked = validation.check(route.spec, sources, body_is_json=body_is_json)
        x.key = checked.key
        if checked.problem is not None:
            invalid = self._reject(x, 400, "invalid_request", checked.problem, headers)
            return await _late(delay_s, invalid)
        answer = await self._keyed(
            request, x, route, sources, checked, raw, burst, delay_s, headers
        )
        lost = self.faults.lost_answer(elapsed, number)
        if lost is None or isinstance(answer, FaultResponse):
            return answer
        # The work is done (or replayed); only the answer goes missing.
        x.fault = f"lost_answer:{lost.how}"
        return LostAnswerResponse(lost.how, self.registry)

    def _idempotency_key(self, request: Request) -> str | None:
        header = self.partner.idempotency.header
        if not header or request.method in _SAFE_METHODS:
            return None
        return normalise_key(request.headers.get(header, "")) or None

    async def _keyed(
        self,
        request: Request,
        x: Exchange,
        route: CompiledRoute,
        sources: dict[str, Any],
        checked: validation.Checked,
        raw: bytes,
        burst: Burst | None,
        delay_s: float,
        headers: dict[str, str],
    ) -> Response:
        key = self._idempotency_key(request)
        x.idempotency_key = key
        scope = (request.method, x.path)
        if key is not None:
            lookup, stored = self.keys.begin(
                scope, key, fingerprint(_json_or_none(sources["body"]), raw)
            )
            if lookup is Lookup.MISMATCH:
                reused = self._reject(
                    x, 422, "idempotency_key_reused",
                    "idempotency key reused with another body", headers,
                )  # fmt: skip
                return await _late(delay_s, reused)
            if lookup is Lookup.IN_FLIGHT:
                busy = self._reject(
                    x, 409, "idempotency_key_in_use", "idempotency key in flight", headers
                )
                return await _late(delay_s, busy)
            if lookup is Lookup.REPLAY and stored is not None:
                x.reason = "idempotent replay"
                return await _late(delay_s, answers.from_stored(stored, headers, replayed=True))
        applied: StoredResponse | None = None
        try:
            response, applied = self._apply(x, route, sources, checked, key, burst, headers)
            # The key stays in flight for the whole delay, as on a real server still busy.
            return await _late(delay_s, response)
        finally:
            if key is not None:
                if applied is not None:
                    self.keys.complete(scope, key, applied)
                else:
                    self.keys.abandon(scope, key)

    def _apply(
        self,
        x: Exchange,
        route: CompiledRoute,
        sources: dict[str, Any],
        checked: validation.Checked,
        idempotency_key: str | None,
        burst: Burst | None,
        headers: dict[str, str],
    ) -> tuple[Response, StoredResponse | None]:
        spec = route.spec
        key = checked.key
        if spec.known_id:
            raw = parse_selector(spec.known_id).get(sources)
            handed = self.ids.lookup(spec.id_space, raw)
            if handed is None:
                unknown = f"{spec.known_id} {_shown(raw)}: no such id was handed out"
                return self._reject(x, 404, "not_found", unknown, headers), None
            if key is None:  # the id stands for the entity its create was about
                key = handed.key if handed.key is not None else str(raw)
                x.key = key
        entity: Entity | None = None
        if spec.entity and key is not None:
            entity = self.entities.get(spec.entity, key)
        if spec.needs_entity and entity is None:
            missing = f"{spec.entity} {key} not found"
            return self._reject(x, 404, "not_found", missing, headers), None
        effect_id: str | None = None
        if spec.effect and key is not None:
            entity, effect_id = self.entities.apply(
                spec.entity, key, checked.version, sources["body"],
                new_id=not (spec.needs_entity or spec.known_id),
            )  # fmt: skip
            self._record_effect(x, spec.effect, spec.entity, key, checked.version,
                                idempotency_key, effect_id)  # fmt: skip
        wall = self.wall()
        handed_to = Handed(spec.entity, key)

        def fresh(sample: Any) -> Any:
            return self.ids.hand_out(spec.id_space, sample, handed_to)

        stored = answers.route_answer(
            spec,
            answers.template_sources(sources, entity, effect_id, wall),
            fresh if spec.answer_id and 200 <= spec.status < 300 else None,
        )
        if burst is not None:  # only after-effect bursts get here
            x.reason = f"injected {burst.status} after effect"
            failed = answers.error(burst.status, "injected_fault", "failed after commit", headers)
            return failed, stored
        if spec.fault:
            x.reason = f"fault {spec.fault}"
            return FaultResponse(spec.fault, spec.status, self.registry), stored
        return answers.from_stored(stored, headers), stored

    def _record_effect(
        self,
        x: Exchange,
        effect: str,
        entity: str,
        key: str,
        version: int | None,
        idempotency_key: str | None,
        effect_id: str,
    ) -> None:
        x.effect = effect
        self.ledger.append(
            {
                "at": self.wall(),
                "partner": self.partner.name,
                "route": x.route,
                "effect": effect,
                "entity": entity,
                "key": key,
                "version": version,
                "idempotency_key": idempotency_key,
                "traceparent": x.traceparent,
                "id": effect_id,
            }
        )


async def _late(delay_s: float, response: Response) -> Response:
    if delay_s > 0:
        await asyncio.sleep(delay_s)
    return response


def _shown(value: Any) -> str:
    text = "(none)" if value is MISSING or value is None else str(value)
    return text if len(text) <= 80 else text[:79] + "…"  # request data is hostile: keep it short


def _json_or_none(body: Any) -> Any:
    return None if body is MISSING else body
