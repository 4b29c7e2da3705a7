"""Pilot review: a pilot's drill runs become two HTML reports and a verdict.

    reports/runs/<run-id>/ ──► notebooks/drill_analysis.py ──┐  jupytext (in memory)
      (the pilot's runs)   └─► notebooks/pilot_review.py  ───┤  papermill, kernel "python3"
                                                             ▼  nbconvert: no code, no prompts
                       reports/<pilot>/drill_analysis.html, pilot_review.html (+ .ipynb, .json)

The notebooks hold no business logic: they call ``review_inputs`` and the
functions in ``harness.report.analysis``, and the one-sentence captions under
their figures come from the ``*_sentence`` functions here, which are
unit-tested. ``run_review`` executes them; ``review_cli.review_command`` is
``chaoslab review``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.text import Text

from harness.checks.invariants import SloTargets
from harness.cli_support import shown
from harness.history.store import production_imports
from harness.inputs.pilot import Pilot, PilotError, load_pilot
from harness.inputs.provenance import workflow_version
from harness.journal import JournalError, list_runs, pilot_name, read_meta
from harness.places import UnsafeName, check_name, inside
from harness.report.economics import EconomicsConfig, roi_meaningful
from harness.report.inert import heading, numbered, paragraph
from harness.report.notebooks import DEFAULT as NOTEBOOKS
from harness.report.notebooks import NotebookError, builtin_dir, builtin_path
from harness.report.notebooks import resolve as resolve_notebooks
from harness.report.selection import RunChoice, choose_runs
from harness.report.verdict import Thresholds, money, months, pct
from harness.report.verdict_log import record_verdict
from harness.runtime.scratch import scratch_dir

__all__ = [
    "NOTEBOOKS",
    "ReviewError",
    "ReviewInputs",
    "ReviewResult",
    "cash_flow",
    "cost_breakdown",
    "cost_sentence",
    "errors_sentence",
    "evidence_sentence",
    "execute_notebook",
    "invariants_sentence",
    "latency_sentence",
    "reliability_sentence",
    "render_html",
    "retry_sentence",
    "review_inputs",
    "roi_cell",
    "roi_grid_note",
    "roi_sentence",
    "run_review",
    "select_runs",
    "sensitivity_sentence",
    "verdict_html",
]

# A source checkout's root, for its pilots/ (installed, this is site-packages: none there).
# The notebooks are found through the package (harness/report/notebooks.py), never here.
REPO = Path(__file__).resolve().parents[2]
KERNEL = "python3"  # ipykernel's spec; jupyter_client runs it with this interpreter
CELL_TIMEOUT_S = 300


class ReviewError(RuntimeError):
    """A review that cannot be made; the message is one line for people."""


# ---------------------------------------------------------------- which runs, which pilot


def _pilot_file_of(name: str, run_dirs: Sequence[Path]) -> Path | None:
    """The pilot file the newest run names, else pilots/<name>.toml next to the repo."""
    for run_dir in run_dirs:
        try:
            meta = read_meta(run_dir)
        except JournalError:
            continue
        block = meta.get("pilot")
        path = block.get("path") if isinstance(block, Mapping) else None
        if isinstance(path, str) and Path(path).is_file():
            return Path(path).resolve()
    for guess in (Path("pilots") / f"{name}.toml", REPO / "pilots" / f"{name}.toml"):
        if guess.is_file():
            return guess.resolve()
    return None


def _unknown_pilot(name: str, reports: Path) -> str:
    """Why a pilot name leads nowhere, and the names that would."""
    known: set[str] = set()
    for run_dir in list_runs(reports / "runs"):
        try:
            known.add(pilot_name(read_meta(run_dir)) or "")
        except JournalError:
            continue
    for folder in (Path("pilots"), REPO / "pilots"):
        known.update(p.stem for p in folder.glob("*.toml"))
    known.discard("")
    choices = f"known pilots: {', '.join(sorted(known))}" if known else "no pilots found"
    return (
        f"unknown pilot {name!r}: no runs of it in {reports / 'runs'} and no "
        f"pilots/{name}.toml; {choices} (or pass a pilot file)"
    )


def _check_pilot_name(name: str) -> None:
    """A pilot name becomes a folder and a notebook parameter: refuse one off the rule."""
    if name:
        try:
            check_name(name)
        except UnsafeName as exc:
            raise ReviewError(f"pilot name: {exc}") from None


def _is_pilot_file(pilot: str | Path) -> bool:
    return str(pilot).endswith(".toml") or Path(pilot).is_file()


def select_runs(name: str, reports: Path, runs: int | None = None) -> list[Path]:
    """The pilot's finished runs under ``reports/runs``, newest first (at most ``runs``).

    Runs in flight, and runs that errored, were interrupted or were killed, are
    left out: their unsent events would count against the workflow.
    """
    if runs is not None and runs < 1:
        raise ReviewError(f"--runs: must be at least 1, got {runs}")
    found = []
    for path in list_runs(reports / "runs", pilot=name):
        try:
            status = read_meta(path).get("status")
        except JournalError:
            continue
        if status == "finished":
            found.append(path)
    return found[:runs] if runs else found


@dataclass(frozen=True)
class ReviewInputs:
    """What both notebooks start from: the pilot, its settings and the runs to read."""

    pilot: str
    pilot_file: Path | None
    run_dirs: list[Path]
    economics: EconomicsConfig
    thresholds: dict[str, float]
    slo: SloTargets
    # Thresholds the pilot file sets (the rest are the rule's defaults).
    pilot_thresholds: dict[str, float] = field(default_factory=dict)
    # The pilot's production imports (`chaoslab history import`), newest first.
    history_dirs: list[Path] = field(default_factory=list)
    # Which workflow version was judged, and what was left out (selection.choose_runs).
    evidence_note: str = ""
    # The [economics] settings the pilot file sets; the rest are the lab's defaults.
    economics_declared: frozenset[str] = frozenset()
    scenario_count: int = 0  # the pilot file's scenarios: what one `chaoslab drill` runs


def review_inputs(
    pilot: str = "",
    reports: str | Path = "reports",
    run_dirs: Sequence[str | Path] = (),
    pilot_file: str | Path = "",
    runs: int | None = None,
    *,
    all_versions: bool = False,
    with_replays: bool = False,
    evidence_note: str = "",
) -> ReviewInputs:
    """Resolve a notebook's parameters: explicit run folders, or the pilot's runs.

    Without explicit folders the pilot's finished runs are chosen by
    ``selection.choose_runs``: those of the workflow's code as it is now, from
    the pilot's own scenarios (``all_versions``, ``with_replays``: the rest too).
    """
    reports = Path(reports)
    if runs is not None and runs < 1:
        raise ReviewError(f"--runs: must be at least 1, got {runs}")
    path: Path | None = Path(pilot_file) if str(pilot_file) else None
    name = str(pilot)
    if path is None and name and _is_pilot_file(name):
        path, name = Path(name), ""
    _check_pilot_name(name)
    loaded = _load(path) if path is not None else None
    name = name or (loaded.spec.name if loaded else "")
    dirs = [Path(d) for d in run_dirs]
    note = evidence_note
    if not dirs:
        if not name:
            raise ReviewError("name a pilot, a pilot file or the run folders to review")
        finished = select_runs(name, reports)
        if not finished:
            target = path or _pilot_file_of(name, [])
            if target is None:
                raise ReviewError(_unknown_pilot(name, reports))
            raise ReviewError(
                f"no runs of pilot {name!r} in {reports / 'runs'}; "
                f"run `chaoslab drill {shown(target)}` first"
            )
        path = path or _pilot_file_of(name, finished)
        loaded = loaded or (_load(path) if path is not None else None)
        choice = _choose(finished, loaded, all_versions=all_versions, with_replays=with_replays)
        if choice.problem:
            where = shown(path) if path else "PILOT"
            raise ReviewError(
                f"{choice.problem}; drill it first (`chaoslab drill {where}`) or review "
                "with --all-versions"
            )
        dirs, note = choice.run_dirs[:runs] if runs else choice.run_dirs, choice.note
    if loaded is None:
        if not name:
            # Named only by its runs: take the pilot from the newest one.
            name = next((n for n in (pilot_name(_meta(d)) for d in dirs) if n), "")
            _check_pilot_name(name)
        path = _pilot_file_of(name, dirs)
        if path is None:
            raise ReviewError(
                f"cannot find the pilot file of {name or 'these runs'!r} "
                "(its economics and thresholds); pass the pilot file"
            )
        loaded = _load(path)
    spec = loaded.spec
    own = {str(k): v for k, v in spec.thresholds.items()}
    t = Thresholds.of(own)
    return ReviewInputs(
        pilot=name or spec.name,
        pilot_file=None if path is None else path.resolve(),
        run_dirs=dirs,
        economics=EconomicsConfig.of(spec.economics, f"{path}: [economics]"),
        thresholds={k: getattr(t, k) for k in t.__dataclass_fields__},
        slo=SloTargets.of(spec.slo),
        pilot_thresholds=own,
        history_dirs=production_imports(reports, name or spec.name),
        evidence_note=note,
        economics_declared=frozenset(spec.economics.model_fields_set),
        scenario_count=len(spec.scenarios),
    )


def _load(path: Path) -> Pilot:
    try:
        return load_pilot(path, require_fixtures=False)
    except PilotError as exc:
        raise ReviewError(str(exc)) from None


def _choose(
    finished: Sequence[Path], pilot: Pilot | None, *, all_versions: bool, with_replays: bool
) -> RunChoice:
    """The runs of the workflow's current version (see ``selection``)."""
    current = workflow_version(pilot.workflow_source()) if pilot else None
    why = (
        current.note or "its source is not declared"
        if current is not None
        else "the pilot file is not found"
    )
    return choose_runs(
        [(d, _meta(d)) for d in finished],
        current.id if current is not None and current.id != "unknown" else "",
        all_versions=all_versions,
        with_replays=with_replays,
        current_note=f"the workflow's code could not be read: {why}",
    )


def _meta(run_dir: Path) -> dict[str, Any]:
    try:
        return read_meta(run_dir)
    except JournalError:
        return {}


# ---------------------------------------------------------------- sentences under figures


def _list(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def retry_sentence(events: pd.DataFrame) -> str:
    """Which scenario needed the most redeliveries, from the per-event table."""
    sent = events[events["attempts"].astype(int) > 0]
    if sent.empty:
        return "No event was delivered, so there were no retries to count."
    retried = (sent["attempts"].astype(int) > 1).groupby(sent["scenario"]).mean()
    most = retried.idxmax()
    worst = int(sent.loc[sent["scenario"] == most, "attempts"].max())
    if retried.max() == 0:
        return f"Every event in all {len(retried)} scenarios was accepted on its first delivery."
    clean = sorted(str(s) for s, share in retried.items() if share == 0)
    tail = f"; {_list(clean)} needed none" if clean else ""
    # Retries and the provider's duplicate deliveries both show up as extra attempts.
    return (
        f"{most} saw the most redeliveries: {pct(float(retried.max()))} of its events were "
        f"delivered more than once (up to {worst} attempts){tail}."
    )


def latency_sentence(latency: pd.DataFrame, slo_ms: float) -> str:
    """p95 against the SLO per scenario, from ``latency_percentiles``."""
    if latency.empty:
        return "No event ended well, so there is no latency to show."
    within = latency[latency["p95_ok"].astype(bool)]
    worst = latency.iloc[int(latency["p99_ms"].astype(float).to_numpy().argmax())]
    head = (
        f"p95 end-to-end latency is within the {slo_ms:,.0f} ms SLO in {len(within)} of "
        f"{len(latency)} scenarios"
    )
    return (
        f"{head}; the slowest tail is {worst['scenario']} (p95 {worst['p95_ms']:,.0f} ms, "
        f"p99 {worst['p99_ms']:,.0f} ms, slowest {worst['max_ms']:,.0f} ms)."
    )


def errors_sentence(errors: pd.DataFrame) -> str:
    """Failed attempts and how many fell inside toxic windows, from ``errors_in_windows``."""
    failed = int(errors["failed"].sum())
    if failed == 0:
        return f"All {int(errors['attempts'].sum()):,} delivery attempts got a 2xx: no errors."
    most = errors.iloc[int(errors["failed"].to_numpy().argmax())]
    text = (
        f"{failed:,} of {int(errors['attempts'].sum()):,} delivery attempts failed, most of them "
        f"in {most['scenario']} ({int(most['failed']):,})"
    )
    windowed = errors[errors["has_window"].astype(bool)]
    if len(windowed):
        inside = int(windowed["in_window"].sum())
        total = int(windowed["failed"].sum())
        text += (
            f"; in the scenarios with toxic windows, {inside} of {total} failures were sent "
            "while a toxic was active"
        )
    return text + "."


def invariants_sentence(invariants: pd.DataFrame) -> str:
    """Which invariants broke where, from ``invariant_table``."""
    if invariants.empty:
        return "No invariant results were recorded for these runs."
    broken = invariants[~invariants["ok"].astype(bool)]
    runs = invariants["run_id"].nunique()
    if broken.empty:
        return f"Every invariant held in all {runs} runs."
    per = broken.groupby("invariant")["scenario"].nunique().sort_values(ascending=False)
    scenarios = invariants["scenario"].nunique()
    parts = [f"{name} in {n} of {scenarios} scenarios" for name, n in per.items()]
    return f"{len(broken)} invariant checks failed over {runs} runs: {_list(parts)}."


def evidence_sentence(summary: Mapping[str, Any], inputs: ReviewInputs) -> str:
    """How much the verdict rests on, and where its minimum comes from."""
    m = summary["measured"]
    t = summary["thresholds"]
    scenarios = list(summary["scenarios"])
    source = (
        "set in the pilot file's [thresholds] for drill-scale evidence"
        if "min_txns" in inputs.pilot_thresholds
        else "the rule's default"
    )
    return (
        f"Evidence: {m['transactions']:,} drilled transactions (events) over {summary['runs']} "
        f"runs of {len(scenarios)} scenarios ({', '.join(scenarios)}); a verdict needs at least "
        f"{int(t['min_txns']):,} ({source})."
        + _production_evidence(summary)
        + (f" {inputs.evidence_note}" if inputs.evidence_note else "")
        + _more_evidence(summary, inputs)
    )


def _more_evidence(summary: Mapping[str, Any], inputs: ReviewInputs) -> str:
    """The command that would supply the transactions a verdict still needs ("" if none)."""
    needed = summary["verdict"].get("metrics", {}).get("transactions_needed")
    if summary["decision"] != "NEEDS MORE EVIDENCE" or not needed or inputs.pilot_file is None:
        return ""
    missing = max(int(needed) - int(summary["measured"]["transactions"]), 1)
    per = math.ceil(missing / max(inputs.scenario_count, 1))
    return (
        f" To supply them: chaoslab drill {shown(inputs.pilot_file)} --volume {per} "
        f"({per:,} events a scenario, salted copies of the captures)."
    )


def _production_evidence(summary: Mapping[str, Any]) -> str:
    prod = summary.get("production")
    if not prod:
        return ""
    return (
        f" Production history: {prod['transactions']:,} transactions "
        f"({prod['label']}); volume, success rate and money come from it."
    )


def _changesshown(changes: Sequence[str]) -> list[str]:
    """The first three changes, or every change PROMOTE needs when it needs them together.

    Cutting a list of joint conditions after three would read as if the first
    three were enough.
    """
    together = [c for c in changes if c.startswith("PROMOTE needs all")]
    if together:
        return [c for c in changes if c.startswith("PROMOTE if")] + together
    return list(changes[:3])


def verdict_html(summary: Mapping[str, Any], inputs: ReviewInputs) -> str:
    """The review's opening: the verdict, its three main reasons, what would change it.

    Reasons quote the pilot's own names (scenarios, partners, effects), so
    every string is escaped by ``inert``.
    """
    reasons = list(summary["reasons"])[:3]
    parts = [heading(f"Verdict: {summary['decision']}", 2), numbered(reasons)]
    changes = _changesshown(list(summary["what_would_change"]))
    if changes:
        parts.append(paragraph(" ".join(changes), bold_lead="What would change it:"))
    why_not = list((summary.get("why_not") or {}).values())
    if why_not:
        parts.append(paragraph(" ".join(why_not), bold_lead="Why not the others:"))
    parts.append(paragraph(evidence_sentence(summary, inputs)))
    return "".join(parts)


def reliability_sentence(summary: Mapping[str, Any]) -> str:
    """Attainment under chaos with its bound, and the weakest scenario."""
    v = summary["verdict"]["metrics"]
    m = summary["measured"]
    target = summary["thresholds"]["slo_target"]
    rows = summary["by_scenario"]
    text = (
        f"{pct(v['attainment'])} of {m['transactions']:,} transactions were good under chaos "
        f"(at least {pct(v['attainment_lb'])} with 95 % confidence, target {pct(target)})"
    )
    if rows:
        worst = min(rows, key=lambda r: r["attainment"])
        if worst["attainment"] < 1:
            text += f"; the weakest scenario is {worst['scenario']} at {pct(worst['attainment'])}"
    known = summary.get("outcomes_known", True) is not False
    failures = [
        f"{m[k]:,} {label}"
        for k, label in (
            ("dead_lettered", "dead-lettered"),
            ("lost", "lost"),
            ("duplicates", "duplicate side effect" + ("s" if m["duplicates"] != 1 else "")),
        )
        if m[k] and (known or k != "dead_lettered")
    ]
    if not known:
        # Without outcomes an accepted event that then failed looks good: say so, not "0".
        unknown = (
            "dead letters are unknown, as the workflow reports no outcomes (an event it "
            "accepted and then failed counts as good here)"
        )
        if failures:
            return text + f"; {_list(failures)} in all; {unknown}."
        return text + f"; no transaction was lost or duplicated; {unknown}."
    if failures:
        return text + f"; {_list(failures)} in all."
    return text + "; no transaction was dead-lettered, lost or duplicated."


def cost_breakdown(summary: Mapping[str, Any], cfg: EconomicsConfig) -> dict[str, float]:
    """Cost of one successful transaction by part, next to doing it by hand."""
    e = summary["economics"]
    # With production history the economics used its success rate, not the drills'.
    basis = summary.get("economics_basis") or summary["measured"]
    successes = cfg.volume_per_month * basis["success_rate"]
    per = (lambda x: x / successes) if successes > 0 else (lambda x: math.inf)
    return {
        "manual": cfg.value_per_txn,
        "calls": per(cfg.volume_per_month * e["call_cost_per_txn"]),
        "fixed": per(cfg.fixed_monthly_cost),
        "failures": e["exception_cost_per_success"],
        "total": e["cost_per_success"],
    }


def _cents(x: float) -> str:
    return "unbounded" if math.isinf(x) else f"${x:,.2f}"


def cost_sentence(costs: Mapping[str, float]) -> str:
    total, manual = costs["total"], costs["manual"]
    parts = f"calls {_cents(costs['calls'])}, fixed {_cents(costs['fixed'])}, failures " + _cents(
        costs["failures"]
    )
    if math.isinf(total):
        return f"No transaction succeeded, so the cost per success is unbounded ({parts})."
    share = total / manual if manual > 0 else math.inf
    verdict = (
        f"{pct(share)} of the manual cost"
        if share <= 1
        else f"more than doing it by hand ({share:.1f}× the manual cost)"
    )
    return (
        f"A successful automated transaction costs {_cents(total)} all in ({parts}) against "
        f"{_cents(manual)} by hand: {verdict}."
    )


def cash_flow(summary: Mapping[str, Any], cfg: EconomicsConfig) -> pd.DataFrame:
    """Cumulative net position by month: −build + t·B, plain and discounted."""
    e = summary["economics"]
    benefit = e["monthly_net_benefit"]
    horizon = int(cfg.horizon_months)
    rate = cfg.discount_rate / 12.0
    month = pd.RangeIndex(0, horizon + 1)
    factors = (1.0 + rate) ** -pd.Series(month, dtype=float)
    discounted = -cfg.build_cost + (benefit * factors).where(month > 0, 0.0).cumsum()
    return pd.DataFrame(
        {
            "month": month,
            "cumulative": -cfg.build_cost + benefit * pd.Series(month, dtype=float),
            "discounted": discounted,
        }
    )


def roi_sentence(summary: Mapping[str, Any], cfg: EconomicsConfig | None = None) -> str:
    """What it earns, and when it pays back (only when there is a build cost to pay back)."""
    e = summary["economics"]
    h = int(e["horizon_months"])
    if cfg is not None and not roi_meaningful(cfg):
        return (
            f"Net of running costs it earns {money(e['monthly_net_benefit'])} a month, NPV "
            f"{money(e['npv'])} over {h} months at {pct(e['discount_rate'])} a year. There is "
            "no build cost to earn back ([economics] build_cost is 0), so ROI and payback "
            "say nothing here."
        )
    pays = (
        f"it pays back in {months(e['payback_months'])}"
        if math.isfinite(e["payback_months"])
        else "it never pays back"
    )
    return (
        f"Net of running costs it earns {money(e['monthly_net_benefit'])} a month, so {pays}; "
        f"ROI is {pct(e['roi_12m'])} over 12 months and {pct(e['roi_horizon'])} over {h}, "
        f"NPV {money(e['npv'])} at {pct(e['discount_rate'])} a year."
    )


def roi_cell(value: float, cfg: EconomicsConfig) -> str:
    """A sensitivity grid cell's ROI label: blank when ROI measures nothing."""
    if not roi_meaningful(cfg):
        return ""
    return f"{value:.0%}" if math.isfinite(value) else "∞"


def roi_grid_note(cfg: EconomicsConfig) -> str:
    """Why the grid's cells carry no ROI, when they carry none ("" otherwise)."""
    if roi_meaningful(cfg):
        return ""
    return (
        "The cells show no ROI: with no build cost ([economics] build_cost) ROI would only "
        "be monthly value over running cost, the same at every volume."
    )


def sensitivity_sentence(grid: pd.DataFrame) -> str:
    """Where the verdict flips, along the pilot's own row and column of the grid."""
    here = grid[grid["current"].astype(bool)].iloc[0]
    decision, volume, rate = here["decision"], here["volume_per_month"], here["failure_rate"]
    text = (
        f"At {volume:,.0f} transactions a month and a {pct(rate)} failure rate the verdict is "
        f"{decision}"
    )
    row = grid[grid["volume_per_month"] == volume].sort_values("failure_rate")
    up = row[(row["failure_rate"] > rate) & (row["decision"] != decision)]
    down = row[(row["failure_rate"] < rate) & (row["decision"] != decision)]
    flips = []
    said = False  # whether "failures" has been named, so "they" can follow
    if len(down):
        d = down.iloc[-1]
        flips.append(f"{d['decision']} if failures fall to {pct(d['failure_rate'])}")
        said = True
    if len(up):
        u = up.iloc[0]
        subject = "they" if said else "failures"
        flips.append(f"{u['decision']} once {subject} reach {pct(u['failure_rate'])}")
    col = grid[grid["failure_rate"] == rate].sort_values("volume_per_month")
    less = col[(col["volume_per_month"] < volume) & (col["decision"] != decision)]
    more = col[(col["volume_per_month"] > volume) & (col["decision"] != decision)]
    if len(less):
        x = less.iloc[-1]
        flips.append(f"{x['decision']} at {x['volume_per_month']:,.0f} a month or fewer")
    if len(more):
        x = more.iloc[0]
        flips.append(f"{x['decision']} from {x['volume_per_month']:,.0f} a month")
    if not flips:
        return text + "; it stays the same everywhere on this grid."
    return text + "; it becomes " + _list(flips) + "."


# ---------------------------------------------------------------- running the notebooks


@dataclass(frozen=True)
class ReviewResult:
    pilot: str
    decision: str
    reasons: list[str]
    changes: list[str]  # what would change the verdict
    evidence: str
    html: dict[str, Path]
    notebooks: dict[str, Path]
    seconds: dict[str, float]
    summary_path: Path


def _source(name: str, path: Path | None = None) -> Any:
    """Our notebook ``name``, or the one at ``path`` (a pilot's own, .py or .ipynb)."""
    import jupytext

    try:
        path = path or builtin_path(name)
    except NotebookError as exc:
        raise ReviewError(str(exc)) from None
    if not path.is_file():
        raise ReviewError(f"{path}: notebook source is missing")
    nb = jupytext.read(path, fmt="py:percent" if path.suffix == ".py" else None)
    # A text notebook may lack a kernelspec; papermill refuses to guess one.
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    return nb


def notebooks_of(pilot_file: Path | None) -> list[tuple[str, Path | None]]:
    """The notebooks a review of this pilot runs, in order: (name, source; None for ours)."""
    entries: list[str] = list(NOTEBOOKS)
    if pilot_file is not None:
        try:
            entries = load_pilot(pilot_file, require_fixtures=False).spec.review.notebooks
        except PilotError as exc:
            raise ReviewError(str(exc)) from None
    base = pilot_file.parent if pilot_file is not None else Path.cwd()
    try:
        found = resolve_notebooks(entries, base)
    except NotebookError as exc:
        raise ReviewError(f"{pilot_file}: [review] notebooks: {exc}") from None
    ours = builtin_dir()
    return [(name, None if path.parent == ours else path) for name, path in found]


def first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def execute_notebook(
    name: str,
    parameters: dict[str, Any],
    out_dir: Path,
    timeout: int = CELL_TIMEOUT_S,
    *,
    source: Path | None = None,
    keep_failed: Path | None = None,
) -> Path:
    """Run one notebook (ours by name, or ``source``); a failing cell becomes a ReviewError.

    Ours run in ``out_dir``, so nothing lands beside the installed package; a
    pilot's own runs in its folder, where its relative paths point. A
    notebook that fails is moved to ``keep_failed`` when given, for diagnosis.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from harness.report.kernel import QuietKernelManager

    output = out_dir / f"{name}.ipynb"
    for attempt in (1, 2):
        try:
            papermill.execute_notebook(
                _source(name, source),
                str(output),
                parameters=parameters,
                kernel_name=KERNEL,
                cwd=str(source.parent if source else out_dir.resolve()),
                execution_timeout=timeout,
                progress_bar=False,
                log_output=False,
                request_save_on_cell_execute=False,
                # Kernel log lines (loopback TCP is unencrypted; an interrupt at shutdown)
                # are noise on the command's stderr; cell errors still come back as errors.
                extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
                kernel_manager_class=QuietKernelManager,
            )
            return output
        except PapermillExecutionError as exc:
            where = f"cell {exc.exec_count}" if exc.exec_count else f"cell #{exc.cell_index}"
            if keep_failed is not None and output.is_file():
                os.replace(output, keep_failed)
                output = keep_failed
            raise ReviewError(
                f"{name} notebook failed in {where}: {exc.ename}: {first_line(exc.evalue)} "
                f"(partial notebook: {shown(output)})"
            ) from None
        except (RuntimeError, TimeoutError) as exc:
            # A kernel that fails to start is a known flake; a cell error is not retried.
            if attempt == 2 or "kernel" not in str(exc).lower():
                raise ReviewError(
                    f"{name} notebook could not run: {first_line(str(exc))}"
                ) from None
    raise AssertionError("unreachable")


# What a report may load: its own inline styles and the figures embedded as
# data: URIs. No script runs, nothing is fetched, no form posts anywhere, so
# even markup that slipped past escaping stays inert.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "base-uri 'none'; form-action 'none'"
)


def _inert_markdown(nb: Any) -> Any:
    """Markdown outputs (a pilot's own notebook may show some) become inert HTML."""
    from harness.report.inert import markdown

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            if "text/markdown" in data:
                source = data.pop("text/markdown")
                data.setdefault("text/html", markdown("".join(source)))
    return nb


def render_html(executed: Path, html: Path) -> None:
    """The executed notebook as a standalone page: no code, no prompts, no scripts."""
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    # The lab template minus its CDN scripts: the report opens offline, and
    # MathJax would read a pair of dollar amounts as an equation. The policy
    # goes first in <head>, before anything it governs.
    template = (
        "{%- extends 'index.html.j2' -%}\n"
        "{%- block html_head_js -%}"
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        "{%- endblock html_head_js -%}\n"
        "{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}\n"
        "{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}\n"
    )
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"chaoslab.html.j2": template})],
        template_file="chaoslab.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    nb = _inert_markdown(nbformat.read(executed, as_version=4))
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": html.stem}})
    tmp = html.with_name(f".{html.name}.tmp")
    try:
        tmp.write_text(body, encoding="utf-8")
        os.replace(tmp, html)
    finally:
        # A full disk or a signal must not leave a half-written copy behind.
        tmp.unlink(missing_ok=True)


def run_review(
    pilot: str | Path,
    reports: Path = Path("reports"),
    runs: int | None = None,
    run_dirs: Sequence[Path] | None = None,
    *,
    timeout: int = CELL_TIMEOUT_S,
    all_versions: bool = False,
    with_replays: bool = False,
) -> ReviewResult:
    """Execute both notebooks on the pilot's runs and render them to HTML.

    Writes ``reports/<pilot>/{drill_analysis,pilot_review}.html``, the
    executed notebooks beside them (kept on failure for diagnosis) and
    ``pilot_review.json`` with the summary the verdict came from.
    """
    reports = Path(reports)
    inputs = review_inputs(
        pilot=str(pilot) if not _is_pilot_file(pilot) else "",
        reports=reports,
        run_dirs=list(run_dirs or []),
        pilot_file=str(pilot) if _is_pilot_file(pilot) else "",
        runs=runs,
        all_versions=all_versions,
        with_replays=with_replays,
    )
    out_dir = inside(reports, inputs.pilot)
    summary_path = out_dir / "pilot_review.json"
    params: dict[str, Any] = {
        "pilot": inputs.pilot,
        "run_dirs": [str(d.resolve()) for d in inputs.run_dirs],
        "pilot_file": str(inputs.pilot_file or ""),
        # Where production imports of the pilot are found (reports/history/<pilot>).
        "reports": str(reports.resolve()),
        "evidence_note": inputs.evidence_note,
    }
    seconds: dict[str, float] = {}
    # Everything is made in a scratch folder beside the review's files and
    # swapped in at the end: a review that fails or is stopped leaves the
    # previous one whole, and its scratch (kernel connection files included)
    # is removed on the way out, or by the next review if it was killed.
    with scratch_dir(STAGING, root=out_dir) as staging, kernels_in(staging):
        staged_summary = staging / summary_path.name
        for name, source in notebooks_of(inputs.pilot_file):
            # interactive=False: the what-if sliders are for JupyterLab, not for the HTML.
            extra = (
                {"summary_path": str(staged_summary.resolve()), "interactive": False}
                if name == "pilot_review"
                else {}
            )
            started = time.perf_counter()
            executed = execute_notebook(
                name, {**params, **extra}, staging, timeout, source=source,
                keep_failed=out_dir / f"{name}.failed.ipynb",
            )  # fmt: skip
            render_html(executed, staging / f"{name}.html")
            seconds[name] = time.perf_counter() - started
        if not staged_summary.is_file():
            raise ReviewError(f"{summary_path}: the review wrote no verdict")
        made = [staging / f"{n}{ext}" for n in seconds for ext in (".html", ".ipynb")]
        swapped = swap_in([*made, staged_summary], out_dir)
    html = {p.stem: p for p in swapped if p.suffix == ".html"}
    notebooks = {p.stem: p for p in swapped if p.suffix == ".ipynb"}
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ReviewError(f"{summary_path}: the review wrote no verdict ({exc})") from None
    record_verdict(summary, inputs.pilot_file, out_dir)  # the portfolio's verdict history
    return ReviewResult(
        pilot=inputs.pilot,
        decision=str(summary["decision"]),
        reasons=[str(r) for r in summary["reasons"]],
        changes=[str(c) for c in summary["what_would_change"]],
        evidence=evidence_sentence(summary, inputs),
        html=html,
        notebooks=notebooks,
        seconds=seconds,
        summary_path=summary_path,
    )


STAGING = ".review"  # scratch folders of reviews in progress, inside reports/<pilot>/


@contextlib.contextmanager
def kernels_in(folder: Path) -> Iterator[None]:
    """Kernel connection files (they hold the kernel's HMAC key) in ``folder``, not $TMPDIR."""
    before = os.environ.get("JUPYTER_RUNTIME_DIR")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(folder.resolve())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("JUPYTER_RUNTIME_DIR", None)
        else:
            os.environ["JUPYTER_RUNTIME_DIR"] = before


def swap_in(made: Sequence[Path], out_dir: Path) -> list[Path]:
    """Move the staged files over the previous ones, in order; returns where they went.

    Each move is one rename, so a reader sees the old file or the new one;
    the verdict's JSON comes last, after the pages it summarises.
    """
    moved = []
    for path in made:
        target = out_dir / path.name
        os.replace(path, target)
        moved.append(target)
        if path.suffix == ".ipynb":
            (out_dir / f"{path.stem}.failed.ipynb").unlink(missing_ok=True)
    return moved


def save_summary(summary: Mapping[str, Any], path: str | Path) -> None:
    """The pilot summary as strict JSON (infinite payback becomes null)."""

    def finite(value: Any) -> Any:
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, Mapping):
            return {str(k): finite(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [finite(v) for v in value]
        return value

    body = {**finite(summary), "reviewed_at": datetime.now(UTC).isoformat(timespec="seconds")}
    Path(path).write_text(json.dumps(body, indent=2, default=str) + "\n")


# ---------------------------------------------------------------- the command

_out = Console()
_STYLE = {"PROMOTE": "bold green", "REFACTOR": "bold yellow", "RETIRE": "bold red"}


def print_result(result: ReviewResult, console: Console = _out) -> None:
    console.print(
        Text.assemble((result.decision, _STYLE.get(result.decision, "bold")), f"  {result.pilot}")
    )
    for reason in result.reasons[:3]:
        console.print(f"  - {reason}", soft_wrap=True, markup=False)
    if result.changes:
        first = result.changes[0]
        joint = sum(c.startswith("PROMOTE if") for c in result.changes)
        if (
            first.startswith("PROMOTE if")
            and joint > 1
            and any(c.startswith("PROMOTE needs all") for c in result.changes)
        ):
            # Alone, the first of several joint conditions would read as sufficient.
            first += f" (one of {joint} changes PROMOTE needs together; see the report)"
        console.print(f"  {first}", soft_wrap=True, markup=False)
    # Runs of other versions, or replays, left out: say so where it is seen.
    style = "yellow" if "left out:" in result.evidence else "dim"
    console.print(f"  {result.evidence}", style=style, soft_wrap=True, markup=False)
    console.print(f"  report: {shown(result.html['pilot_review'])}", soft_wrap=True, markup=False)
    # A pilot's [review] notebooks may leave ours out: name only the pages that were made.
    for name, page in result.html.items():
        if name != "pilot_review":
            label = name.replace("_", " ")
            console.print(f"  {label}: {shown(page)}", soft_wrap=True, markup=False)
