"""The CRM client: HubSpot-style contact calls, retried with backoff on 429/5xx and timeouts.

One logical call keeps one Idempotency-Key over all its attempts, so a retry
after a timeout (the CRM may have applied the first try) is safe at a partner
that honours the key. Retry-After is a floor: the client never comes back
sooner than asked.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

Sleep = Callable[[float], Awaitable[None]]

RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
CONTACTS = "/crm/v3/objects/contacts"


@dataclass(frozen=True)
class Backoff:
    max_attempts: int = 8
    max_throttled: int = 30  # 429s and in-flight 409s: they do not spend max_attempts
    base_s: float = 0.1
    cap_s: float = 2.0

    def delay(self, failures: int, rng: random.Random) -> float:
        """Equal jitter: uniform in [c/2, c], c = min(cap, base * 2^(failures-1)).

        Full jitter can draw near-zero waits several times in a row and spend
        the whole budget inside a one-second outage; half the ceiling as a
        floor makes the budget span a known minimum time.
        """
        ceiling = min(self.cap_s, self.base_s * 2 ** max(0, failures - 1))
        return rng.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    attempts: int


class CrmError(Exception):
    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def retry_after_s(response: httpx.Response) -> float | None:
    raw = (response.headers.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))  # integer per RFC 9110; some partners send decimals
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _in_flight(response: httpx.Response) -> bool:
    """A 409 about our own Idempotency-Key resolves by itself; HubSpot's "exists" 409 does not."""
    return response.status_code == 409 and "idempotency" in response.text.lower()


class CrmClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        backoff: Backoff,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.http = http
        self.backoff = backoff
        self.sleep = sleep
        self.rng = rng or random.Random()

    async def create(self, properties: dict[str, Any], key: str, trace: str) -> Answer:
        return await self.call("POST", CONTACTS, {"properties": properties}, key, trace)

    async def update(self, email: str, properties: dict[str, Any], key: str, trace: str) -> Answer:
        path = f"{CONTACTS}/{quote(email, safe='@')}?idProperty=email"
        return await self.call("PATCH", path, {"properties": properties}, key, trace)

    async def call(
        self, method: str, path: str, body: dict[str, Any], key: str, trace: str
    ) -> Answer:
        headers = {"Idempotency-Key": key, "traceparent": trace}
        attempts = spent = throttled = 0
        last = "no attempt made"
        while spent < self.backoff.max_attempts:
            attempts += 1
            wait: float | None = None
            try:
                response = await self.http.request(method, path, json=body, headers=headers)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__} calling {method} {path}"
                spent += 1
            else:
                if response.is_success:
                    return Answer(response.status_code, _json(response), attempts)
                last = f"CRM answered {response.status_code} to {method} {path}"
                throttle = response.status_code == 429 or _in_flight(response)
                if not throttle and response.status_code not in RETRYABLE:
                    raise CrmError(f"{last}: {response.text[:200]}", response.status_code)
                if throttle and throttled < self.backoff.max_throttled:
                    throttled += 1
                else:
                    spent += 1
                wait = retry_after_s(response)
            if spent >= self.backoff.max_attempts:
                break
            delay = self.backoff.delay(attempts, self.rng)
            await self.sleep(delay if wait is None else max(wait, delay))
        raise CrmError(f"gave up after {attempts} attempts: {last}")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
