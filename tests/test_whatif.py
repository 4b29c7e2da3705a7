"""What-if: the review's economics and verdict under other settings, and where it flips.

Plain data only: hand-made counts and the reference pilot's economics. The
flip points are checked against the verdict rule itself, on both sides.
"""

from __future__ import annotations

import math

import pytest

from harness.report.analysis import verdict_sensitivity
from harness.report.economics import EconomicsConfig, Measured
from harness.report.whatif import (
    CONTROLS,
    WhatIf,
    baseline,
    flip_points,
    flips_sentence,
    what_if,
)

ECONOMICS = {
    "volume_per_month": 2000,
    "minutes_saved_per_txn": 3.0,
    "loaded_hourly_rate": 44.0,
    "platform_cost_per_call": 0.00013,
    "partner_call_price": 0.01,
    "minutes_per_dead_letter": 10,
    "cost_per_duplicate": 25.0,
    "fixed_monthly_cost": 500,
    "build_cost": 30000,
    "refactor_cost": 8000,
}
THRESHOLDS = {"min_txns": 300}


def _base(dead: int = 0, duplicates: int = 0, transactions: int = 2000) -> WhatIf:
    measured = Measured(
        transactions=transactions,
        succeeded=transactions - dead - duplicates,
        dead_lettered=dead,
        duplicates=duplicates,
        attempts=int(transactions * 1.1),
        ok_attempts=transactions,
        executions=transactions,
        partner_calls=transactions,
    )
    return WhatIf.of(ECONOMICS, measured, transactions - dead - duplicates, THRESHOLDS)


def test_the_baseline_is_the_reviews_own_verdict() -> None:
    for base in (_base(), _base(dead=1), _base(dead=40), _base(duplicates=3)):
        here = what_if(base)
        grid = verdict_sensitivity(
            base.cfg, base.measured, base.good, base.thresholds, volumes=[], failure_rates=[]
        )
        current = grid[grid["current"]].iloc[0]
        assert here.decision == current["decision"]
        assert here.economics.roi_12m == pytest.approx(current["roi_12m"])
        assert here.scenario == baseline(base)


def test_each_control_moves_the_money_the_right_way() -> None:
    base = _base(dead=2)
    here = what_if(base).economics
    doubled = what_if(base, volume_per_month=4000).economics
    assert doubled.monthly_net_benefit > 2 * here.monthly_net_benefit - 1  # fixed cost shared
    assert doubled.roi_12m > here.roi_12m
    assert what_if(base, failure_rate=0.05).economics.npv < here.npv
    assert what_if(base, loaded_hourly_rate=88).economics.value_per_txn == pytest.approx(4.4)
    assert what_if(base, build_cost=0).economics.payback_months == 0
    assert what_if(base, build_cost=60000).economics.payback_months > here.payback_months
    with pytest.raises(ValueError, match="unknown what-if control 'speed'"):
        what_if(base, speed=2)
    with pytest.raises(ValueError, match="failure_rate: must be between 0 and 1"):
        what_if(base, failure_rate=1.5)


def test_flip_points_are_where_the_rule_changes_its_answer() -> None:
    for base in (_base(), _base(dead=4), _base(dead=200)):
        s = baseline(base)
        before = what_if(base).decision
        flips = flip_points(base)
        assert flips, f"no flip found from {before}"
        for f in flips:
            assert f.before == before
            assert what_if(base, s.but(f.control, f.inside)).decision == before
            assert what_if(base, s.but(f.control, f.value)).decision == f.after != before
            # The line is pinned down: the two sides are close together.
            assert abs(f.value - f.inside) <= 1e-3 * max(abs(f.value), 1.0)
            assert (f.value > s.get(f.control)) == (f.direction == "up")


def test_a_promoted_pilot_flips_with_volume_and_failures() -> None:
    base = _base()
    assert what_if(base).decision == "PROMOTE"
    flips = {(f.control, f.direction): f for f in flip_points(base)}
    assert flips[("failure_rate", "up")].after == "REFACTOR"
    less = flips[("volume_per_month", "down")]
    assert less.after in {"REFACTOR", "RETIRE"} and less.value < 2000
    assert ("volume_per_month", "up") not in flips  # more volume only earns more
    sentence = flips_sentence(list(flips.values()), what_if(base))
    assert sentence.startswith("The verdict here is PROMOTE; it becomes ")
    assert f"once volume falls to {less.value:,.0f} a month" in sentence


def test_no_verdict_cannot_be_moved_by_the_controls() -> None:
    base = _base(transactions=100)
    here = what_if(base)
    assert here.decision == "NEEDS MORE EVIDENCE"
    # Money adds no evidence; failures decide a small record at once (they cannot be undone).
    flips = flip_points(base)
    assert [(f.control, f.after) for f in flips] == [("failure_rate", "REFACTOR")]
    assert "only more drilled transactions do" in flips_sentence([], here)
    assert "it becomes REFACTOR once" in flips_sentence(flips, here)


def test_controls_are_the_four_the_pm_asked_for() -> None:
    assert CONTROLS == ("volume_per_month", "failure_rate", "loaded_hourly_rate", "build_cost")
    assert EconomicsConfig.of(ECONOMICS).build_cost == baseline(_base()).build_cost


@pytest.mark.slow
def test_the_sliders_redraw_through_what_if(monkeypatch: pytest.MonkeyPatch) -> None:
    """The JupyterLab controls, built outside a kernel (ipywidgets is in the test extra)."""
    import matplotlib

    matplotlib.use("Agg")
    from harness.report import whatif_view

    base = _base(dead=2)
    summary = {
        "measured": {k: getattr(base.measured, k) for k in Measured.__dataclass_fields__}
        | {"good": base.good},
        "thresholds": THRESHOLDS,
        "outcomes_known": True,
        "runs": 1,
    }
    calls: list[float] = []
    real = whatif_view.wi.what_if

    def spy(*args: object, **kwargs: float) -> object:
        calls.append(kwargs.get("volume_per_month", math.nan))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(whatif_view.wi, "what_if", spy)
    box = whatif_view.show_controls(summary, ECONOMICS)
    volume = box.children[0]
    assert [c.description for c in box.children[:4]] == [
        "volume a month",
        "failure rate",
        "loaded hourly rate $",
        "build cost $",
    ]
    volume.value = 4000.0
    assert 4000.0 in calls  # moving the slider asked what_if again
    monkeypatch.setattr(whatif_view, "available", lambda: False)
    assert whatif_view.show_controls(summary, ECONOMICS) is None


def test_controls_at_zero_still_find_their_flips() -> None:
    base = _base()
    for control in ("volume_per_month", "loaded_hourly_rate", "build_cost"):
        s = baseline(base).but(control, 0.0)
        flips = flip_points(base, s, controls=[control])
        assert all(f.direction == "up" for f in flips)
        for f in flips:
            assert what_if(base, s.but(control, f.inside)).decision == f.before
            assert what_if(base, s.but(control, f.value)).decision == f.after
    # With no volume nothing is earned (RETIRE). Nothing fails, so there is nothing to
    # refactor: the first flip up is straight to PROMOTE.
    none = flip_points(base, baseline(base).but("volume_per_month", 0.0), ["volume_per_month"])
    assert [(f.before, f.after) for f in none] == [("RETIRE", "PROMOTE")]
