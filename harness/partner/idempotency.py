"""Idempotency-Key handling the way real payment APIs do it.

State is keyed on (method, path, key) and holds a fingerprint of the request
body plus either "in flight" or the stored response. Only requests that applied
a side effect store a response: validation failures, 404s, 409s, 429s and
injected faults raised before the effect store nothing, so they are safe to
retry with the same key. With a TTL, a completed key older than the TTL is
forgotten and the next request with it runs anew (a partner that prunes keys).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Lookup(Enum):
    """What an idempotency key tells the partner to do with a request."""

    NEW = "new"  # unknown key: caller executes, then completes or abandons it
    IN_FLIGHT = "in_flight"  # 409
    MISMATCH = "mismatch"  # 422
    REPLAY = "replay"  # stored response


@dataclass
class StoredResponse:
    """The answer kept for a key, replayed byte for byte to a retry with the same body."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Entry:
    fingerprint: str
    response: StoredResponse | None  # None while in flight
    completed_at: float = 0.0


def fingerprint(body: Any, raw: bytes = b"") -> str:
    """Of the decoded JSON body when there is one (key sequence is no change), else the bytes."""
    if body is None:
        return hashlib.sha256(raw).hexdigest()
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def normalise_key(raw: str) -> str:
    """Accept both the common bare form and the IETF draft's quoted sf-string form."""
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    return key


class IdempotencyStore:
    """Idempotency keys per scope: the first call runs,
    a retry replays its answer, a changed body is refused.

    Keys expire `ttl_s` seconds after they completed (None: never), on the `clock` given.
    """

    def __init__(
        self, ttl_s: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: dict[tuple[str, str, str], _Entry] = {}
        self.ttl_s = ttl_s
        self._clock = clock

    def begin(
        self, scope: tuple[str, str], key: str, fp: str
    ) -> tuple[Lookup, StoredResponse | None]:
        """Claim `key` for a request with body fingerprint `fp`;
        the stored answer comes back only with REPLAY.

        A NEW claim is the caller's to `complete` or `abandon`; until then a second request with the
        key sees IN_FLIGHT.
        """
        full = (*scope, key)
        entry = self._entries.get(full)
        if entry is not None and self._expired(entry):
            del self._entries[full]
            entry = None
        if entry is None:
            self._entries[full] = _Entry(fingerprint=fp, response=None)
            return Lookup.NEW, None
        if entry.fingerprint != fp:
            return Lookup.MISMATCH, None
        if entry.response is None:
            return Lookup.IN_FLIGHT, None
        return Lookup.REPLAY, entry.response

    def complete(self, scope: tuple[str, str], key: str, response: StoredResponse) -> None:
        """Keep the answer for `key`, so a retry replays it; an unknown key is ignored."""
        entry = self._entries.get((*scope, key))
        if entry is not None:
            entry.response = response
            entry.completed_at = self._clock()

    def abandon(self, scope: tuple[str, str], key: str) -> None:
        """The request ended without a side effect: forget the key so a retry runs anew."""
        entry = self._entries.get((*scope, key))
        if entry is not None and entry.response is None:
            del self._entries[(*scope, key)]

    def _expired(self, entry: _Entry) -> bool:
        # Only completed keys expire: one still in flight is by definition recent.
        if self.ttl_s is None or entry.response is None:
            return False
        return self._clock() - entry.completed_at >= self.ttl_s

    def clear(self) -> None:
        self._entries.clear()
