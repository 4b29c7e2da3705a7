"""A review's money: cost per success by part, cash flow by month, and their sentences.

Beside ``economics`` (which computes the pilot's economics from what a drill
measured), this turns the summary's economics into the tables and sentences
the review shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.report.economics import EconomicsConfig, roi_meaningful
from harness.report.verdict import money, months, pct

__all__ = [
    "cash_flow",
    "cost_breakdown",
    "cost_sentence",
    "roi_cell",
    "roi_grid_note",
    "roi_sentence",
]


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
    """The cost of a success all in, by part, against doing it by hand."""
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
