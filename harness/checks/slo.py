"""slo: end-to-end latency p95 and success rate against the pilot's targets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.checks.answers import fixture_notes
from harness.checks.latency import event_latencies, nearest_rank
from harness.checks.result import MAX_EXAMPLES, InvariantResult
from harness.checks.settings import CheckSettings
from harness.checks.tables import RunTables
from harness.checks.wording import plural, quoted_detail

__all__ = ["SloTargets", "check_slo", "slo"]

NAME = "slo"


@dataclass(frozen=True)
class SloTargets:
    """The pilot's ``[slo]``: the p95 end-to-end latency and the success rate to meet."""

    p95_ms: float
    success_rate: float

    @classmethod
    def of(cls, cfg: Any) -> SloTargets:
        """From a SloTargets, a mapping or an object such as the pilot's ``[slo]``.

        Accepts ``p95_ms`` or the pilot file's ``p95_latency_ms``.
        """
        if isinstance(cfg, SloTargets):
            return cfg
        get = cfg.get if isinstance(cfg, Mapping) else lambda k: getattr(cfg, k, None)
        p95 = get("p95_ms")
        if p95 is None:
            p95 = get("p95_latency_ms")
        rate = get("success_rate")
        if p95 is None or rate is None:
            raise ValueError("slo settings need p95_latency_ms (or p95_ms) and success_rate")
        return cls(p95_ms=float(p95), success_rate=float(rate))


def _missed(
    per: pd.DataFrame, p95_ms: float, notes: Mapping[str, str], *, rate_ok: bool, latency_ok: bool
) -> list[str]:
    """The events that broke a target: not ending well, then slower than the p95 target."""
    examples: list[str] = []
    if not rate_ok:
        failed = per[~per["ended_well"]].head(MAX_EXAMPLES)
        examples += [
            f"{event_id}{notes.get(str(event_id), '')} did not end well "
            f"(outcome {row.outcome or 'none'}{quoted_detail({'': row.detail}, '')}, "
            f"{int(row.attempts)} attempt{'s' if row.attempts != 1 else ''})"
            for event_id, row in failed.iterrows()
        ]
    if not latency_ok:
        well = per[per["ended_well"]]
        slow = well[well["latency_ms"] > p95_ms].sort_values("latency_ms", ascending=False)
        examples += [
            f"{event_id}{notes.get(str(event_id), '')} took {ms:,.0f} ms, "
            f"over the {p95_ms:,.0f} ms target"
            for event_id, ms in slow["latency_ms"].head(MAX_EXAMPLES).items()
        ]
    return examples


def slo(
    attempts: pd.DataFrame,
    effects: pd.DataFrame,
    p95_ms: float,
    success_rate: float,
    outcomes: pd.DataFrame | None = None,
    expected: pd.DataFrame | None = None,
    *,
    run: RunTables | None = None,
) -> InvariantResult:
    """End-to-end p95 latency and success rate meet the pilot's targets.

    Latency runs from an event's first attempt to its first partner effect
    (or to its last 2xx when it causes no effect, or to the refusal of an
    event refused by design, which ends well). The p95 is nearest-rank over
    events that ended well. Success rate is events that ended well over
    events attempted. The examples are the events that broke a target: those
    that did not end well when the success rate is missed, the ones slower
    than the target when the p95 is; none when both hold. ``run``: the same
    tables as a ``RunTables``, whose derived tables other checks share.
    """
    per = event_latencies(attempts, effects, outcomes, expected, run=run)
    events = len(per)
    well = per[per["ended_well"]]
    latencies = well["latency_ms"].dropna().to_numpy()
    p95 = nearest_rank(latencies, 0.95)
    rate = len(well) / events if events else float("nan")
    counts: dict[str, int | float] = {
        "events": events,
        "ended_well": len(well),
        "within_latency": int((well["latency_ms"] <= p95_ms).sum()),
        "success_rate": rate,
        "success_target": success_rate,
        "p50_ms": nearest_rank(latencies, 0.50),
        "p95_ms": p95,
        "p99_ms": nearest_rank(latencies, 0.99),
        "max_ms": float(latencies.max()) if latencies.size else float("nan"),
        "p95_target_ms": p95_ms,
    }
    latency_ok = latencies.size == 0 or p95 <= p95_ms
    rate_ok = events > 0 and rate >= success_rate
    ok = bool(latency_ok and rate_ok)
    notes: dict[str, str] = {}
    if expected is not None:
        notes = run.fixture_notes if run is not None else fixture_notes(expected)
    examples = _missed(per, p95_ms, notes, rate_ok=rate_ok, latency_ok=latency_ok)
    if events == 0:
        summary = "No events were attempted, so the SLO cannot be shown to hold."
    else:
        verb = "meets" if ok else "misses"
        p95_text = "n/a" if np.isnan(p95) else f"{p95:,.0f} ms"
        summary = (
            f"The run {verb} its SLO: p95 {p95_text} against {p95_ms:,.0f} ms, "
            f"success {rate:.2%} against {success_rate:.2%} over {plural(events, 'event')}."
        )
    return InvariantResult(NAME, ok, counts, examples, summary, judged=events)


def check_slo(tables: RunTables, *, settings: CheckSettings) -> InvariantResult:
    """The registry's checker: ``slo`` against the pilot's targets.

    Without outcomes (``outcomes_known`` False) an event ends well by having an end.
    """
    targets = SloTargets.of(settings.slo)
    return slo(
        tables.attempts,
        tables.effects,
        targets.p95_ms,
        targets.success_rate,
        tables.outcomes if settings.outcomes_known else None,
        tables.expected,
        run=tables,
    )
