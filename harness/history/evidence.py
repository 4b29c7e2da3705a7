"""What the production imports say about a pilot, as figures the review can label.

Several imports may overlap (October's export, then October–November's):
an execution counts once, from the newest import that holds it. A
transaction still running when the export was taken is left out of the
rates and counted as in flight.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.checks.latency import nearest_rank
from harness.journal import load_run

__all__ = ["DAYS_PER_MONTH", "ProductionEvidence", "production_evidence"]

DAYS_PER_MONTH = 365.25 / 12
# Below a day of history a monthly rate is a guess from one shift's traffic.
MIN_DAYS_FOR_VOLUME = 1.0


@dataclass(frozen=True)
class ProductionEvidence:
    """What an imported history says about the workflow in production, as the report cites it."""

    executions: int
    executions_ended: int  # executions of the transactions that ended
    transactions: int  # ended: processed or dead-lettered
    succeeded: int  # processed, no duplicate effect
    dead_lettered: int  # failed and never retried to success
    in_flight: int
    success_executions: int
    retried: int  # transactions that needed more than one execution
    duplicates: int | None  # extra effects of one transaction; None when the export names none
    good: int  # succeeded within the latency SLO (unknown latency counts as within)
    latency_known: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    first: float  # epoch seconds of the first and last execution start
    last: float
    sources: list[dict[str, Any]] = field(default_factory=list)

    @property
    def days(self) -> float:
        """The span of execution starts, in days."""
        return (self.last - self.first) / 86400.0

    @property
    def volume_per_month(self) -> float | None:
        """Transactions a month at the rate seen, or None when the span is too short."""
        if self.days < MIN_DAYS_FOR_VOLUME:
            return None
        return (self.transactions + self.in_flight) / self.days * DAYS_PER_MONTH

    @property
    def executions_per_txn(self) -> float:
        """Executions per ended transaction (NaN when none ended): above 1 means retries."""
        return self.executions_ended / self.transactions if self.transactions else math.nan

    @property
    def success_rate(self) -> float:
        """Ended transactions processed without a duplicate effect, as a share (NaN: none ended)."""
        return self.succeeded / self.transactions if self.transactions else math.nan

    @property
    def span(self) -> str:
        """The first and last day of the history, in UTC ("2026-10-01..2026-11-27")."""

        def day(t: float) -> str:
            return datetime.fromtimestamp(t, UTC).date().isoformat()

        return f"{day(self.first)}..{day(self.last)}"

    @property
    def label(self) -> str:
        """How a figure names it: "production, 4,112 executions, 2026-10-01..2026-11-27"."""
        return f"production, {self.executions:,} executions, {self.span}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "executions": self.executions,
            "transactions": self.transactions,
            "succeeded": self.succeeded,
            "dead_lettered": self.dead_lettered,
            "in_flight": self.in_flight,
            "retried": self.retried,
            "duplicates": self.duplicates,
            "good": self.good,
            "success_rate": self.success_rate,
            "executions_per_txn": self.executions_per_txn,
            "retries_per_txn": self.executions_per_txn - 1 if self.transactions else math.nan,
            "latency_known": self.latency_known,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "from": datetime.fromtimestamp(self.first, UTC).isoformat(timespec="seconds"),
            "until": datetime.fromtimestamp(self.last, UTC).isoformat(timespec="seconds"),
            "days": self.days,
            "volume_per_month": self.volume_per_month,
            "imports": self.sources,
        }


def _frames(dirs: Sequence[Path]) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]:
    """Attempts (absolute times) and effects of every import, newest import first."""
    attempts, effects, sources = [], [], []
    for rank, folder in enumerate(dirs):
        run = load_run(folder)
        origin = float(run.meta.get("time_origin") or 0.0)
        a = run.attempts.assign(
            rank=rank,
            start=run.attempts["sent_at"].astype(float) + origin,
            end=run.attempts["finished_at"].astype(float) + origin,
        )
        attempts.append(a)
        effects.append(run.effects.assign(rank=rank))
        found = run.meta.get("source")
        source: dict[str, Any] = found if isinstance(found, dict) else {}
        sources.append(
            {
                "run_id": run.run_id,
                "file": source.get("file", ""),
                "sha256": source.get("sha256", ""),
                "executions": len(run.attempts),
                "skipped_bad": (run.meta.get("rows") or {}).get("skipped_bad", 0),
                "mapping": (run.meta.get("mapping") or {}).get("format", ""),
            }
        )
    return pd.concat(attempts, ignore_index=True), pd.concat(effects, ignore_index=True), sources


def production_evidence(
    dirs: Sequence[Path | str], slo_ms: float | None = None
) -> ProductionEvidence | None:
    """Figures over the given imports (newest first), or None without any."""
    if not dirs:
        return None
    attempts, effects, sources = _frames([Path(d) for d in dirs])
    # An execution in two overlapping exports counts once, as the newest one saw it.
    attempts = attempts.sort_values("rank", kind="stable").drop_duplicates("delivery_id")
    effects = effects[effects["ref"].isin(set(attempts["delivery_id"]))]
    effects = effects.sort_values("rank", kind="stable").drop_duplicates("ref")
    cls = attempts["error_class"].fillna("").astype(str)
    ok = cls == ""
    per = attempts.assign(ok=ok, failed=cls == "failed").groupby("event_id")
    start = per["start"].min()
    done_at = attempts[ok].groupby("event_id")["end"].min()
    any_ok = per["ok"].any()
    last_class = attempts.sort_values("start").groupby("event_id")["error_class"].last()
    ended = any_ok | (last_class.fillna("") == "failed")
    count = per.size()
    extra = pd.Series(0, index=count.index)
    if len(effects):
        twice = effects.groupby(["event_id", "kind"]).size() - 1
        extra = twice.groupby(level="event_id").sum().reindex(count.index, fill_value=0)
    duplicated = extra > 0
    latency = ((done_at - start.reindex(done_at.index)) * 1000.0).reindex(count.index)
    succeeded = any_ok & ~duplicated
    within = latency.isna() | (latency <= slo_ms) if slo_ms is not None else True
    known = latency[any_ok].dropna().to_numpy(dtype=float)

    def rank_of(q: float) -> float | None:
        return float(nearest_rank(known, q)) if len(known) else None

    return ProductionEvidence(
        executions=len(attempts),
        executions_ended=int(count[ended].sum()),
        transactions=int(ended.sum()),
        succeeded=int(succeeded.sum()),
        dead_lettered=int((ended & ~any_ok).sum()),
        in_flight=int((~ended).sum()),
        success_executions=int(ok.sum()),
        retried=int(((count > 1) & ended).sum()),
        duplicates=int(extra.sum()) if len(effects) else None,
        good=int((succeeded & within).sum()),
        latency_known=len(known),
        p50_ms=rank_of(0.50),
        p95_ms=rank_of(0.95),
        p99_ms=rank_of(0.99),
        first=float(np.nanmin(attempts["start"].to_numpy(dtype=float))),
        last=float(np.nanmax(attempts["start"].to_numpy(dtype=float))),
        sources=sources,
    )
