"""How a workflow treats its partners: invariants over the partners' request journal.

    retry_after_honoured  after a 429/503 that named a time (Retry-After, RateLimit
                          reset), no call of the same operation before that time
    call_budget           partner calls per effect the run called for, within budget

Like the other checks, pure functions over the run's tables (``requests`` and
``expected`` shaped as ``harness.journal.columns``): no socket, no file.

A call's operation is what the caller is retrying: the event it works for
(the forwarded trace id) and the method and path, else its idempotency key,
else the method and path alone. With ``scope = "partner"`` every call to the
partner counts, for partners whose limit is one bucket for everyone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from harness.checks.result import MAX_EXAMPLES, InvariantResult
from harness.checks.settings import CheckSettings
from harness.checks.tables import RunTables

__all__ = [
    "DEFAULT_MAX_CALLS_PER_EFFECT",
    "Politeness",
    "call_budget",
    "check_call_budget",
    "check_retry_after_honoured",
    "retry_after_honoured",
]

# A workflow that retries a failing call up to about eight times with backoff
# stays under it even when the partner is down for the whole run and a drill
# sends a single event; a loop that retries at once until some cap does not.
DEFAULT_MAX_CALLS_PER_EFFECT = 10.0


@dataclass(frozen=True)
class Politeness:
    """The pilot's ``[politeness]``: what it allows its workflow towards partners."""

    max_calls_per_effect: float = DEFAULT_MAX_CALLS_PER_EFFECT
    grace_ms: float = 100.0  # clocks and schedulers are not exact
    scope: Literal["operation", "partner"] = "operation"

    @classmethod
    def of(cls, cfg: Any) -> Politeness:
        """From a Politeness, a mapping or the pilot's ``[politeness]``; None gives the defaults."""
        if cfg is None:
            return cls()
        if isinstance(cfg, Politeness):
            return cfg
        get = cfg.get if isinstance(cfg, dict) else lambda k, d=None: getattr(cfg, k, d)
        return cls(
            max_calls_per_effect=float(get("max_calls_per_effect", DEFAULT_MAX_CALLS_PER_EFFECT)),
            grace_ms=float(get("grace_ms", 100.0)),
            scope=get("scope", "operation"),
        )


def _column(df: pd.DataFrame, name: str, default: Any) -> list[Any]:
    if name not in df.columns:
        return [default] * len(df)
    return [default if pd.isna(v) else v for v in df[name].tolist()]


def _operation(partner: str, trace: str, key: str, method: str, path: str, scope: str) -> str:
    if scope == "partner":
        return partner
    if trace:
        return f"{partner} {method} {path} trace {trace}"
    if key:
        return f"{partner} key {key}"
    return f"{partner} {method} {path}"


def retry_after_honoured(requests: pd.DataFrame, settings: Any = None) -> InvariantResult:
    """No call came sooner than the partner asked, within the operation it asked."""
    cfg = Politeness.of(settings)
    grace = cfg.grace_ms / 1000.0
    calls = sorted(
        zip(
            _column(requests, "at", 0.0),
            _column(requests, "duration_ms", 0.0),
            _column(requests, "retry_after_s", None),
            _column(requests, "partner", ""),
            _column(requests, "correlation_id", ""),
            _column(requests, "idempotency_key", ""),
            _column(requests, "method", ""),
            _column(requests, "path", ""),
            strict=True,
        ),
        key=lambda c: float(c[0]),
    )
    # Per operation: until when the partner asked it to stay away, and since which answer.
    asked_until: dict[str, tuple[float, float, float]] = {}
    early: list[str] = []
    asked = 0
    earliest_by = 0.0
    for at, duration, wait, partner, trace, key, method, path in calls:
        op = _operation(str(partner), str(trace), str(key), str(method), str(path), cfg.scope)
        hold = asked_until.get(op)
        if hold is not None and float(at) < hold[0] - grace:
            too_soon = hold[0] - float(at)
            earliest_by = max(earliest_by, too_soon)
            early.append(
                f"{partner} {method} {path} at {float(at):.2f}s, {too_soon:.2f}s before the "
                f"{hold[2]:g}s asked at {hold[1]:.2f}s"
            )
        if wait is not None:
            asked += 1
            answered = float(at) + float(duration) / 1000.0
            until = answered + float(wait)
            if hold is None or until > hold[0]:
                asked_until[op] = (until, answered, float(wait))
    counts: dict[str, int | float] = {
        "calls": len(calls),
        "asked_to_wait": asked,
        "too_soon": len(early),
        "worst_early_s": round(earliest_by, 3),
    }
    if early:
        summary = (
            f"{len(early):,} of {len(calls):,} partner calls came before the time the partner "
            f"asked for after {asked:,} throttling answers (up to {earliest_by:.2f}s early)."
        )
    elif asked:
        summary = f"Every wait the partner asked for ({asked:,} answers) was honoured."
    else:
        summary = "The partner never asked for a wait."
    return InvariantResult(
        "retry_after_honoured", not early, counts, early[:MAX_EXAMPLES], summary, judged=asked
    )


def _effects_called_for(expected: pd.DataFrame) -> dict[str, int]:
    if expected.empty:
        return {}
    dropped = _column(expected, "dropped", False)
    partners = _column(expected, "partner", "")
    wanted = _column(expected, "expected_effect", "")
    allowed = _column(expected, "allowed_effect", "")
    out: dict[str, int] = defaultdict(int)
    for gone, partner, must, may in zip(dropped, partners, wanted, allowed, strict=True):
        if not bool(gone) and partner and (must or may):
            out[str(partner)] += 1
    return out


def call_budget(
    expected: pd.DataFrame, requests: pd.DataFrame, settings: Any = None
) -> InvariantResult:
    """Calls to each partner stay within max_calls_per_effect per effect the run called for.

    A partner no event expects an effect from gets a budget of one effect's
    worth: a workflow may look something up, but not hammer it.
    """
    cfg = Politeness.of(settings)
    effects = _effects_called_for(expected)
    calls: dict[str, int] = defaultdict(int)
    for partner in _column(requests, "partner", ""):
        calls[str(partner)] += 1
    over: list[str] = []
    counts: dict[str, int | float] = {
        "calls": sum(calls.values()),
        "effects_called_for": sum(effects.values()),
        "max_calls_per_effect": cfg.max_calls_per_effect,
    }
    worst = 0.0
    # Calls to a partner no event expects anything of are a question about the
    # pilot's [[expectations]] first: named apart, never called a retry storm.
    unasked: list[str] = []
    for partner in sorted(set(calls) | set(effects)):
        n, wanted = calls.get(partner, 0), effects.get(partner, 0)
        ratio = n / max(1, wanted)
        counts[f"calls {partner}"] = n
        if not wanted:
            if ratio > cfg.max_calls_per_effect:
                unasked.append(
                    f"{partner}: {n:,} calls, but no event is expected to cause an effect "
                    "there (does an [[expectations]] rule name it?)"
                )
            continue
        worst = max(worst, ratio)
        if ratio > cfg.max_calls_per_effect:
            over.append(f"{partner}: {n:,} calls for {wanted:,} effects ({ratio:.1f} per effect)")
    counts["worst_calls_per_effect"] = round(worst, 2)
    counts["partners_expected_nothing"] = len(unasked)
    if unasked and not over:
        summary = (
            f"{len(unasked):,} partner(s) got {counts['calls']:,} calls though no event is "
            "expected to cause an effect there: check the pilot's [[expectations]] before "
            "judging the workflow's retries."
        )
        return InvariantResult(
            "call_budget", False, counts, unasked[:MAX_EXAMPLES], summary, judged=0
        )
    if over:
        summary = (
            f"A retry storm: {len(over):,} partner(s) got more than "
            f"{cfg.max_calls_per_effect:g} calls per effect called for ({worst:.1f} at worst)."
        )
    else:
        summary = (
            f"{counts['calls']:,} partner calls for {counts['effects_called_for']:,} effects "
            f"called for: {worst:.1f} per effect at worst, within {cfg.max_calls_per_effect:g}."
        )
    examples = (over + unasked)[:MAX_EXAMPLES]
    return InvariantResult(
        "call_budget", not over, counts, examples, summary, judged=int(counts["calls"])
    )


def check_retry_after_honoured(
    tables: RunTables, *, settings: CheckSettings
) -> InvariantResult | None:
    """The registry's checker; none for a run without partner request journals."""
    if tables.requests is None:
        return None
    return retry_after_honoured(tables.requests, settings.politeness)


def check_call_budget(tables: RunTables, *, settings: CheckSettings) -> InvariantResult | None:
    """The registry's checker; none for a run without partner request journals."""
    if tables.requests is None:
        return None
    return call_budget(tables.expected, tables.requests, settings.politeness)
