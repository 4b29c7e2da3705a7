"""What the notebooks call: many runs in, tidy tables and a pilot summary out.

Notebooks hold no business logic; every number they show comes from here
and is unit-tested. Everything is vectorised pandas, grouped per run (event
ids repeat across runs of the same fixtures), so a million attempts take
about a second.

    load_runs            run folders → RunSet (tables of all runs, one row per run, toxic windows)
    events_table         one row per (run, event): attempts, latency, outcome, good or not
    retry_distribution   how many attempts deliveries needed
    latency_percentiles  p50/p95/p99 end-to-end against the SLO
    error_classes_over_time   attempt errors per time bin, next to the toxic windows
    retry_amplification  deliveries and partner calls per business transaction
    failure_rates        dead-letter, duplicate and loss rates
    slo_attainment       good / transactions with its Wilson lower bound and burn rate
    verdict_inputs       measured counts + economics → what the verdict rule judges
    pilot_summary        all of it for the economics and the verdict
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.checks.columns import number, text
from harness.checks.contract import contract, without_events
from harness.checks.exactly_once import allowed_versions
from harness.checks.latency import event_latencies, nearest_rank
from harness.checks.outcomes import event_outcomes
from harness.checks.registry import check_all
from harness.checks.slo import SloTargets
from harness.journal import Run, empty_frame, list_runs, load_run, pilot_name
from harness.journal.columns import TABLES
from harness.report.economics import Economics, EconomicsConfig, Measured, evaluate
from harness.report.verdict import PriorReview, Thresholds, VerdictInputs, decide, wilson_lower

__all__ = [
    "RunSet",
    "at_failure_rate",
    "effects_tied_sentence",
    "error_classes_over_time",
    "errors_in_windows",
    "events_table",
    "failure_rates",
    "invariant_grid",
    "invariant_table",
    "latency_percentiles",
    "load_runs",
    "measured_from",
    "observed_failure_rate",
    "pilot_summary",
    "retry_amplification",
    "retry_distribution",
    "run_set",
    "slo_attainment",
    "toxic_windows",
    "unmatched_events_sentence",
    "verdict_inputs",
    "verdict_sensitivity",
]

RUN_COLUMNS = [
    "run_id",
    "pilot",
    "scenario",
    "seed",
    "started_at",
    "status",
    "ok",
    "duration_s",
    "partner_requests",
    "outcomes_known",
    "unmatched_events",
    "tied_traceparent",
    "tied_key_and_time",
    "run_dir",
]


@dataclass(frozen=True)
class RunSet:
    """Several runs side by side: their tables stacked (each row keeps its run_id)."""

    runs: pd.DataFrame  # one row per run, RUN_COLUMNS
    attempts: pd.DataFrame
    effects: pd.DataFrame
    outcomes: pd.DataFrame
    expected: pd.DataFrame
    windows: pd.DataFrame  # toxic windows: run_id, scenario, link, type, toxic, from_s, until_s
    items: tuple[Run, ...] = ()

    def __len__(self) -> int:
        return len(self.items)


# ---------------------------------------------------------------- loading


def _nested(meta: Mapping[str, Any], outer: str, inner: str) -> Any:
    block = meta.get(outer)
    return block.get(inner) if isinstance(block, Mapping) else None


def _partner_requests(meta: Mapping[str, Any]) -> float:
    """Requests the partner simulator received, if the drill recorded them."""
    for value in (
        meta.get("partner_requests"),
        _nested(meta, "partner", "requests"),
        _nested(meta, "stats", "partner_requests"),
    ):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return math.nan


def _count(value: Any) -> float:
    """A recorded count (or list of ids) as a number; NaN when the run did not record it."""
    if isinstance(value, list):
        return float(len(value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _unmatched_ids(meta: Mapping[str, Any]) -> list[str]:
    value = meta.get("unmatched_events")
    return [str(x) for x in value] if isinstance(value, list) else []


def toxic_windows(meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The faults a run switched on, with start/end seconds on the attempts' clock.

    Reads what the drill applied (``toxics_applied``), else what the scenario
    planned (``scenario_spec.toxics`` with ``from_s``/``until_s``). A window
    still open at the end has ``until_s`` None.
    """
    source = meta.get("toxics_applied")
    if not isinstance(source, list):
        spec = meta.get("scenario_spec")
        source = spec.get("toxics") if isinstance(spec, Mapping) else None
    windows: list[dict[str, Any]] = []
    for item in source or []:
        if not isinstance(item, Mapping):
            continue
        start = item.get("from_s")
        if start is None:
            continue
        until = item.get("until_s")
        windows.append(
            {
                "link": str(item.get("link", "")),
                "type": str(item.get("type", "")),
                "toxic": str(item.get("toxic", item.get("type", ""))),
                "from_s": float(start),
                "until_s": None if until is None else float(until),
            }
        )
    return windows


def _run_row(run: Run) -> dict[str, Any]:
    meta = run.meta
    scenario = meta.get("scenario")
    if not isinstance(scenario, str):
        named = run.attempts["scenario"].dropna().tolist()
        scenario = str(named[0]) if named else ""
    return {
        "run_id": run.run_id,
        "pilot": pilot_name(meta) or "",
        "scenario": scenario,
        "seed": meta.get("seed"),
        "started_at": meta.get("started_at"),
        "status": meta.get("status", ""),
        "ok": meta.get("ok"),
        "duration_s": meta.get("duration_s"),
        "partner_requests": _partner_requests(meta),
        # Runs from before the key always had an outcomes source.
        "outcomes_known": meta.get("outcomes_known") is not False,
        "unmatched_events": _count(meta.get("unmatched_events")),
        "tied_traceparent": _count(_nested(meta, "effects_tied", "traceparent")),
        "tied_key_and_time": _count(_nested(meta, "effects_tied", "key_and_time")),
        "run_dir": str(run.run_dir),
    }


def _stack(frames: list[pd.DataFrame], table: str) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_frame(table)
    return pd.concat(frames, ignore_index=True)


def run_set(runs: Iterable[Run]) -> RunSet:
    """A RunSet from already loaded runs (each table's run_id is set from its run)."""
    items = tuple(runs)
    stacked: dict[str, list[pd.DataFrame]] = {t: [] for t in TABLES}
    windows: list[dict[str, Any]] = []
    rows = []
    for run in items:
        row = _run_row(run)
        rows.append(row)
        for table in TABLES:
            frame = run.table(table)
            if len(frame) and frame["run_id"].isna().any():
                frame = frame.assign(run_id=frame["run_id"].fillna(row["run_id"]))
            if table == "attempts" and len(frame) and frame["scenario"].isna().any():
                # Grouping by scenario must not drop attempts the sender left unlabelled.
                frame = frame.assign(scenario=frame["scenario"].fillna(row["scenario"]))
            stacked[table].append(frame)
        for window in toxic_windows(run.meta):
            windows.append({"run_id": row["run_id"], "scenario": row["scenario"], **window})
    window_columns = ["run_id", "scenario", "link", "type", "toxic", "from_s", "until_s"]
    return RunSet(
        runs=pd.DataFrame(rows, columns=RUN_COLUMNS),
        attempts=_stack(stacked["attempts"], "attempts"),
        effects=_stack(stacked["effects"], "effects"),
        outcomes=_stack(stacked["outcomes"], "outcomes"),
        expected=_stack(stacked["expected"], "expected"),
        windows=pd.DataFrame(windows, columns=window_columns),
        items=items,
    )


def load_runs(
    source: Path | str | Iterable[Path | str | Run],
    pilot: str | None = None,
    limit: int | None = None,
    include_running: bool = False,
) -> RunSet:
    """Load runs from a runs folder (newest first, optionally one pilot's) or a list.

    Only runs whose run.json says ``"status": "finished"`` (or has no status,
    as hand-made runs) are read unless ``include_running``: a run in flight,
    errored, interrupted or killed has unsent events that are not the
    workflow's doing.
    """
    if isinstance(source, (str, Path)):
        paths: list[Path | str | Run] = list(list_runs(source, pilot=pilot))
    else:
        paths = list(source)
    if limit is not None:
        paths = paths[:limit]
    runs = [p if isinstance(p, Run) else load_run(p) for p in paths]
    if pilot is not None:
        runs = [r for r in runs if pilot_name(r.meta) == pilot]
    if not include_running:
        # Only drills that ran to the end: an errored, interrupted or killed run's
        # unsent events would count against the workflow as lost.
        runs = [r for r in runs if r.meta.get("status", "finished") == "finished"]
    return run_set(runs)


def _as_run_set(runs: RunSet | Iterable[Run] | Path | str) -> RunSet:
    if isinstance(runs, RunSet):
        return runs
    if isinstance(runs, (str, Path)):
        return load_runs(runs)
    return run_set(runs)


# ---------------------------------------------------------------- per event


EVENT_COLUMNS = [
    "run_id",
    "scenario",
    "event_id",
    "attempts",
    "delivered",
    "executed",
    "outcome",
    "ended_well",
    "latency_ms",
    "duplicated",
    "excess_effects",
    "effect_missing",
    "good",
    # The workflow's words for the outcome ("no ticket yet for …"), or the refusal it answered.
    "detail",
]


def _str(series: pd.Series) -> pd.Series:
    """Strings with nulls as "", without copying a column that is already clean."""
    if isinstance(series.dtype, pd.StringDtype):
        return series.fillna("") if series.hasnans else series
    return series.astype(object).where(series.notna(), "").astype(str)


def _effect_excess(expected: pd.DataFrame, effects: pd.DataFrame) -> pd.DataFrame:
    """Effects beyond the events that expect them, per expected event.

    For each expected (kind, key) group, ``excess`` = effects seen − events
    expecting one (never below 0). Every event of an over-full group gets
    ``duplicated``; the group's excess is put on its first event only, so the
    column sums to the run's extra side effects. A group with fewer effects
    than events marks its last events ``missing``: an event the workflow
    reported processed whose effect never reached the partner was lost all
    the same.
    """
    want = expected[
        (_str(expected["expected_effect"]) != "") & ~expected["dropped"].fillna(False).astype(bool)
    ]
    event_ids = _str(want["event_id"]).to_numpy(dtype=object)
    kinds = _str(want["expected_effect"]).to_numpy(dtype=object)
    keys = _str(want["entity_id"])
    duplicated = np.zeros(len(want), dtype=bool)
    missing = np.zeros(len(want), dtype=bool)
    excess = np.zeros(len(want), dtype=np.int64)
    effects = _without_allowed(expected, want, effects)
    eff_kind = _str(effects["kind"])
    eff_key = _str(effects["business_key"])
    # Kinds are few; within one, count keys on integer codes from a single factorize.
    for kind in pd.unique(kinds):
        mine = kinds == kind
        w_keys = keys[mine]
        e_keys = eff_key[(eff_kind == kind).to_numpy()]
        codes, uniques = pd.factorize(pd.concat([w_keys, e_keys], ignore_index=True))
        w_codes, e_codes = codes[: len(w_keys)], codes[len(w_keys) :]
        wanted = np.bincount(w_codes, minlength=len(uniques))
        seen = np.bincount(e_codes, minlength=len(uniques))
        over = np.clip(seen - wanted, 0, None)
        group_over = over[w_codes]
        first = ~pd.Series(w_codes).duplicated().to_numpy()
        duplicated[mine] = group_over > 0
        excess[mine] = np.where(first, group_over, 0)
        rank = pd.Series(w_codes).groupby(w_codes).cumcount().to_numpy()
        missing[mine] = rank >= seen[w_codes]
    return pd.DataFrame(
        {"event_id": event_ids, "duplicated": duplicated, "excess": excess, "missing": missing}
    )


def _without_allowed(
    expected: pd.DataFrame, want: pd.DataFrame, effects: pd.DataFrame
) -> pd.DataFrame:
    """The effects, less those of a version an event may cause but need not (a record's
    captured version that changed at its source): exactly_once does not count those as
    duplicates, and neither may the review. An expected event of that very version
    keeps its effects counted."""
    allowed = allowed_versions(expected)
    if not allowed or effects.empty:
        return effects
    owed = set(
        zip(
            text(want, "expected_effect"),
            text(want, "entity_id"),
            number(want, "entity_version"),
            strict=True,
        )
    )
    keys = zip(
        text(effects, "kind"),
        text(effects, "business_key"),
        number(effects, "entity_version"),
        strict=True,
    )
    spare = [key in allowed and key not in owed for key in keys]
    return effects[~np.asarray(spare, dtype=bool)]


def _events_of_run(run: Run, scenario: str, slo_ms: float | None) -> pd.DataFrame:
    reports = run.meta.get("outcomes_known") is not False
    outcomes = run.outcomes if reports and len(run.outcomes) else None
    # Events whose calls a partner rejected as not fitting its API are the
    # contract finding's, never lost transactions (harness.checks.contract).
    rejected = contract(run.requests, run.expected, run.effects).events
    exp = without_events(run.expected, rejected)
    outcomes = without_events(outcomes, rejected) if outcomes is not None else None
    # With the expectations, a refusal by design is an answer that ends well, not a loss.
    per = event_latencies(without_events(run.attempts, rejected), run.effects, outcomes, exp)
    dropped = exp["dropped"].fillna(False).astype(bool)
    meant = pd.Index(_str(exp.loc[~dropped, "event_id"]).unique())
    # Events meant to be sent but never attempted are transactions too (lost ones).
    # get_indexer hashes; isin on arrow strings loops in Python and is 10× slower here.
    missing = meant[per.index.get_indexer(meant) < 0]
    if len(missing):
        blank = pd.DataFrame(
            {
                "start": np.nan,
                "attempts": 0,
                "delivered": False,
                "end": np.nan,
                "latency_ms": np.nan,
                "outcome": "",
                "ended_well": False,
                "detail": "",
            },
            index=pd.Index(missing, name="event_id"),
        )
        if outcomes is not None:
            about = pd.Index(missing).get_indexer(_str(outcomes["event_id"])) >= 0
            known = event_outcomes(outcomes[about]).reindex(missing).fillna("").astype(str)
            blank["outcome"] = known.to_numpy()
            blank["ended_well"] = blank["outcome"].isin(["processed", "superseded", "duplicate"])
        per = pd.concat([per, blank])
    out = per.reset_index()
    out.insert(0, "run_id", run.run_id)
    out.insert(1, "scenario", scenario)
    out["executed"] = out["delivered"].astype(bool) | (out["outcome"] != "")
    extra = _effect_excess(exp, run.effects)
    extra = extra[extra["duplicated"] | (extra["excess"] > 0) | extra["missing"]]
    columns = {"duplicated": "duplicated", "excess_effects": "excess", "effect_missing": "missing"}
    for column in columns:
        out[column] = np.zeros(len(out), dtype=np.int64 if column == "excess_effects" else bool)
    if len(extra):
        where = pd.Index(out["event_id"]).get_indexer(extra["event_id"])
        hit = where >= 0
        for column, source in columns.items():
            values = out[column].to_numpy().copy()
            values[where[hit]] = extra[source].to_numpy()[hit]
            out[column] = values
    # Processed by the workflow's own account, yet its effect never landed:
    # not a good transaction (a superseded or deduplicated event owes none).
    owes = out["effect_missing"].astype(bool) & ~out["outcome"].isin(["superseded", "duplicate"])
    out["ended_well"] = out["ended_well"].astype(bool) & ~owes
    within = out["latency_ms"] <= slo_ms if slo_ms is not None else True
    out["good"] = out["ended_well"].astype(bool) & within & ~out["duplicated"].astype(bool)
    return out[EVENT_COLUMNS]


def events_table(runs: RunSet | Iterable[Run], slo_ms: float | None = None) -> pd.DataFrame:
    """One row per (run, event) with its fate.

    ``good`` = ended well (processed, superseded or deduplicated), within
    ``slo_ms`` end to end when given, and no duplicate side effect. When a
    run has no outcome rows at all, ending well falls back to "reached the
    partner or got a 2xx", and so it does for a run whose workflow has no
    outcomes source (``outcomes_known`` false in run.json): its dead letters
    are unknown, not zero.
    """
    rs = _as_run_set(runs)
    scenario_of = dict(zip(rs.runs["run_id"], rs.runs["scenario"], strict=True))
    frames = [_events_of_run(r, str(scenario_of.get(r.run_id, "")), slo_ms) for r in rs.items]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- tables for the notebooks


def _grouping(
    frame: pd.DataFrame, by: str | Sequence[str] | None
) -> tuple[pd.DataFrame, list[str]]:
    """The frame and its group keys; no keys means one group, "all"."""
    keys = [by] if isinstance(by, str) else list(by or [])
    if keys:
        return frame, keys
    return frame.assign(group="all"), ["group"]


def retry_distribution(
    events: pd.DataFrame, by: str | Sequence[str] | None = "scenario"
) -> pd.DataFrame:
    """How many attempts each event's delivery took: events and share per attempt count."""
    frame, keys = _grouping(events, by)
    counts = frame.groupby([*keys, "attempts"], dropna=False).size().rename("events").reset_index()
    counts["share"] = counts["events"] / counts.groupby(keys, dropna=False)["events"].transform(
        "sum"
    )
    return counts


def latency_percentiles(
    events: pd.DataFrame, slo_ms: float, by: str | Sequence[str] | None = "scenario"
) -> pd.DataFrame:
    """End-to-end latency percentiles (nearest rank) of events that ended well, vs the SLO."""
    frame, keys = _grouping(events[events["ended_well"].astype(bool)], by)
    latency = frame.groupby(keys, dropna=False)["latency_ms"]

    def rank(q: float) -> Any:
        # Nearest rank, as the slo invariant computes it; groups are few, so apply is cheap.
        return latency.agg(lambda v: nearest_rank(v.dropna().to_numpy(dtype=float), q))

    table = pd.DataFrame(
        {
            "events": latency.size(),
            "p50_ms": rank(0.50),
            "p95_ms": rank(0.95),
            "p99_ms": rank(0.99),
            "max_ms": latency.max(),
        }
    )
    table["slo_ms"] = slo_ms
    table["p95_ok"] = table["p95_ms"] <= slo_ms
    return table.reset_index()


def error_classes_over_time(
    attempts: pd.DataFrame, bin_s: float = 1.0, by: str | Sequence[str] | None = "scenario"
) -> pd.DataFrame:
    """Attempts per time bin (by sent_at) and error class; "ok" for a clean 2xx.

    Plot it with ``RunSet.windows`` shaded behind: the toxic windows share the clock.
    """
    if bin_s <= 0:
        raise ValueError(f"bin_s: must be positive, got {bin_s}")
    frame, keys = _grouping(attempts, by)
    cls = frame["error_class"].fillna("").astype(str)
    status = pd.to_numeric(frame["status"], errors="coerce")
    fallback = status.between(200, 299).map({True: "ok", False: "other"}).astype(str)
    cls = cls.where(cls != "", fallback)
    tidy = pd.DataFrame(
        {
            **{k: frame[k] for k in keys},
            "t": np.floor(frame["sent_at"].astype(float) / bin_s) * bin_s,
            "error_class": cls,
        }
    )
    return (
        tidy.groupby([*keys, "t", "error_class"], dropna=False)
        .size()
        .rename("attempts")
        .reset_index()
    )


def retry_amplification(rs: RunSet, events: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per run: deliveries and partner calls per business transaction.

    Partner calls come from the partner simulator's request count when the
    drill recorded it in run.json (``partner_requests``); otherwise the
    applied effects stand in, a lower bound (``partner_calls_source`` says which).
    """
    ev = events if events is not None else events_table(rs)
    per_run = ev.groupby("run_id").size().rename("transactions")
    deliveries = rs.attempts.groupby("run_id").size().rename("deliveries")
    applied = rs.effects.groupby("run_id").size().rename("effects")
    table = rs.runs.set_index("run_id")[["scenario", "partner_requests"]].join(
        [per_run, deliveries, applied]
    )
    table[["transactions", "deliveries", "effects"]] = (
        table[["transactions", "deliveries", "effects"]].fillna(0).astype(int)
    )
    counted = table["partner_requests"].notna()
    table["partner_calls"] = table["partner_requests"].where(counted, table["effects"])
    table["partner_calls_source"] = np.where(counted, "partner", "effects (lower bound)")
    n = table["transactions"].replace(0, np.nan)
    table["deliveries_per_txn"] = table["deliveries"] / n
    table["partner_calls_per_txn"] = table["partner_calls"] / n
    return table.drop(columns=["partner_requests"]).reset_index()


def lost_events(events: pd.DataFrame) -> pd.Series:
    """Events that ended badly with no dead letter to say so: no outcome, or no effect."""
    silent = (events["outcome"] == "") | (
        events["effect_missing"].astype(bool) & (events["outcome"] != "dead_lettered")
    )
    return ~events["ended_well"].astype(bool) & silent


def failure_rates(
    events: pd.DataFrame, by: str | Sequence[str] | None = "scenario"
) -> pd.DataFrame:
    """Dead-lettered, duplicated and lost (no terminal outcome) events, as counts and rates."""
    frame, keys = _grouping(events, by)
    counts = pd.DataFrame(
        {
            **{k: frame[k] for k in keys},
            "transactions": 1,
            "dead_lettered": (frame["outcome"] == "dead_lettered").astype(int),
            "duplicated": frame["duplicated"].astype(bool).astype(int),
            "lost": lost_events(frame).astype(int),
        }
    )
    table = counts.groupby(keys, dropna=False).sum()
    for name in ("dead_lettered", "duplicated", "lost"):
        table[f"{name}_rate"] = table[name] / table["transactions"]
    return table.reset_index()


def slo_attainment(
    events: pd.DataFrame,
    target: float = 0.99,
    z: float = 1.645,
    by: str | Sequence[str] | None = "scenario",
) -> pd.DataFrame:
    """Good / transactions with its one-sided Wilson lower bound and chaos burn rate."""
    frame, keys = _grouping(events, by)
    counts = pd.DataFrame(
        {**{k: frame[k] for k in keys}, "transactions": 1, "good": frame["good"].astype(int)}
    )
    table = counts.groupby(keys, dropna=False).sum()
    n = table["transactions"].astype(float)
    good = table["good"].astype(float)
    table["attainment"] = good / n
    table["attainment_lb"] = [wilson_lower(g, m, z) for g, m in zip(good, n, strict=True)]
    budget = 1 - target
    table["burn"] = (1 - table["attainment"]) / budget if budget > 0 else np.inf
    table["target"] = target
    table["meets"] = table["attainment_lb"] >= target
    return table.reset_index()


# ---------------------------------------------------------------- the pilot as a whole


def measured_from(rs: RunSet, events: pd.DataFrame) -> Measured:
    """The counts economics needs, over every run in the set."""
    status = pd.to_numeric(rs.attempts["status"], errors="coerce")
    amp = retry_amplification(rs, events)
    lost = lost_events(events).sum()
    # Duplicates in money terms are extra side effects, not duplicated events.
    extra = int(events["excess_effects"].sum())
    return Measured(
        transactions=len(events),
        succeeded=int(
            (events["ended_well"].astype(bool) & ~events["duplicated"].astype(bool)).sum()
        ),
        dead_lettered=int((events["outcome"] == "dead_lettered").sum()),
        lost=int(lost),
        duplicates=extra,
        attempts=len(rs.attempts),
        ok_attempts=int(status.between(200, 299).sum()),
        executions=int(events["executed"].astype(bool).sum()),
        partner_calls=int(amp["partner_calls"].fillna(0).sum()),
    )


def verdict_inputs(
    measured: Measured,
    good: int,
    econ: Economics,
    transactions: int | None = None,
    *,
    outcomes_known: bool = True,
) -> VerdictInputs:
    """What the verdict rule is given: the one place drills and money become its inputs.

    ``pilot_summary`` and every cell of ``verdict_sensitivity`` go through here, so
    the grid cannot judge on other terms than the review. ``transactions`` is the
    evidence behind the Wilson bound; a grid cell passes the drills' count because
    its rates are hypothetical (default: ``measured.transactions``). Without an
    outcomes source the dead-letter count is not a measurement, and the verdict
    must say so rather than read it as zero.
    """
    return VerdictInputs(
        transactions=measured.transactions if transactions is None else transactions,
        good=good,
        dead_letter_rate=measured.dead_letter_rate,
        lost_rate=measured.lost_rate,
        duplicate_rate=measured.duplicate_rate,
        roi_12m=econ.roi_12m,
        payback_months=econ.payback_months,
        npv=econ.npv,
        npv_after_fix=econ.npv_after_fix,
        horizon_months=econ.horizon_months,
        dead_letters_known=outcomes_known,
    )


def _slo_of(rs: RunSet, slo: Any) -> SloTargets | None:
    if slo is not None:
        return SloTargets.of(slo)
    for run in rs.items:
        cfg = run.meta.get("slo")
        if isinstance(cfg, Mapping):
            try:
                return SloTargets.of(cfg)
            except ValueError:
                continue
    return None


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.astype(object).where(frame.notna(), None)
    return [{str(k): v for k, v in row.items()} for row in clean.to_dict(orient="records")]


def pilot_summary(
    runs: RunSet | Iterable[Run] | Path | str,
    economics_cfg: Any,
    thresholds: Thresholds | Mapping[str, float] | None = None,
    *,
    slo: Any = None,
    previous: PriorReview | None = None,
) -> dict[str, Any]:
    """Everything the PM review needs, as plain data, ending in the verdict.

    ``slo`` defaults to the ``slo`` block the drills saved in run.json; its
    p95 latency is the per-transaction latency a good transaction must meet.
    """
    rs = _as_run_set(runs)
    t = Thresholds.of(thresholds)
    targets = _slo_of(rs, slo)
    slo_ms = targets.p95_ms if targets else None
    events = events_table(rs, slo_ms)
    measured = measured_from(rs, events)
    cfg = EconomicsConfig.of(economics_cfg)
    econ = evaluate(cfg, measured)
    good = int(events["good"].astype(bool).sum()) if len(events) else 0
    known_runs = int(rs.runs["outcomes_known"].astype(bool).sum())
    # One run without outcomes leaves the pilot's dead-letter count incomplete.
    outcomes_known = known_runs == len(rs.runs)
    verdict = decide(
        verdict_inputs(measured, good, econ, outcomes_known=outcomes_known), t, previous
    )
    by_scenario = (
        slo_attainment(events, t.slo_target, t.z).merge(
            failure_rates(events).drop(columns="transactions"), on="scenario"
        )
        if len(events)
        else pd.DataFrame()
    )
    pilots = sorted({p for p in rs.runs["pilot"] if p})
    return {
        "pilot": pilots[0] if len(pilots) == 1 else pilots,
        "runs": len(rs),
        "scenarios": sorted(set(rs.runs["scenario"])),
        "decision": verdict.label,
        "reasons": verdict.reasons,
        "what_would_change": verdict.what_would_change,
        "why_not": verdict.why_not,
        "verdict": verdict.as_dict(),
        "measured": {
            **{k: getattr(measured, k) for k in measured.__dataclass_fields__},
            "good": good,
            "success_rate": measured.success_rate,
            "dead_letter_rate": measured.dead_letter_rate,
            "duplicate_rate": measured.duplicate_rate,
            "lost_rate": measured.lost_rate,
            "partner_calls_per_txn": measured.partner_calls_per_txn,
            "billed_calls_per_txn": measured.billed_calls_per_txn(cfg.billing_semantics),
            # Runs whose partner request count was recorded; the rest count effects only.
            "partner_calls_counted_runs": int(rs.runs["partner_requests"].notna().sum()),
        },
        "outcomes_known": outcomes_known,
        "outcomes_known_runs": known_runs,
        "economics": econ.as_dict(),
        "slo": None
        if targets is None
        else {"p95_ms": targets.p95_ms, "success_rate": targets.success_rate},
        "thresholds": t.as_dict(),
        "by_scenario": _records(by_scenario),
        "invariants_ok": {
            str(r): (None if pd.isna(ok) else bool(ok))
            for r, ok in zip(rs.runs["run_id"], rs.runs["ok"], strict=True)
        },
    }


# ---------------------------------------------------------------- for the review notebooks


# ``judged``: how many things the check judged (0: it held only because there was
# nothing to judge; None for runs recorded before it was counted).
INVARIANT_COLUMNS = ["run_id", "scenario", "invariant", "ok", "summary", "examples", "judged"]


def invariant_table(rs: RunSet, slo: Any = None) -> pd.DataFrame:
    """One row per (run, invariant): the drill's own findings from run.json.

    A run whose run.json holds no ``invariants`` (killed before the end) is
    checked here from its tables, so every run shows up.
    """
    targets = _slo_of(rs, slo)
    scenario_of = dict(zip(rs.runs["run_id"], rs.runs["scenario"], strict=True))
    rows: list[dict[str, Any]] = []
    for run in rs.items:
        found = run.meta.get("invariants")
        if isinstance(found, list) and found:
            results = [
                {
                    "invariant": str(r.get("name", "")),
                    "ok": bool(r.get("ok")),
                    "summary": str(r.get("summary", "")),
                    "examples": [str(x) for x in r.get("examples") or []],
                    "judged": r.get("judged"),
                }
                for r in found
                if isinstance(r, Mapping)
            ]
        elif targets is not None:
            results = [
                {
                    "invariant": r.name,
                    "ok": r.ok,
                    "summary": r.summary,
                    "examples": r.examples,
                    "judged": r.judged,
                }
                for r in check_all(
                    {t: run.table(t) for t in TABLES},
                    targets,
                    outcomes_known=bool(run.meta.get("outcomes_known", True)),
                )
            ]
        else:
            results = []
        for r in results:
            rows.append({"run_id": run.run_id, "scenario": scenario_of.get(run.run_id, ""), **r})
    return pd.DataFrame(rows, columns=INVARIANT_COLUMNS)


GRID_ORDER = ("exactly_once", "unexpected_effects", "all_accounted", "final_state", "slo")


def invariant_grid(invariants: pd.DataFrame) -> pd.DataFrame:
    """Scenario × invariant: "BROKEN" if it broke in any run, "n/a" if it never had
    anything to judge (it held only because nothing came its way), else "holds"."""
    if invariants.empty:
        return pd.DataFrame()
    frame = invariants.assign(
        broke=~invariants["ok"].astype(bool),
        idle=pd.to_numeric(invariants["judged"], errors="coerce").eq(0),
    )
    by = frame.groupby(["scenario", "invariant"])
    state = np.where(by["broke"].any(), "BROKEN", np.where(by["idle"].all(), "n/a", "holds"))
    grid = pd.Series(state, index=by["broke"].any().index).unstack()
    first = [c for c in GRID_ORDER if c in grid.columns]
    return grid[first + [c for c in grid.columns if c not in first]].fillna("n/a")


def errors_in_windows(attempts: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """Per scenario: failed attempts, and how many were sent inside one of its run's toxic windows.

    A failed attempt is one without a 2xx. A window still open at the end
    (``until_s`` None) runs to the end of the run.
    """
    status = pd.to_numeric(attempts["status"], errors="coerce")
    # No status (timeout, reset) is a failure too; between() leaves it NA.
    failed = attempts[~status.between(200, 299).fillna(False).astype(bool)]
    inside = np.zeros(len(failed), dtype=bool)
    if len(failed) and len(windows):
        run_ids = _str(failed["run_id"]).to_numpy(dtype=object)
        sent = failed["sent_at"].astype(float).to_numpy()
        until = pd.to_numeric(windows["until_s"], errors="coerce").fillna(math.inf)
        starts = pd.to_numeric(windows["from_s"], errors="coerce").to_numpy(dtype=float)
        for run_id, start, end in zip(
            windows["run_id"], starts, until.to_numpy(dtype=float), strict=True
        ):
            inside |= (run_ids == run_id) & (sent >= start) & (sent < end)
    per = pd.DataFrame(
        {
            "scenario": _str(failed["scenario"]).to_numpy(dtype=object),
            "failed": 1,
            "in_window": inside.astype(int),
        }
    )
    totals = (
        attempts.assign(scenario=_str(attempts["scenario"]))
        .groupby("scenario")
        .size()
        .rename("attempts")
    )
    table = per.groupby("scenario")[["failed", "in_window"]].sum()
    table = table.reindex(totals.index, fill_value=0).join(totals)
    windowed = set(_str(windows["scenario"])) if len(windows) else set()
    table["has_window"] = [s in windowed for s in table.index]
    return table.reset_index()[["scenario", "attempts", "failed", "in_window", "has_window"]]


def _recorded(rs: RunSet, column: str) -> pd.DataFrame:
    """The runs that recorded ``column`` (drills before it was journaled did not)."""
    return rs.runs[pd.to_numeric(rs.runs[column], errors="coerce").notna()]


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def unmatched_events_sentence(rs: RunSet) -> str:
    """How many drilled events no ``[[expectations]]`` rule matched, so nothing judged them."""
    runs = _recorded(rs, "unmatched_events")
    if runs.empty:
        return "These runs did not record which events matched no [[expectations]] rule."
    mine = set(runs["run_id"])
    events = int(rs.expected["run_id"].isin(mine).sum())
    unmatched = int(runs["unmatched_events"].sum())
    if unmatched == 0:
        return (
            f"Every one of the {events:,} drilled events matched an [[expectations]] rule, "
            "so the invariants judged them all."
        )
    where = sorted(set(runs.loc[runs["unmatched_events"] > 0, "scenario"].astype(str)))
    ids = list(
        dict.fromkeys(i for r in rs.items if r.run_id in mine for i in _unmatched_ids(r.meta))
    )
    shown = ", ".join(ids[:3]) + (", …" if len(ids) > 3 else "")
    return (
        f"{unmatched:,} of {events:,} drilled events matched no [[expectations]] rule "
        f"(in {', '.join(where)}), so nothing was expected of them and no invariant judged "
        f"their effects; e.g. {shown}."
    )


def effects_tied_sentence(rs: RunSet) -> str:
    """How partner effects were tied to the events that caused them, over the runs."""
    runs = _recorded(rs, "tied_traceparent")
    if runs.empty:
        return "These runs did not record how partner effects were tied to events."
    by_trace = int(runs["tied_traceparent"].sum())
    by_key = int(pd.to_numeric(runs["tied_key_and_time"], errors="coerce").fillna(0).sum())
    total = by_trace + by_key
    if total == 0:
        return "No partner effect was recorded, so none had to be tied to an event."
    if by_key == 0:
        return (
            f"All {_plural(total, 'partner effect')} were tied to their events by the "
            "traceparent the workflow forwarded: exact, no guessing."
        )
    # Key-and-time ties are inferred: two events about one entity close together can swap.
    guessed = (
        "by entity key and time, an inference that can mix up two events about one entity "
        "close together"
    )
    if by_trace == 0:
        return (
            f"The workflow forwarded no traceparent, so all {_plural(total, 'partner effect')} "
            f"were tied to their events {guessed}."
        )
    where = sorted(set(runs.loc[runs["tied_key_and_time"] > 0, "scenario"].astype(str)))
    return (
        f"Of {_plural(total, 'partner effect')}, {by_trace:,} were tied to their events by the "
        f"forwarded traceparent and {by_key:,} (in {', '.join(where)}) {guessed}."
    )


SENSITIVITY_FAILURE_RATES = (0.0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)


def observed_failure_rate(measured: Measured) -> float:
    """Share of transactions dead-lettered, lost or duplicated: what failures cost money."""
    n = measured.transactions
    return (measured.dead_lettered + measured.lost + measured.duplicates) / n if n else 0.0


def at_failure_rate(
    measured: Measured, good: int, failure_rate: float, billing_semantics: str
) -> tuple[Measured, int]:
    """The drills' counts moved to another failure rate, and the good transactions then.

    Dead letters, losses and duplicates keep the mix the drills showed (all dead
    letters if they showed none); calls per transaction stay as measured. The
    sensitivity grid and the what-if controls both move the rate through here.
    """
    n = measured.transactions
    kinds = np.array([measured.dead_lettered, measured.lost, measured.duplicates], dtype=float)
    observed = observed_failure_rate(measured)
    if failure_rate == observed:
        return measured, good
    mix = kinds / kinds.sum() if kinds.sum() > 0 else np.array([1.0, 0.0, 0.0])
    dl, lost, dup = (mix * failure_rate).tolist()
    cell = Measured.from_rates(
        dead_letter_rate=dl,
        lost_rate=lost,
        duplicate_rate=dup,
        billed_calls_per_txn=measured.billed_calls_per_txn(billing_semantics),
        partner_calls_per_txn=measured.partner_calls_per_txn,
    )
    # Failures beyond (or short of) what was seen move good transactions one for one.
    share = min(1.0, max(0.0, good / n + observed - failure_rate)) if n else 0.0
    return cell, round(share * n)


def verdict_sensitivity(
    economics_cfg: Any,
    measured: Measured,
    good: int,
    thresholds: Thresholds | Mapping[str, float] | None = None,
    *,
    volumes: Sequence[float] | None = None,
    failure_rates: Sequence[float] | None = None,
    outcomes_known: bool = True,
) -> pd.DataFrame:
    """ROI and the verdict over a grid of monthly volume × failure rate.

    The failure rate is the share of transactions that fail in a way that
    costs money: dead-lettered, lost or duplicated. Other rates scale with
    it in the mix the drills showed (all dead letters if they showed none);
    calls per transaction stay as measured, and so does the evidence (the
    number of transactions, for the Wilson bound). The pilot's own volume
    and failure rate are always grid points, and there the verdict is
    exactly the one ``pilot_summary`` gives (pass its ``outcomes_known``).
    """
    cfg = EconomicsConfig.of(economics_cfg)
    t = Thresholds.of(thresholds)
    n = measured.transactions
    if n <= 0:
        raise ValueError("verdict_sensitivity: no transactions were measured")
    observed = observed_failure_rate(measured)
    base = cfg.volume_per_month
    if volumes is None:
        volumes = np.geomspace(base / 8, base * 8, 13).tolist()
    if failure_rates is None:
        failure_rates = SENSITIVITY_FAILURE_RATES
    # Rounded so a grid point that is the pilot's volume up to float noise is that point.
    vols = sorted({round(float(v), 6) for v in volumes} | {round(float(base), 6)})
    rates = sorted({float(f) for f in failure_rates} | {observed})

    def judge(cell: Measured, cell_good: int, econ: Economics) -> VerdictInputs:
        return verdict_inputs(cell, cell_good, econ, transactions=n, outcomes_known=outcomes_known)

    return sensitivity_grid(cfg, measured, good, vols, rates, judge, t)


# What a grid cell is judged on: the moved measurements, their good count, the money.
CellJudge = Callable[[Measured, int, Economics], VerdictInputs]


def sensitivity_grid(
    cfg: EconomicsConfig,
    measured: Measured,
    good: int,
    volumes: Sequence[float],
    failure_rates: Sequence[float],
    judge: CellJudge,
    thresholds: Thresholds,
) -> pd.DataFrame:
    """One row per volume × failure rate: money and verdict, the pilot's own cell marked.

    ``judge`` turns a cell into verdict inputs, so the drills-only review and
    the review with production history walk the same grid the same way.
    """
    observed = observed_failure_rate(measured)
    base = round(float(cfg.volume_per_month), 6)
    rows: list[dict[str, Any]] = []
    for f in failure_rates:
        cell, cell_good = at_failure_rate(measured, good, f, cfg.billing_semantics)
        for v in volumes:
            econ = evaluate(cfg.with_volume(v), cell)
            verdict = decide(judge(cell, int(cell_good), econ), thresholds)
            rows.append(
                {
                    "volume_per_month": v,
                    "failure_rate": f,
                    "roi_12m": econ.roi_12m,
                    "payback_months": econ.payback_months,
                    "npv": econ.npv,
                    "decision": verdict.label,
                    "current": v == base and f == observed,
                }
            )
    return pd.DataFrame(rows)
