"""The hardened workflow's partner client: retries with full jitter, Retry-After, a circuit breaker.

It is handed its `httpx.AsyncClient` (and, for tests, its sleep, clock and
random source), so unit tests drive it through respx and drills drive it over
the real network. One logical operation keeps one Idempotency-Key across all
its attempts, which is what makes a retry after a timeout safe.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

# Statuses worth another try with the same key. 409 here means "your key is
# still in flight" and resolves by itself; 429 means "slow down".
RETRYABLE = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
# "Not now" answers: the partner is healthy and asks us to wait. They get their
# own allowance so a rate-limited partner does not dead-letter good events.
THROTTLED = frozenset({409, 429})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_s: float = 0.05
    cap_s: float = 2.0
    # Throttled answers (429, 409 in flight) that do not spend max_attempts.
    max_throttled: int = 32

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(failures-1))]."""
        ceiling = min(self.cap_s, self.base_s * 2 ** max(0, failures - 1))
        return rng.uniform(0.0, ceiling)


@dataclass
class CircuitBreaker:
    """Closed → open after `threshold` consecutive failures → half-open after `cooldown_s`.

    In half-open exactly one caller (the probe) goes through; the others wait
    for its verdict instead of piling onto a partner that may still be down.
    """

    threshold: int = 5
    cooldown_s: float = 1.0
    clock: Clock = time.monotonic
    state: str = "closed"
    failures: int = 0
    opened_at: float = 0.0
    times_opened: int = 0
    _probing: bool = False
    _settled: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._settled.set()

    async def acquire(self, sleep: Sleep) -> bool:
        """Wait until a call may go; True when this caller is the half-open probe."""
        while True:
            if self.state == "closed":
                return False
            if self.state == "open":
                remaining = self.opened_at + self.cooldown_s - self.clock()
                if remaining > 0:
                    await sleep(remaining)
                    continue
                self.state = "half_open"
            if not self._probing:
                self._probing = True
                self._settled.clear()
                return True
            await self._settled.wait()

    def record_success(self, probe: bool) -> None:
        self.failures = 0
        self.state = "closed"
        if probe:
            self._end_probe()

    def record_failure(self, probe: bool) -> None:
        self.failures += 1
        if probe or (self.state == "closed" and self.failures >= self.threshold):
            self.state = "open"
            self.opened_at = self.clock()
            self.times_opened += 1
        if probe:
            self._end_probe()

    def abandon_probe(self) -> None:
        """The probe was cancelled: let the next caller probe instead."""
        if self._probing:
            self.state = "open"
            self.opened_at = self.clock() - self.cooldown_s
            self._end_probe()

    def _end_probe(self) -> None:
        self._probing = False
        self._settled.set()


@dataclass(frozen=True)
class PartnerResult:
    status: int
    body: dict[str, Any]
    attempts: int
    replayed: bool


class PartnerError(Exception):
    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts


class PartnerRejected(PartnerError):
    """A 4xx that another try cannot fix (400, 404, 422, …)."""

    def __init__(self, reason: str, attempts: int, status: int) -> None:
        super().__init__(reason, attempts)
        self.status = status


class PartnerGaveUp(PartnerError):
    """Every allowed attempt failed with a retryable error."""


def retry_after_s(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds the partner asked us to wait: Retry-After first, then RateLimit-Reset on a 429."""
    raw = response.headers.get("retry-after")
    if raw is not None:
        raw = raw.strip()
        try:
            # Integer per RFC 9110; decimals are what Shopify sends, so accept them too.
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    if response.status_code == 429 and response.headers.get("ratelimit-remaining") == "0":
        try:
            return max(0.0, float(response.headers.get("ratelimit-reset", "")))
        except ValueError:
            return None
    return None


class PartnerClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        policy: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.http = http
        self.policy = policy or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.sleep = sleep
        self.rng = rng or random.Random()

    async def create_shipment(
        self,
        *,
        order_id: str,
        address: Any,
        version: int,
        idempotency_key: str,
        traceparent: str,
        attempts_used: int = 0,
        on_attempt: Callable[[int], None] | None = None,
    ) -> PartnerResult:
        body = {"order_id": order_id, "address": address, "version": version}
        return await self.send(
            "POST", "/v1/shipments", body, idempotency_key, traceparent, attempts_used, on_attempt
        )

    async def update_shipment(
        self,
        *,
        order_id: str,
        address: Any,
        version: int,
        idempotency_key: str,
        traceparent: str,
        attempts_used: int = 0,
        on_attempt: Callable[[int], None] | None = None,
    ) -> PartnerResult:
        body = {"address": address, "version": version}
        return await self.send(
            "PATCH",
            f"/v1/shipments/{order_id}",
            body,
            idempotency_key,
            traceparent,
            attempts_used,
            on_attempt,
        )

    async def send(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        idempotency_key: str,
        traceparent: str,
        attempts_used: int = 0,
        on_attempt: Callable[[int], None] | None = None,
    ) -> PartnerResult:
        """One logical operation: attempts until success, a hard rejection, or the budget ends."""
        headers = {"Idempotency-Key": idempotency_key}
        if traceparent:
            headers["traceparent"] = traceparent
        attempt = attempts_used  # every call, reported and persisted
        spent = attempts_used  # calls that count against max_attempts
        throttled = 0
        failures = 0
        last = "no attempt made"
        while spent < self.policy.max_attempts:
            probe = await self.breaker.acquire(self.sleep)
            attempt += 1
            if on_attempt is not None:
                on_attempt(attempt)
            wait: float | None = None
            try:
                response = await self.http.request(method, path, json=body, headers=headers)
            except httpx.TransportError as exc:
                self.breaker.record_failure(probe)
                last = f"{type(exc).__name__} calling {method} {path}"
                spent += 1
            except BaseException:
                if probe:
                    self.breaker.abandon_probe()
                raise
            else:
                if response.status_code >= 500:
                    self.breaker.record_failure(probe)
                else:
                    self.breaker.record_success(probe)
                if response.is_success:
                    return PartnerResult(
                        status=response.status_code,
                        body=_json_object(response),
                        attempts=attempt,
                        replayed=response.headers.get("idempotent-replayed") == "true",
                    )
                last = f"partner answered {response.status_code} to {method} {path}"
                if response.status_code not in RETRYABLE:
                    raise PartnerRejected(
                        f"{last}: {_error_message(response)}", attempt, response.status_code
                    )
                if response.status_code in THROTTLED and throttled < self.policy.max_throttled:
                    throttled += 1
                else:
                    spent += 1
                wait = retry_after_s(response)
            failures += 1
            if spent >= self.policy.max_attempts:
                break
            delay = self.policy.backoff(failures, self.rng)
            # Retry-After is a floor: never come back sooner than asked.
            await self.sleep(delay if wait is None else max(wait, delay))
        note = f" ({throttled} of them throttled)" if throttled else ""
        raise PartnerGaveUp(f"gave up after {attempt} attempts{note}: {last}", attempt)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_message(response: httpx.Response) -> str:
    error = _json_object(response).get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return response.text[:200].replace("\n", " ")
