"""The sentences under a review's figures, written from the tables the notebooks show.

Each takes a table from ``harness.report.analysis`` (or the pilot summary) and
returns one sentence; the notebooks print them under their figures, and they
are unit-tested without a kernel. Money has its own sentences in ``money``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from harness.cli_support import shown
from harness.report.inert import heading, numbered, paragraph
from harness.report.selection import ReviewInputs
from harness.report.verdict import pct

__all__ = [
    "errors_sentence",
    "evidence_sentence",
    "invariants_sentence",
    "latency_sentence",
    "reliability_sentence",
    "retry_sentence",
    "sensitivity_sentence",
    "verdict_html",
]


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
