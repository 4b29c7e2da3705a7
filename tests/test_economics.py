"""Economics: the reference's §3.1 worked example, computed, and the billing semantics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from harness.inputs.pilot import EconomicsSpec, PilotError, parse_pilot
from harness.report.economics import (
    EconomicsConfig,
    EconomicsError,
    Measured,
    annuity_factor,
    evaluate,
)

# §3.1: 2,000 txns/month, 3 min saved at $44/h, $0.11 platform per txn,
# 0.5 % dead letters at 10 min each, $500/month fixed, $30,000 build.
WORKED = EconomicsConfig(
    volume_per_month=2000,
    minutes_saved_per_txn=3,
    loaded_hourly_rate=44,
    platform_cost_per_call=0.11,
    billing_semantics="every_attempt",
    minutes_per_dead_letter=10,
    fixed_monthly_cost=500,
    build_cost=30000,
    discount_rate=0.10,
    horizon_months=36,
)
WORKED_MEASURED = Measured.from_rates(dead_letter_rate=0.005, billed_calls_per_txn=1.0)


def test_worked_example_figures() -> None:
    e = evaluate(WORKED, WORKED_MEASURED)
    assert e.value_per_txn == pytest.approx(2.20)
    assert e.exception_cost_per_txn == pytest.approx(0.037, abs=0.0005)
    assert e.monthly_net_benefit == pytest.approx(3607, abs=1)
    assert e.payback_months == pytest.approx(8.3, abs=0.05)
    assert e.roi_12m == pytest.approx(0.34, abs=0.005)
    assert e.roi_horizon == pytest.approx(1.70, abs=0.01)
    assert e.npv == pytest.approx(81775, abs=5)
    # The platform fee is 5 % of the value per transaction.
    assert e.call_cost_per_txn / e.value_per_txn == pytest.approx(0.05)


def test_cost_per_success_spreads_costs_over_successes_only() -> None:
    e = evaluate(WORKED, WORKED_MEASURED)
    successes = 2000 * 0.995
    assert e.cost_per_success == pytest.approx(e.monthly_cost / successes)
    assert e.run_cost_per_success == pytest.approx((2000 * 0.11 + 500) / successes)
    assert e.exception_cost_per_success == pytest.approx(2000 * 0.005 * 44 / 6 / successes)


def test_npv_after_fix_removes_failures_and_pays_for_the_refactor() -> None:
    cfg = EconomicsConfig(**{**WORKED.__dict__, "refactor_cost": 8000})
    e = evaluate(cfg, WORKED_MEASURED)
    clean_benefit = 2000 * (2.20 - 0.11) - 500
    expected = -30000 + clean_benefit * annuity_factor(0.10 / 12, 36) - 8000
    assert e.npv_after_fix == pytest.approx(expected)
    assert e.npv_after_fix < e.npv  # the refactor costs more than 0.5 % dead letters


def test_annuity_factor() -> None:
    assert annuity_factor(0.0, 36) == 36
    assert annuity_factor(0.10 / 12, 36) == pytest.approx(30.99, abs=0.01)


def measured(**counts: int) -> Measured:
    base: dict[str, int] = dict(
        transactions=100, succeeded=100, attempts=180, ok_attempts=110, executions=100
    )
    base.update(counts)
    return Measured(**base)


@pytest.mark.parametrize(
    ("semantics", "calls_per_txn"),
    [("every_attempt", 1.8), ("successful_only", 1.1), ("per_execution", 1.0)],
)
def test_billing_semantics_choose_which_attempts_cost(semantics: str, calls_per_txn: float) -> None:
    cfg = EconomicsConfig(platform_cost_per_call=0.01, billing_semantics=semantics)
    e = evaluate(cfg, measured())
    assert e.call_cost_per_txn == pytest.approx(0.01 * calls_per_txn)


def test_partner_calls_are_priced_per_call_retries_included() -> None:
    cfg = EconomicsConfig(partner_call_price=0.02)
    e = evaluate(cfg, measured(partner_calls=250))
    assert e.call_cost_per_txn == pytest.approx(0.05)


def test_duplicates_and_lost_events_cost_money() -> None:
    cfg = EconomicsConfig(
        cost_per_duplicate=25.0, minutes_per_dead_letter=12, loaded_hourly_rate=60
    )
    e = evaluate(cfg, measured(succeeded=97, duplicates=2, lost=1))
    assert e.exception_cost_per_txn == pytest.approx(0.02 * 25 + 0.01 * 12)


def test_losing_money_never_pays_back() -> None:
    cfg = EconomicsConfig(minutes_saved_per_txn=0.1, fixed_monthly_cost=1000, build_cost=5000)
    e = evaluate(cfg, measured())
    assert e.monthly_net_benefit < 0
    assert math.isinf(e.payback_months)
    assert e.npv < -5000
    assert e.roi_12m < 0


def test_no_successes_means_unbounded_cost_per_success() -> None:
    e = evaluate(EconomicsConfig(), measured(succeeded=0, dead_lettered=100))
    assert math.isinf(e.cost_per_success)


def test_config_from_the_pilot_model_and_from_a_mapping() -> None:
    spec = EconomicsSpec(platform_cost_per_call=0.5, refactor_cost=100)
    cfg = EconomicsConfig.of(spec)
    assert cfg.platform_cost_per_call == 0.5
    assert cfg.refactor_cost == 100
    assert EconomicsConfig.of({"build_cost": 10}).build_cost == 10
    assert EconomicsConfig.of(None) == EconomicsConfig()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"build_cst": 1}, r"pilots/x\.toml \[economics\]: unknown key 'build_cst'"),
        ({"build_cost": -1}, r"build_cost: must be a finite number ≥ 0, got -1"),
        ({"build_cost": "a lot"}, r"build_cost: must be a number, got 'a lot'"),
        ({"billing_semantics": "per_task"}, r"billing_semantics: must be one of every_attempt"),
        ({"horizon_months": 0}, r"horizon_months: must be a whole number ≥ 1"),
    ],
)
def test_bad_settings_are_one_line_errors(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(EconomicsError, match=message):
        EconomicsConfig.of(settings, source="pilots/x.toml [economics]")


def test_the_pilot_file_and_the_money_share_one_economics_model() -> None:
    assert EconomicsSpec is EconomicsConfig
    pilot = {
        "pilot": {"name": "x"},
        "workflow": {"url": "http://127.0.0.1:9"},
        "webhook": {"fixtures": "events.jsonl"},
        "scenarios": {"calm": {}},
    }
    loaded = parse_pilot({**pilot, "economics": {"build_cost": 10}}, Path("x.toml"))
    assert loaded.spec.economics == EconomicsConfig(build_cost=10)
    # The same rule and wording as EconomicsConfig.of, named by file and key.
    with pytest.raises(PilotError, match=r"^x\.toml: \[economics\] build_cost: must be a finite"):
        parse_pilot({**pilot, "economics": {"build_cost": -1}}, Path("x.toml"))
    with pytest.raises(PilotError, match=r"^x\.toml: \[economics\] build_cst: unknown key"):
        parse_pilot({**pilot, "economics": {"build_cst": 1}}, Path("x.toml"))


def test_another_volume_keeps_everything_else() -> None:
    bigger = WORKED.with_volume(4000)
    assert bigger.volume_per_month == 4000
    assert bigger.model_copy(update={"volume_per_month": 2000.0}) == WORKED
    with pytest.raises(EconomicsError, match="volume_per_month: must be a finite number"):
        WORKED.with_volume(-1)


def test_measured_rejects_impossible_counts() -> None:
    with pytest.raises(EconomicsError, match="exceeds transactions"):
        Measured(transactions=10, succeeded=11)
    with pytest.raises(EconomicsError, match="dead_lettered: must be a whole number"):
        Measured(transactions=10, succeeded=5, dead_lettered=-1)
