"""When each attempted event started and ended, and quantiles over such times.

``event_latencies`` is the table ``slo`` judges and the review draws; it is
vectorised (one factorize over the ids, then integer work), so a million
attempts take well under a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from harness.checks.answers import (
    DEAD_LETTERED_BY_DESIGN,
    applied_for,
    declared_dead_letters,
    refusals,
)
from harness.checks.columns import number, ok_status, text
from harness.checks.outcomes import GOOD_OUTCOMES, outcome_details, ranks
from harness.checks.tables import RunTables

__all__ = ["event_latencies", "nearest_rank"]


class _Codes(NamedTuple):
    """Each table's event ids as integer codes into one list of ids."""

    uniques: pd.Index
    attempts: np.ndarray
    effects: np.ndarray
    outcomes: np.ndarray
    effect_tied: np.ndarray  # effects the harness tied to an event


def _codes(attempts: pd.DataFrame, effects: pd.DataFrame, outcomes: pd.DataFrame | None) -> _Codes:
    # One factorize over every id in play, then integer work only: hashing
    # strings once is what keeps a million attempts under a second.
    att_ids = text(attempts, "event_id")
    eff_ids = text(effects, "event_id")
    out_ids = text(outcomes, "event_id") if outcomes is not None else att_ids.iloc[:0]
    codes, uniques = pd.factorize(
        pd.concat([att_ids, eff_ids, out_ids], ignore_index=True), sort=False
    )
    n_att, n_eff = len(att_ids), len(eff_ids)
    return _Codes(
        pd.Index(uniques),
        codes[:n_att],
        codes[n_att : n_att + n_eff],
        codes[n_att + n_eff :],
        eff_ids.to_numpy(dtype=object) != "",
    )


def _attempted(attempts: pd.DataFrame, codes: np.ndarray) -> pd.DataFrame:
    """Per event code: first send, last 2xx finish, number of attempts, any 2xx."""
    ok = ok_status(attempts).to_numpy()
    sent = number(attempts, "sent_at").to_numpy()
    ok_finished = np.where(ok, number(attempts, "finished_at").to_numpy(), np.nan)
    # A groupby's min/max/size/any by hand: sort by code, then reduce each run of
    # equal codes. fmin/fmax skip NaN as pandas does (all NaN stays NaN); a
    # pandas aggregation costs milliseconds even on a handful of rows.
    order = np.argsort(codes, kind="stable")
    present, first = np.unique(codes[order], return_index=True)
    sizes = np.diff(np.append(first, len(order)))

    def reduce(op: np.ufunc, values: np.ndarray) -> np.ndarray:
        return op.reduceat(values[order], first) if len(first) else values[:0]

    return pd.DataFrame(
        {
            "start": reduce(np.fmin, sent),
            "last_ok": reduce(np.fmax, ok_finished),
            "attempts": sizes.astype(np.int64),
            "delivered": reduce(np.logical_or, ok).astype(bool),
        },
        index=pd.Index(present.astype(np.int64), name="code"),
    )


def _first_effects(
    effects: pd.DataFrame, resolved: np.ndarray, slots: np.ndarray, rows: int
) -> np.ndarray:
    """Per row of the attempted frame: when its first tied effect landed (NaN if none)."""
    end = np.full(rows, np.nan)
    at = number(effects, "at").to_numpy()
    hit = resolved & (slots >= 0)
    # The least per slot, NaN skipped as a groupby's min skips it (fmin keeps the number).
    np.fmin.at(end, slots[hit], at[hit])
    return end


def _strongest_outcomes(outcomes: pd.DataFrame, slots: np.ndarray, rows: int) -> np.ndarray:
    """Per row of the attempted frame: the strongest outcome reported ("" if none)."""
    names = text(outcomes, "outcome").to_numpy(dtype=object)
    rank = ranks(names)
    hit = slots >= 0
    labels = np.full(rows, "", dtype=object)
    if hit.any():
        # Strongest first (stable, so the first reported among equals), then each
        # slot's first row: what sort_values and drop_duplicates gave, without a frame.
        order = np.argsort(rank[hit], kind="stable")
        by_rank = slots[hit][order]
        _, first = np.unique(by_rank, return_index=True)
        labels[by_rank[first]] = names[hit][order][first]
    return labels


def event_latencies(
    attempts: pd.DataFrame,
    effects: pd.DataFrame,
    outcomes: pd.DataFrame | None = None,
    expected: pd.DataFrame | None = None,
    *,
    run: RunTables | None = None,
) -> pd.DataFrame:
    """One row per attempted event: when it started, ended, and whether it ended well.

    Columns: ``start`` (first attempt's sent_at), ``end`` (first effect's ``at``,
    else the last 2xx attempt's finished_at), ``latency_ms``, ``attempts``,
    ``delivered`` (any 2xx), ``outcome`` (strongest reported, "" if none),
    ``ended_well``: with outcomes, processed/superseded/duplicate; without,
    simply having an end; and ``detail``, the workflow's words for its outcome.
    With ``expected``, an event the workflow refused by design (see
    ``harness.checks.answers``) has outcome "refused", ends well, and ends at
    its first refusal (the provider's retries after it are not the workflow's);
    one refused where an effect was expected keeps no outcome and says so in
    ``detail``. An event dead-lettered as the pilot declared (``dead_letter``)
    has outcome "dead_lettered_by_design" and ends well. Indexed by event_id.
    ``run``: the same tables as a ``RunTables``, whose derived tables the
    checks share.
    """
    codes = _codes(attempts, effects, outcomes)
    per = _attempted(attempts, codes.attempts)
    present = per.index.to_numpy(dtype=np.int64)
    slot = np.full(len(codes.uniques), -1, dtype=np.int64)
    slot[present] = np.arange(len(present))

    def slots(of: np.ndarray) -> np.ndarray:
        return slot[of] if len(of) else np.empty(0, dtype=np.int64)

    end = _first_effects(effects, codes.effect_tied, slots(codes.effects), len(present))
    per["end"] = np.where(np.isnan(end), per["last_ok"].to_numpy(), end)
    per["latency_ms"] = (per["end"] - per["start"]) * 1000.0
    if outcomes is not None:
        per["outcome"] = _strongest_outcomes(outcomes, slots(codes.outcomes), len(present))
        per["ended_well"] = per["outcome"].isin(GOOD_OUTCOMES)
    else:
        per["outcome"] = ""
        per["ended_well"] = per["end"].notna()
    per.index = codes.uniques[present]
    per.index.name = "event_id"
    details: dict[str, str] = {}
    if outcomes is not None:
        details = run.outcome_details if run is not None else outcome_details(outcomes)
    per["detail"] = per.index.map(details).fillna("") if details else ""
    if expected is not None and len(per):
        _mark_refusals(per, run.refusals if run is not None else refusals(expected, attempts))
        _mark_dead_letters(per, expected, effects)
    return per.drop(columns=["last_ok"])


def _mark_dead_letters(per: pd.DataFrame, expected: pd.DataFrame, effects: pd.DataFrame) -> None:
    """A dead letter the pilot declared is the workflow's answer: it ends well.

    Its outcome becomes DEAD_LETTERED_BY_DESIGN, so the review does not count
    it in the dead-letter rate; one with an effect applied for it stays as it
    is (``all_accounted`` names it).
    """
    declared = declared_dead_letters(expected)
    applied = applied_for(effects, declared)
    for event_id in declared:
        if event_id in applied or event_id not in per.index:
            continue
        if per.at[event_id, "outcome"] == "dead_lettered":
            per.at[event_id, "outcome"] = DEAD_LETTERED_BY_DESIGN
            per.at[event_id, "ended_well"] = True


def _mark_refusals(per: pd.DataFrame, refused: Mapping[str, Any]) -> None:
    """Refusals in ``event_latencies``' frame: a by-design one is an answer, and ends well."""
    if not refused:
        return
    for event_id, refusal in refused.items():
        if event_id not in per.index or per.at[event_id, "outcome"] != "":
            continue
        per.at[event_id, "detail"] = refusal.describe()
        if refusal.accounted:
            per.at[event_id, "outcome"] = "refused"
            per.at[event_id, "ended_well"] = True
            per.at[event_id, "end"] = refusal.last.first_refused_at
    per["latency_ms"] = (per["end"] - per["start"]) * 1000.0


def nearest_rank(values: np.ndarray, q: float) -> float:
    """The q-quantile as the smallest value with at least q of the sample at or below it."""
    if values.size == 0:
        return float("nan")
    return float(np.percentile(values, q * 100.0, method="inverted_cdf"))
