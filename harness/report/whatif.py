"""What if volume doubles? The review's economics and verdict under other settings.

A PM moves four controls: monthly volume, failure rate (dead-lettered, lost or
duplicated transactions, in the mix the review's money was computed from),
loaded hourly rate and build cost. ``what_if`` recomputes the economics and
asks the verdict rule again, on the same terms as the review and its
sensitivity grid: from the drills alone (``verdict_inputs``), or, with
production history imported, production's counts for money and failure rate
beside the drills' reliability gates (``production.judged``), so the drills'
chaos rates are never applied to production volume. ``flip_points`` finds,
for each control with the others held, the nearest values on either side where
the verdict changes. Pure functions: the notebook's sliders (``whatif_view``)
only call them and draw.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from harness.report.analysis import at_failure_rate, observed_failure_rate, verdict_inputs
from harness.report.economics import Economics, EconomicsConfig, Measured, evaluate
from harness.report.production import drill_inputs, judged
from harness.report.verdict import Decision, Thresholds, Verdict, VerdictInputs, decide, money, pct

__all__ = [
    "CONTROLS",
    "Flip",
    "Outcome",
    "Scenario",
    "WhatIf",
    "baseline",
    "economics_line",
    "flip_points",
    "flips_sentence",
    "shown",
    "what_if",
]

# The controls, in the order the notebook shows them.
CONTROLS = ("volume_per_month", "failure_rate", "loaded_hourly_rate", "build_cost")
FAILURE_RATE_MAX = 0.5  # past half the transactions failing nobody is asking "what if"
SPAN = 1000.0  # how far volume, hourly rate and build cost are walked, either way
BISECTIONS = 40


@dataclass(frozen=True)
class Scenario:
    """One setting of the four controls."""

    volume_per_month: float
    failure_rate: float
    loaded_hourly_rate: float
    build_cost: float

    def get(self, control: str) -> float:
        return float(getattr(self, control))

    def but(self, control: str, value: float) -> Scenario:
        if control not in CONTROLS:
            raise ValueError(f"unknown what-if control {control!r} (known: {', '.join(CONTROLS)})")
        return replace(self, **{control: float(value)})


@dataclass(frozen=True)
class WhatIf:
    """The review's inputs, fixed: the counts its money rests on and the pilot's settings."""

    cfg: EconomicsConfig
    measured: Measured  # the drills', or production's when it was imported
    good: int
    thresholds: Thresholds
    outcomes_known: bool = True
    # With production history: the drills' reliability as the review judged it.
    drills: VerdictInputs | None = None

    @classmethod
    def of(
        cls,
        cfg: Any,
        measured: Measured | Mapping[str, Any],
        good: int,
        thresholds: Thresholds | Mapping[str, float] | None = None,
        *,
        outcomes_known: bool = True,
        drills: VerdictInputs | None = None,
    ) -> WhatIf:
        """From the review's pieces; ``measured`` may be the summary's ``measured`` block."""
        if not isinstance(measured, Measured):
            measured = Measured(**{k: int(measured[k]) for k in Measured.__dataclass_fields__})
        return cls(
            EconomicsConfig.of(cfg),
            measured,
            int(good),
            Thresholds.of(thresholds),
            outcomes_known,
            drills,
        )

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any], cfg: Any) -> WhatIf:
        """From the review's summary and the economics its money used (``with_production``'s)."""
        known = summary.get("outcomes_known", True) is not False
        basis = summary.get("economics_basis")
        if basis:  # production history: its counts move, the drills' gates stay
            return cls.of(
                cfg,
                basis["measured"],
                int(basis["good"]),
                summary["thresholds"],
                outcomes_known=known,
                drills=drill_inputs(summary),
            )
        m = summary["measured"]
        return cls.of(cfg, m, int(m["good"]), summary["thresholds"], outcomes_known=known)


@dataclass(frozen=True)
class Outcome:
    """The money and the verdict at one setting of the controls."""

    scenario: Scenario
    cfg: EconomicsConfig
    economics: Economics
    verdict: Verdict

    @property
    def decision(self) -> str:
        return self.verdict.label


def baseline(base: WhatIf) -> Scenario:
    """The controls where the review has them: its volume and settings, its failure rate."""
    return Scenario(
        volume_per_month=base.cfg.volume_per_month,
        failure_rate=observed_failure_rate(base.measured),
        loaded_hourly_rate=base.cfg.loaded_hourly_rate,
        build_cost=base.cfg.build_cost,
    )


def what_if(base: WhatIf, scenario: Scenario | None = None, **overrides: float) -> Outcome:
    """The economics and verdict at ``scenario`` (default: the review's own), with overrides.

    At the baseline it gives exactly the review's verdict.
    """
    s = scenario or baseline(base)
    for control, value in overrides.items():
        s = s.but(control, value)
    if not 0 <= s.failure_rate <= 1:
        raise ValueError(f"failure_rate: must be between 0 and 1, got {s.failure_rate}")
    cfg = EconomicsConfig.of(
        {
            **base.cfg.model_dump(),
            "volume_per_month": s.volume_per_month,
            "loaded_hourly_rate": s.loaded_hourly_rate,
            "build_cost": s.build_cost,
        },
        "what-if",
    )
    cell, good = at_failure_rate(base.measured, base.good, s.failure_rate, cfg.billing_semantics)
    econ = evaluate(cfg, cell)
    n = base.measured.transactions
    if base.drills is None:
        inputs = verdict_inputs(
            cell, good, econ, transactions=n, outcomes_known=base.outcomes_known
        )
    else:
        inputs = judged(base.drills, econ, n, good)
    return Outcome(s, cfg, econ, decide(inputs, base.thresholds))


# ---------------------------------------------------------------- where the verdict flips


@dataclass(frozen=True)
class Flip:
    """Moving ``control`` from its value to ``value`` turns ``before`` into ``after``.

    ``inside`` is the last value found that still gives ``before``; the rule's
    line lies between it and ``value``.
    """

    control: str
    direction: str  # "up" | "down"
    inside: float
    value: float
    before: str
    after: str


def _candidates(control: str, here: float, direction: str) -> Iterator[float]:
    """Values to try, nearest first, out to where the question stops being sensible."""
    up = direction == "up"
    if control == "failure_rate":
        step = 0.0005
        x = here
        while True:
            x = x + step if up else x - step
            if x > FAILURE_RATE_MAX or x < 0:
                if not up and here > 0:
                    yield 0.0
                return
            yield x
            step *= 1.5
    if here <= 0:
        # Nothing to scale from (no build cost, say): double up from a small amount.
        if up:
            unit = 1000.0 if control == "build_cost" else 1.0
            yield from (unit * 2**k for k in range(24))
        return
    # Volume, hourly rate and a positive build cost: a geometric walk, ×/÷ 1.1 growing,
    # out to a thousandfold either way.
    factor = 1.1
    x = here
    while here / SPAN <= x <= here * SPAN:
        x = x * factor if up else x / factor
        yield x
        factor = min(factor * 1.25, 4.0)
    if not up and control == "build_cost":
        yield 0.0


def _edge(
    base: WhatIf, s: Scenario, control: str, inside: float, outside: float, before: str
) -> tuple[float, float, Outcome]:
    """Bisect between a value giving ``before`` and one that does not."""
    other = what_if(base, s.but(control, outside))
    for _ in range(BISECTIONS):
        mid = (inside + outside) / 2
        if mid in (inside, outside):
            break
        at = what_if(base, s.but(control, mid))
        if at.decision == before:
            inside = mid
        else:
            outside, other = mid, at
        if abs(outside - inside) <= 1e-4 * max(abs(inside), abs(outside), 1e-6):
            break
    return inside, outside, other


def flip_points(
    base: WhatIf, scenario: Scenario | None = None, controls: Sequence[str] = CONTROLS
) -> list[Flip]:
    """For each control, the nearest value below and above where the verdict changes.

    The others stay at ``scenario``. A control along which the verdict never
    changes (within sensible ranges) gives no flip in that direction.
    """
    s = scenario or baseline(base)
    before = what_if(base, s).decision
    flips: list[Flip] = []
    for control in controls:
        here = s.get(control)
        for direction in ("down", "up"):
            inside = here
            for x in _candidates(control, here, direction):
                at = what_if(base, s.but(control, x))
                if at.decision != before:
                    lo, hi, other = _edge(base, s, control, inside, x, before)
                    flips.append(Flip(control, direction, lo, hi, before, other.decision))
                    break
                inside = x
    return flips


_WORDS = {
    "volume_per_month": "volume",
    "failure_rate": "the failure rate",
    "loaded_hourly_rate": "the loaded hourly rate",
    "build_cost": "the build cost",
}


def shown(control: str, value: float) -> str:
    """A control's value as people read it."""
    if control == "volume_per_month":
        return f"{value:,.0f} a month"
    if control == "failure_rate":
        return pct(round(value, 5))
    if control == "loaded_hourly_rate":
        return f"${value:,.2f} an hour"
    return money(value).lstrip("+")


def flips_sentence(flips: Sequence[Flip], current: Outcome) -> str:
    """``The verdict is REFACTOR; it becomes PROMOTE from volume 4,100 a month, …``."""
    head = f"The verdict here is {current.decision}"
    if current.verdict.decision is Decision.INSUFFICIENT_DATA and not flips:
        return head + ": none of these controls adds evidence; only more drilled transactions do."
    if not flips:
        return head + "; it stays the same across every control's range."
    parts = []
    for f in flips:
        if f.control == "build_cost" and f.direction == "down" and f.value == 0:
            parts.append(f"{f.after} only with no build cost")
            continue
        move = "reaches" if f.direction == "up" else "falls to"
        parts.append(f"{f.after} once {_WORDS[f.control]} {move} {shown(f.control, f.value)}")
    return head + "; it becomes " + "; ".join(parts) + " (one control at a time)."


def economics_line(o: Outcome) -> str:
    """The money at a setting, in one line."""
    e = o.economics
    cost = "unbounded" if math.isinf(e.cost_per_success) else f"${e.cost_per_success:,.2f}"
    payback = "never" if math.isinf(e.payback_months) else f"{e.payback_months:.1f} months"
    return (
        f"{o.decision}: cost per transaction {cost}, 12-month ROI {pct(e.roi_12m)}, "
        f"payback {payback}, NPV {money(e.npv)}"
    )
