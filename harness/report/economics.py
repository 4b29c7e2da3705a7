"""Pilot economics: what a workflow is worth per month, given how it behaved under chaos.

All money is in the pilot's currency (USD in the reference pilot), per month
unless named otherwise. ``N`` is ``volume_per_month``, the business
transactions the workflow would handle in production.

    V      = minutes_saved_per_txn / 60 × loaded_hourly_rate        value of one transaction
    C_call = platform_cost_per_call × billed calls per txn
           + partner_call_price × partner calls per txn              what running one costs
    C_exc  = (dead-letter rate + lost rate) × minutes_per_dead_letter / 60 × loaded_hourly_rate
           + duplicate rate × cost_per_duplicate                     what its failures cost
    B      = N × (V − C_call − C_exc) − fixed_monthly_cost           net monthly benefit
    ROI_H  = (H·N·V − (build + H·cost)) / (build + H·cost),  cost = N·(C_call + C_exc) + fixed
    payback = build_cost / B  (∞ when B ≤ 0)
    NPV    = −build_cost + Σ_{t=1..H} B / (1 + r/12)^t

Value accrues on every transaction and a failed one is charged the human
time to fix it: a dead letter that takes 10 minutes by hand where the manual
process took 3 leaves the business 7 minutes worse off, which is exactly
``V − C_exc`` for that item. The rates come from drills (``Measured``); which
delivery attempts the platform bills for is ``billing_semantics``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from harness.inputs.economics import BILLING_SEMANTICS, EconomicsConfig, EconomicsError

# The [economics] table's model is the pilot file's (harness.inputs.economics);
# it is named here too because every computation below takes one.
__all__ = [
    "BILLING_SEMANTICS",
    "Economics",
    "EconomicsConfig",
    "EconomicsError",
    "Measured",
    "annuity_factor",
    "evaluate",
]


@dataclass(frozen=True)
class Measured:
    """What the drills saw, as counts over ``transactions`` business transactions.

    ``succeeded``: ended well (processed, superseded or deduplicated), not
    dead-lettered, no duplicate side effect. ``executions``: events the
    workflow ran at least once. ``partner_calls``: every request the partner
    received, retries included.
    """

    transactions: int
    succeeded: int
    dead_lettered: int = 0
    lost: int = 0
    duplicates: int = 0
    attempts: int = 0
    ok_attempts: int = 0
    executions: int = 0
    partner_calls: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise EconomicsError(
                    f"measured {f.name}: must be a whole number ≥ 0, got {value!r}"
                )
        if self.succeeded > self.transactions:
            raise EconomicsError(
                f"measured succeeded ({self.succeeded}) exceeds transactions ({self.transactions})"
            )

    @classmethod
    def from_rates(
        cls,
        *,
        dead_letter_rate: float = 0.0,
        duplicate_rate: float = 0.0,
        lost_rate: float = 0.0,
        billed_calls_per_txn: float = 1.0,
        partner_calls_per_txn: float = 0.0,
        transactions: int = 1_000_000,
    ) -> Measured:
        """Counts that reproduce the given rates (for planning and for the docs' examples).

        The billed calls are entered as ``attempts``, ``ok_attempts`` and
        ``executions`` alike, so the rate holds for every billing semantics.
        """
        n = transactions
        failed = round((dead_letter_rate + lost_rate) * n)
        calls = round(billed_calls_per_txn * n)
        return cls(
            transactions=n,
            succeeded=max(0, n - failed - round(duplicate_rate * n)),
            dead_lettered=round(dead_letter_rate * n),
            lost=round(lost_rate * n),
            duplicates=round(duplicate_rate * n),
            attempts=calls,
            ok_attempts=calls,
            executions=calls,
            partner_calls=round(partner_calls_per_txn * n),
        )

    def _per_txn(self, count: int) -> float:
        return count / self.transactions if self.transactions else 0.0

    @property
    def success_rate(self) -> float:
        return self._per_txn(self.succeeded)

    @property
    def dead_letter_rate(self) -> float:
        return self._per_txn(self.dead_lettered)

    @property
    def lost_rate(self) -> float:
        return self._per_txn(self.lost)

    @property
    def duplicate_rate(self) -> float:
        return self._per_txn(self.duplicates)

    @property
    def partner_calls_per_txn(self) -> float:
        return self._per_txn(self.partner_calls)

    def billed_calls_per_txn(self, semantics: str) -> float:
        billed = {
            "every_attempt": self.attempts,
            "successful_only": self.ok_attempts,
            "per_execution": self.executions,
        }
        if semantics not in billed:
            raise EconomicsError(
                f"billing_semantics: must be one of {', '.join(BILLING_SEMANTICS)}, "
                f"got {semantics!r}"
            )
        return self._per_txn(billed[semantics])


@dataclass(frozen=True)
class Economics:
    """The money side of one pilot, per month unless named otherwise."""

    value_per_txn: float
    call_cost_per_txn: float
    exception_cost_per_txn: float
    run_cost_per_success: float  # (calls + fixed) per successful transaction
    exception_cost_per_success: float
    cost_per_success: float  # everything it costs to run, per successful transaction
    monthly_value: float
    monthly_cost: float
    monthly_net_benefit: float
    roi_12m: float
    roi_horizon: float
    payback_months: float
    npv: float
    npv_after_fix: float
    horizon_months: int
    discount_rate: float

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


def roi_meaningful(cfg: EconomicsConfig) -> bool:
    """Whether ROI and payback measure anything: they are returns on a build cost.

    With none, ROI is only monthly value over running cost, the same at every
    volume (77,021 % in every cell of a grid), and payback is immediate.
    """
    return cfg.build_cost > 0


def annuity_factor(monthly_rate: float, months: int) -> float:
    """Σ_{t=1..months} 1 / (1 + monthly_rate)^t."""
    if monthly_rate == 0:
        return float(months)
    return (1.0 - (1.0 + monthly_rate) ** -months) / monthly_rate


def _roi(cfg: EconomicsConfig, monthly_value: float, monthly_cost: float, months: int) -> float:
    costs = cfg.build_cost + months * monthly_cost
    if costs == 0:
        return math.inf if monthly_value > 0 else 0.0
    return (months * monthly_value - costs) / costs


def _monthly(cfg: EconomicsConfig, measured: Measured) -> tuple[float, float, float, float]:
    """(value, call cost per txn, exception cost per txn, total cost) for one month."""
    call = (
        cfg.platform_cost_per_call * measured.billed_calls_per_txn(cfg.billing_semantics)
        + cfg.partner_call_price * measured.partner_calls_per_txn
    )
    exception = (
        measured.dead_letter_rate + measured.lost_rate
    ) * cfg.dead_letter_cost + measured.duplicate_rate * cfg.cost_per_duplicate
    n = cfg.volume_per_month
    return n * cfg.value_per_txn, call, exception, n * (call + exception) + cfg.fixed_monthly_cost


def _npv(cfg: EconomicsConfig, benefit: float) -> float:
    return -cfg.build_cost + benefit * annuity_factor(cfg.discount_rate / 12.0, cfg.horizon_months)


def evaluate(cfg: EconomicsConfig | Mapping[str, Any], measured: Measured) -> Economics:
    """Cost per successful transaction, monthly net benefit, ROI, payback and NPV.

    ``npv_after_fix`` assumes the reliability defects are repaired (no dead
    letters, losses or duplicates; call volume as measured) and subtracts
    ``refactor_cost``: it answers "would a fixed version pay back?".
    """
    cfg = EconomicsConfig.of(cfg)
    value, call, exception, cost = _monthly(cfg, measured)
    benefit = value - cost
    successes = cfg.volume_per_month * measured.success_rate
    n = cfg.volume_per_month

    def per_success(amount: float) -> float:
        return amount / successes if successes > 0 else math.inf

    fixed = replace(
        measured, dead_lettered=0, lost=0, duplicates=0, succeeded=measured.transactions
    )
    fixed_value, _, _, fixed_cost = _monthly(cfg, fixed)
    if benefit > 0:
        payback = cfg.build_cost / benefit
    else:
        payback = math.inf
    return Economics(
        value_per_txn=cfg.value_per_txn,
        call_cost_per_txn=call,
        exception_cost_per_txn=exception,
        run_cost_per_success=per_success(n * call + cfg.fixed_monthly_cost),
        exception_cost_per_success=per_success(n * exception),
        cost_per_success=per_success(cost),
        monthly_value=value,
        monthly_cost=cost,
        monthly_net_benefit=benefit,
        roi_12m=_roi(cfg, value, cost, 12),
        roi_horizon=_roi(cfg, value, cost, cfg.horizon_months),
        payback_months=payback,
        npv=_npv(cfg, benefit),
        npv_after_fix=_npv(cfg, fixed_value - fixed_cost) - cfg.refactor_cost,
        horizon_months=cfg.horizon_months,
        discount_rate=cfg.discount_rate,
    )
