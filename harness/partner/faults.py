"""Fault configuration for the partner simulator, and the live state it drives.

A fault config is plain JSON so the harness can write it into a run's
`run.json` and replay it. Every window is one of three selectors, so time-based
drills and deterministic request-count hunts use the same shapes:

    {"from_s": 1.0, "until_s": 3.0}        seconds since the clock origin
    {"from_request": 5, "count": 3}        /v1 requests number 5, 6 and 7
    {"requests": [2, 9]}                   exactly those request numbers
    {}                                     always

Request numbers count every request to the partner's API (admin `/_sim/`
calls are not counted), whether or not a declared route matched it. The clock
origin and the request counter restart at simulator start, at every
`POST /_sim/faults` and at `POST /_sim/reset`.

Besides throttling and failing, two faults make the partner forget:

    forget_keys   just before handling a request in the window, the partner
                  forgets every idempotency key it stored (a restart or a
                  pruning), so a retry of an earlier call is new to it
    lost_answers  the call is handled (its effect lands in the ledger), then
                  the answer never reaches the caller: the connection is held
                  until the caller gives up ("timeout") or reset ("reset")
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


class FaultConfigError(ValueError):
    """A fault config that cannot be used; the message is one line naming the key."""


@dataclass(frozen=True)
class Window:
    """When a fault applies: a span of seconds since the clock restarted,
    a run of request numbers, a set of them, or always."""

    from_s: float | None = None
    until_s: float | None = None
    from_request: int | None = None
    count: int | None = None
    requests: frozenset[int] = frozenset()
    always: bool = False

    def matches(self, elapsed_s: float, request_no: int) -> bool:
        """Whether the request numbered `request_no` (from 1),
        `elapsed_s` seconds after the clock restarted, falls in the window."""
        if self.always:
            return True
        if self.from_s is not None and self.until_s is not None:
            return self.from_s <= elapsed_s < self.until_s
        if self.from_request is not None and self.count is not None:
            return self.from_request <= request_no < self.from_request + self.count
        return request_no in self.requests

    def to_json(self) -> dict[str, Any]:
        if self.from_s is not None:
            return {"from_s": self.from_s, "until_s": self.until_s}
        if self.from_request is not None:
            return {"from_request": self.from_request, "count": self.count}
        if self.always:
            return {}
        return {"requests": sorted(self.requests)}


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `capacity` requests at once,
    refilled at `refill_per_s`; beyond it the partner answers 429."""

    capacity: int
    refill_per_s: float

    def to_json(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "refill_per_s": self.refill_per_s}


@dataclass(frozen=True)
class Burst:
    """Answer `status` instead of the route's answer while the window is open."""

    status: int
    window: Window
    # The side effect is committed, then the fault status is answered: the
    # client sees a failure for work that happened.
    after_effect: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, **self.window.to_json()}
        if self.after_effect:
            out["after_effect"] = True
        return out


@dataclass(frozen=True)
class Slow:
    """Hold each answer in the window back by `delay_ms` milliseconds before sending it."""

    delay_ms: int
    window: Window

    def to_json(self) -> dict[str, Any]:
        return {"delay_ms": self.delay_ms, **self.window.to_json()}


LOST_ANSWER_MODES = ("timeout", "reset")


@dataclass(frozen=True)
class LostAnswer:
    """Commit the effect, then never deliver the answer: the caller cannot tell it happened."""

    window: Window
    # "timeout": hold the connection until the caller gives up (or hold_s), then
    # close it; "reset": reset it at once. Either way the effect has happened.
    how: str = "timeout"

    def to_json(self) -> dict[str, Any]:
        return {**self.window.to_json(), "how": self.how}


@dataclass(frozen=True)
class FaultConfig:
    """Every fault the partner plays at once; an empty config is a well-behaved partner."""

    rate_limit: RateLimit | None = None
    bursts: tuple[Burst, ...] = ()
    slow: tuple[Slow, ...] = ()
    forget_keys: tuple[Window, ...] = ()
    lost_answers: tuple[LostAnswer, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rate_limit": self.rate_limit.to_json() if self.rate_limit else None,
            "bursts": [b.to_json() for b in self.bursts],
            "slow": [s.to_json() for s in self.slow],
        }
        # Only when set, so configs written before these faults existed read the same.
        if self.forget_keys:
            out["forget_keys"] = [w.to_json() for w in self.forget_keys]
        if self.lost_answers:
            out["lost_answers"] = [a.to_json() for a in self.lost_answers]
        return out

    def forgets_keys(self, elapsed_s: float, request_no: int) -> bool:
        """Whether this request finds the idempotency store wiped (the partner lost its keys)."""
        return any(w.matches(elapsed_s, request_no) for w in self.forget_keys)

    def lost_answer(self, elapsed_s: float, request_no: int) -> LostAnswer | None:
        """The first lost-answer fault whose window holds this request, or None."""
        return next((a for a in self.lost_answers if a.window.matches(elapsed_s, request_no)), None)


_TOP_KEYS = {"rate_limit", "bursts", "slow", "forget_keys", "lost_answers"}
_WINDOW_KEYS = {"from_s", "until_s", "from_request", "count", "requests"}


def _number(where: str, value: Any, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FaultConfigError(f"{where}: must be a number, got {value!r}")
    if value < minimum:
        raise FaultConfigError(f"{where}: must be >= {minimum:g}, got {value!r}")
    return float(value)


def _integer(where: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultConfigError(f"{where}: must be an integer, got {value!r}")
    if value < minimum:
        raise FaultConfigError(f"{where}: must be >= {minimum}, got {value!r}")
    return value


def _object(where: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FaultConfigError(f"{where}: must be an object, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise FaultConfigError(
            f"{where}.{unknown[0]}: unknown key (expected one of {', '.join(sorted(allowed))})"
        )
    return value


def _window(where: str, item: dict[str, Any]) -> Window:
    has_time = "from_s" in item or "until_s" in item
    has_count = "from_request" in item or "count" in item
    has_list = "requests" in item
    if has_time + has_count + has_list > 1:
        raise FaultConfigError(
            f"{where}: give at most one window: from_s+until_s, from_request+count, or requests"
        )
    if not (has_time or has_count or has_list):
        return Window(always=True)
    if has_time:
        for key in ("from_s", "until_s"):
            if key not in item:
                raise FaultConfigError(f"{where}.{key}: missing")
        start = _number(f"{where}.from_s", item["from_s"])
        end = _number(f"{where}.until_s", item["until_s"])
        if end <= start:
            raise FaultConfigError(f"{where}.until_s: must be greater than from_s ({start:g})")
        return Window(from_s=start, until_s=end)
    if has_count:
        for key in ("from_request", "count"):
            if key not in item:
                raise FaultConfigError(f"{where}.{key}: missing")
        return Window(
            from_request=_integer(f"{where}.from_request", item["from_request"], minimum=1),
            count=_integer(f"{where}.count", item["count"], minimum=1),
        )
    raw = item["requests"]
    if not isinstance(raw, list) or not raw:
        raise FaultConfigError(f"{where}.requests: must be a non-empty list of request numbers")
    return Window(
        requests=frozenset(
            _integer(f"{where}.requests[{i}]", n, minimum=1) for i, n in enumerate(raw)
        )
    )


def _list(where: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise FaultConfigError(f"{where}: must be a list, got {type(value).__name__}")
    return value


def parse_faults(raw: Any) -> FaultConfig:
    """Validate a decoded JSON fault config; raises FaultConfigError naming the key."""
    data = _object("faults", raw, _TOP_KEYS)
    rate_limit = None
    if data.get("rate_limit") is not None:
        rl = _object("rate_limit", data["rate_limit"], {"capacity", "refill_per_s"})
        for key in ("capacity", "refill_per_s"):
            if key not in rl:
                raise FaultConfigError(f"rate_limit.{key}: missing")
        refill = _number("rate_limit.refill_per_s", rl["refill_per_s"])
        if refill <= 0:
            raise FaultConfigError(f"rate_limit.refill_per_s: must be > 0, got {refill:g}")
        rate_limit = RateLimit(
            capacity=_integer("rate_limit.capacity", rl["capacity"], minimum=1),
            refill_per_s=refill,
        )
    bursts = []
    for i, item in enumerate(_list("bursts", data.get("bursts", []))):
        where = f"bursts[{i}]"
        b = _object(where, item, _WINDOW_KEYS | {"status", "after_effect"})
        if "status" not in b:
            raise FaultConfigError(f"{where}.status: missing")
        status = _integer(f"{where}.status", b["status"], minimum=400)
        if status > 599:
            raise FaultConfigError(f"{where}.status: must be an HTTP error status, got {status}")
        after = b.get("after_effect", False)
        if not isinstance(after, bool):
            raise FaultConfigError(f"{where}.after_effect: must be true or false, got {after!r}")
        bursts.append(Burst(status=status, window=_window(where, b), after_effect=after))
    slow = []
    for i, item in enumerate(_list("slow", data.get("slow", []))):
        where = f"slow[{i}]"
        s = _object(where, item, _WINDOW_KEYS | {"delay_ms"})
        if "delay_ms" not in s:
            raise FaultConfigError(f"{where}.delay_ms: missing")
        delay = _integer(f"{where}.delay_ms", s["delay_ms"], minimum=0)
        slow.append(Slow(delay_ms=delay, window=_window(where, s)))
    forget = [
        _window(f"forget_keys[{i}]", _object(f"forget_keys[{i}]", item, _WINDOW_KEYS))
        for i, item in enumerate(_list("forget_keys", data.get("forget_keys", [])))
    ]
    lost = []
    for i, item in enumerate(_list("lost_answers", data.get("lost_answers", []))):
        where = f"lost_answers[{i}]"
        a = _object(where, item, _WINDOW_KEYS | {"how"})
        how = a.get("how", "timeout")
        if how not in LOST_ANSWER_MODES:
            raise FaultConfigError(
                f"{where}.how: must be one of {', '.join(LOST_ANSWER_MODES)}, got {how!r}"
            )
        lost.append(LostAnswer(window=_window(where, a), how=how))
    return FaultConfig(
        rate_limit=rate_limit,
        bursts=tuple(bursts),
        slow=tuple(slow),
        forget_keys=tuple(forget),
        lost_answers=tuple(lost),
    )


@dataclass
class TokenBucket:
    """Classic token bucket; `now` is passed in so the caller owns the clock."""

    capacity: int
    refill_per_s: float
    tokens: float = field(init=False)
    updated_at: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.tokens = float(self.capacity)

    def start(self, now: float) -> None:
        """Fill the bucket and count refills from `now` (seconds on the simulator's clock)."""
        self.tokens = float(self.capacity)
        self.updated_at = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(float(self.capacity), self.tokens + elapsed * self.refill_per_s)
        self.updated_at = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one; False means the request is throttled."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def headers(self, now: float, *, limited: bool) -> dict[str, str]:
        """Draft-6 style RateLimit-* headers, plus Retry-After when limited."""
        self._refill(now)
        remaining = math.floor(self.tokens)
        until_full = (self.capacity - self.tokens) / self.refill_per_s
        out = {
            "RateLimit-Limit": str(self.capacity),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(math.ceil(until_full)),
        }
        if limited:
            until_one = (1.0 - self.tokens) / self.refill_per_s
            # RFC 9110 delay-seconds is an integer; rounding down to 0 would
            # invite an immediate retry that is certain to fail again.
            out["Retry-After"] = str(max(1, math.ceil(until_one)))
        return out
