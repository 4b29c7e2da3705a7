"""Production history in the review: which figure comes from which evidence.

The drills say how the workflow behaves under chaos; the production imports
say how much it runs and how often it really fails. With both, the review
takes volume, success rate, retries per transaction, latency and money from
production, keeps chaos figures (attainment under faults, dead letters,
duplicates, invariants) from the drills, and labels every figure with its
source. The verdict judges both: the drills' reliability gates, production's
attainment, and the economics at production volume and failure rates.
Nothing of the drills' chaos rates is applied to production volume, except
partner calls per transaction (production exports do not count them), and
the labels say so.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from harness.history.evidence import ProductionEvidence, production_evidence
from harness.report import analysis as an
from harness.report.economics import Economics, EconomicsConfig, Measured, evaluate
from harness.report.selection import ReviewInputs
from harness.report.verdict import Thresholds, VerdictInputs, decide, pct, wilson_lower

__all__ = [
    "drill_inputs",
    "drill_label",
    "evidence_table",
    "judged",
    "production_sentence",
    "sensitivity",
    "sensitivity_note",
    "source_note",
    "sources_sentence",
    "with_production",
]

PILOT_FORECAST = "pilot file [economics] volume_per_month (a forecast)"
# A pilot file with no volume of its own: the money rests on the lab's default.
DEFAULT_FORECAST = "lab's default volume_per_month (the pilot file's [economics] sets none)"
FORECASTS = (PILOT_FORECAST, DEFAULT_FORECAST)


def _forecast(declared: Collection[str]) -> str:
    return PILOT_FORECAST if "volume_per_month" in declared else DEFAULT_FORECAST


def _volume_words(summary: Mapping[str, Any]) -> str:
    """Whose monthly volume the money assumes, in words."""
    source = summary.get("sources", {}).get("volume_per_month")
    return "the lab's default volume" if source == DEFAULT_FORECAST else "the pilot file's forecast"


def _money_basis(declared: Collection[str]) -> str:
    """Where the money's settings come from: the pilot file, the lab's defaults, or both."""
    if not declared:
        return "the lab's default [economics] (the pilot file declares none)"
    if "volume_per_month" not in declared:
        return f"the {DEFAULT_FORECAST.split(' (')[0]} and the pilot file's other [economics]"
    return f"the {PILOT_FORECAST.split(' (')[0]}"


def drill_label(summary: Mapping[str, Any]) -> str:
    runs = int(summary["runs"])
    return f"drills, {runs} run{'s' if runs != 1 else ''}"


def drill_inputs(summary: Mapping[str, Any]) -> VerdictInputs:
    """The drills' reliability exactly as ``pilot_summary`` handed it to the rule."""
    m = summary["measured"]
    e = summary["economics"]
    return VerdictInputs(
        transactions=int(m["transactions"]),
        good=int(m["good"]),
        dead_letter_rate=float(m["dead_letter_rate"]),
        lost_rate=float(m["lost_rate"]),
        duplicate_rate=float(m["duplicate_rate"]),
        roi_12m=float(e["roi_12m"]),
        payback_months=_inf(e["payback_months"]),
        npv=float(e["npv"]),
        npv_after_fix=float(e["npv_after_fix"]),
        horizon_months=int(e["horizon_months"]),
        dead_letters_known=summary.get("outcomes_known", True) is not False,
    )


def _inf(value: Any) -> float:
    # save_summary writes an infinite payback as null.
    return math.inf if value is None else float(value)


def judged(
    drills: VerdictInputs, econ: Economics, production_n: int, production_good: int
) -> VerdictInputs:
    """The one place drills, production and money meet: the review, every grid cell and
    every what-if setting."""
    return replace(
        drills,
        roi_12m=econ.roi_12m,
        payback_months=econ.payback_months,
        npv=econ.npv,
        npv_after_fix=econ.npv_after_fix,
        horizon_months=econ.horizon_months,
        production_transactions=production_n,
        production_good=production_good,
    )


def _measured(ev: ProductionEvidence, drill_partner_calls_per_txn: float) -> Measured:
    return Measured(
        transactions=ev.transactions,
        succeeded=ev.succeeded,
        dead_lettered=ev.dead_lettered,
        duplicates=ev.duplicates or 0,
        attempts=ev.executions_ended,
        ok_attempts=ev.success_executions,
        # In production every execution is a run of the workflow, retries included.
        executions=ev.executions_ended,
        partner_calls=round(drill_partner_calls_per_txn * ev.transactions),
    )


def _sources(
    summary: Mapping[str, Any],
    ev: ProductionEvidence | None,
    volume_from_production: bool,
    declared: Collection[str] = ("volume_per_month",),
) -> dict[str, str]:
    drills = drill_label(summary)
    chaos = {
        "attainment_under_chaos": drills,
        "dead_letters_under_faults": drills,
        "duplicates_under_chaos": drills,
        "invariants": drills,
        "latency_under_chaos": drills,
    }
    if ev is None:
        money = f"{drills} at {_money_basis(declared)}"
        return {
            "volume_per_month": _forecast(declared),
            "success_rate": drills,
            "retries_per_txn": drills,
            "latency_p95_ms": drills,
            "partner_calls_per_txn": drills,
            "cost_per_success": money,
            "roi_payback_npv": money,
            **chaos,
        }
    prod = ev.label
    money = f"{prod}; partner calls per transaction from {drills}"
    if ev.duplicates is None:
        money += "; duplicate costs not counted (the export names no effects)"
    return {
        "volume_per_month": prod if volume_from_production else _forecast(declared),
        "success_rate": prod,
        "retries_per_txn": prod,
        "latency_p95_ms": prod,
        "production_attainment": prod,
        "duplicates_in_production": prod if ev.duplicates is not None else "not in the export",
        "partner_calls_per_txn": f"{drills} (production exports do not count partner calls)",
        "cost_per_success": money,
        "roi_payback_npv": money,
        **chaos,
    }


_DRILL_CHECKS = frozenset({"attainment", "dead_letters", "duplicates", "burn"})


def _labelled(verdict: Mapping[str, Any], drills: str, prod: str) -> list[str]:
    """The verdict's reasons, each ending in the evidence it rests on."""
    source = {}
    for c in verdict["checks"]:
        if c["name"] in _DRILL_CHECKS:
            source[c["sentence"]] = drills
        elif c["name"] == "production":
            source[c["sentence"]] = prod
        else:
            source[c["sentence"]] = f"money at {prod}"
    return [f"{r} ({source[r]})" if r in source else r for r in verdict["reasons"]]


def with_production(
    summary: Mapping[str, Any], inputs: ReviewInputs, cfg: EconomicsConfig
) -> tuple[dict[str, Any], EconomicsConfig]:
    """The drill summary with the pilot's production history folded in and labelled.

    Returns the summary the review shows and saves, and the economics settings
    its money was computed with (the production volume when the history spans
    a day or more). Without production history only the labels are added.
    """
    ev = production_evidence(inputs.history_dirs, inputs.slo.p95_ms)
    out = dict(summary)
    drills = drill_label(summary)
    if ev is None or ev.transactions == 0:
        out["evidence"] = {"drills": drills, "production": None}
        out["sources"] = _sources(summary, None, False, inputs.economics_declared)
        return out, cfg
    volume = ev.volume_per_month
    used = cfg.with_volume(volume) if volume is not None else cfg
    measured = _measured(ev, float(summary["measured"]["partner_calls_per_txn"]))
    econ = evaluate(used, measured)
    t = Thresholds.of(summary["thresholds"])
    verdict = decide(judged(drill_inputs(summary), econ, ev.transactions, ev.good), t)
    as_dict = verdict.as_dict()
    reasons = _labelled(as_dict, f"{drills}, under chaos", ev.label)
    production = {
        **ev.as_dict(),
        "attainment": ev.good / ev.transactions,
        "attainment_lb": wilson_lower(ev.good, ev.transactions, t.z),
        "declared_volume_per_month": cfg.volume_per_month,
    }
    out.update(
        decision=verdict.label,
        reasons=reasons,
        what_would_change=verdict.what_would_change,
        why_not=verdict.why_not,
        verdict={**as_dict, "reasons": reasons},
        economics=econ.as_dict(),
        production=production,
        economics_basis={
            "volume_per_month": used.volume_per_month,
            "success_rate": measured.success_rate,
            "dead_letter_rate": measured.dead_letter_rate,
            "duplicate_rate": measured.duplicate_rate,
            "billed_calls_per_txn": measured.billed_calls_per_txn(used.billing_semantics),
            "partner_calls_per_txn": measured.partner_calls_per_txn,
            "transactions": measured.transactions,
            "good": ev.good,
            # The exact counts, so the sensitivity grid's own cell is this verdict.
            "measured": {k: getattr(measured, k) for k in Measured.__dataclass_fields__},
        },
        evidence={"drills": drills, "production": ev.label},
        sources=_sources(summary, ev, volume is not None, inputs.economics_declared),
    )
    return out, used


# ---------------------------------------------------------------- what the notebook shows


def production_sentence(summary: Mapping[str, Any]) -> str:
    """What production says, or that there is none and where the figures come from."""
    p = summary.get("production")
    if not p:
        return (
            f"No production history was imported, so every figure here comes from the "
            f"{drill_label(summary)} and the monthly volume is {_volume_words(summary)} "
            "(chaoslab history import adds the weeks in production)."
        )
    text = (
        f"In production ({p['label']}), {p['succeeded']:,} of {p['transactions']:,} transactions "
        f"succeeded ({pct(p['success_rate'])}), {p['dead_lettered']:,} failed for good"
    )
    if p["in_flight"]:
        verb = "was" if p["in_flight"] == 1 else "were"
        text += f" and {p['in_flight']:,} {verb} still running when exported"
    text += (
        f"; {p['retried']:,} needed more than one execution "
        f"({p['executions_per_txn']:.2f} executions per transaction)"
    )
    slo = (summary.get("slo") or {}).get("p95_ms")
    if p["p95_ms"] is not None:
        text += f"; p95 end-to-end latency {p['p95_ms']:,.0f} ms"
        if slo:
            text += f" against the {slo:,.0f} ms SLO"
    return text + "."


def sources_sentence(summary: Mapping[str, Any]) -> str:
    """Where the money's inputs come from, said under the cost and payback figures."""
    s = summary["sources"]
    basis = summary.get("economics_basis")
    if not basis:
        return f"Money: {s['cost_per_success']}."
    p = summary["production"]
    if s["volume_per_month"] in FORECASTS:
        volume = (
            f"the pilot file's {basis['volume_per_month']:,.0f} a month (production history "
            f"covers {p['days']:.1f} days, too short for a monthly rate)"
        )
    else:
        volume = (
            f"{basis['volume_per_month']:,.0f} transactions a month as seen in production "
            f"(the pilot file forecast {p['declared_volume_per_month']:,.0f})"
        )
    return (
        f"Money at {volume}, with production's success rate ({pct(basis['success_rate'])}) and "
        f"{basis['billed_calls_per_txn']:.2f} billed calls per transaction; source: "
        f"{s['cost_per_success']}. The drills' chaos rates are not applied to production volume."
    )


def evidence_table(summary: Mapping[str, Any]) -> pd.DataFrame:
    """figure | value | source: every figure the verdict and the money rest on."""
    s = summary["sources"]
    m = summary["measured"]
    v = summary["verdict"]["metrics"]
    e = summary["economics"]
    basis = summary.get("economics_basis")
    p = summary.get("production")
    volume = basis["volume_per_month"] if basis else None
    rows: list[tuple[str, str, str]] = []
    if volume is not None:
        rows.append(("transactions a month", f"{volume:,.0f}", s["volume_per_month"]))
    if p:
        rows += [
            ("success rate", pct(p["success_rate"]), s["success_rate"]),
            ("executions per transaction", f"{p['executions_per_txn']:.2f}", s["retries_per_txn"]),
            ("attainment in production", pct(p["attainment"]), s["production_attainment"]),
        ]
        if p["p95_ms"] is not None:
            rows.append(("p95 latency", f"{p['p95_ms']:,.0f} ms", s["latency_p95_ms"]))
    else:
        rows.append(("success rate", pct(m["success_rate"]), s["success_rate"]))
    payback = e["payback_months"]
    rows += [
        (
            "cost per successful transaction",
            "unbounded" if e["cost_per_success"] is None else f"${e['cost_per_success']:,.2f}",
            s["cost_per_success"],
        ),
        ("12-month ROI", pct(e["roi_12m"]), s["roi_payback_npv"]),
        (
            "payback",
            "never" if payback is None or not np.isfinite(payback) else f"{payback:.1f} months",
            s["roi_payback_npv"],
        ),
        ("attainment under chaos", pct(v["attainment"]), s["attainment_under_chaos"]),
        (
            "dead-letter rate under faults",
            pct(m["dead_letter_rate"]),
            s["dead_letters_under_faults"],
        ),
        ("duplicate side effects under chaos", f"{m['duplicates']:,}", s["duplicates_under_chaos"]),
    ]
    held = [ok for ok in summary.get("invariants_ok", {}).values() if ok is not None]
    if held:
        rows.append(
            ("runs with every invariant holding", f"{sum(held)} of {len(held)}", s["invariants"])
        )
    return pd.DataFrame(rows, columns=["figure", "value", "source"])


def sensitivity(
    summary: Mapping[str, Any], cfg: EconomicsConfig, thresholds: Any = None
) -> pd.DataFrame:
    """The verdict over volume × failure rate, around the evidence the review judged.

    Without production history it is ``analysis.verdict_sensitivity`` on the
    drills. With it, the failure rate is production's (dead-lettered or
    duplicated transactions), money is computed at each volume from
    production's figures, and the drills' reliability gates stay as they
    are; the pilot's own cell is exactly the review's verdict.
    """
    m = summary["measured"]
    p = summary.get("production")
    if not p:
        measured = Measured(**{k: m[k] for k in Measured.__dataclass_fields__})
        return an.verdict_sensitivity(
            cfg, measured, int(m["good"]), thresholds, outcomes_known=summary["outcomes_known"]
        )
    t = Thresholds.of(thresholds if thresholds is not None else summary["thresholds"])
    b = summary["economics_basis"]
    measured = Measured(**b["measured"])
    n = measured.transactions
    drills = drill_inputs(summary)
    observed = an.observed_failure_rate(measured)
    base = round(float(cfg.volume_per_month), 6)
    vols = sorted({round(float(x), 6) for x in np.geomspace(base / 8, base * 8, 13)} | {base})
    rates = sorted(set(an.SENSITIVITY_FAILURE_RATES) | {observed})

    # Moved as the what-if moves it: production's mix, its own counts at its own rate.
    def judge(cell: Measured, good: int, econ: Economics) -> VerdictInputs:
        return judged(drills, econ, n, good)

    return an.sensitivity_grid(cfg, measured, int(b["good"]), vols, rates, judge, t)


def source_note(summary: Mapping[str, Any], figure: str) -> str:
    """One italic line under a figure naming the evidence it was drawn from."""
    return f"Source: {summary['sources'][figure]}."


def sensitivity_note(summary: Mapping[str, Any]) -> str:
    """Which evidence the flip grid moves, and which it holds still."""
    drills = drill_label(summary)
    if not summary.get("production"):
        return f"Source: {drills}; volume around {_volume_words(summary)}."
    return (
        f"Source: failure rate and money from {summary['production']['label']}; "
        f"the reliability gates under chaos stay as the {drills} measured them."
    )
