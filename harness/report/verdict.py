"""The verdict: promote, refactor or retire a pilot, with its reasons.

A pure function of measured reliability and computed economics, so every
case of the rule is a row in a table test. Each check is one small function
in ``RULES`` (Jepsen's composed checkers are the model); ``decide`` runs them
and applies the rule, with the defaults of ``Thresholds``:

1. fewer than ``min_txns`` transactions and no failure seen: NEEDS MORE
   EVIDENCE, with how many transactions would do. A failure already seen (a
   duplicate, a dead letter, a lost transaction, attainment observed under
   target) is a fact more volume cannot undo, so it is judged at once.
2. reliable  = attainment lower bound ≥ slo_target ∧ dead letters ≤ dlq_promote
               ∧ duplicates ≤ dup_promote ∧ chaos burn ≤ max_chaos_burn
3. pays      = ROI(12 m) ≥ roi_min ∧ payback ≤ payback_promote_m ∧ NPV > 0
4. hopeless  = payback > payback_retire_m ∨ NPV after the fix ≤ 0
5. PROMOTE if reliable ∧ pays; RETIRE if hopeless; otherwise REFACTOR
6. a flawless record (every transaction good) is never REFACTOR: short of
   the evidence its bound needs it NEEDS MORE EVIDENCE, and if it does not
   pay it is RETIRE, since a refactor would have nothing to fix
7. a second REFACTOR in a row becomes RETIRE unless NPV after the fix went up

Attainment is judged by its one-sided Wilson lower bound, so a small drill
cannot promote on luck. The severe lines for dead letters, duplicates and
attainment (``dlq_retire``, ``dup_retire_rate``, ``slo_floor``) do not decide
anything on their own: they scale how heavily a miss weighs among the
reasons, and the verdict's ``why_not`` says so when one is crossed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from harness.inputs.thresholds import Thresholds, ThresholdsSpec, VerdictError
from harness.wording import money, months, pct

# The table's model (inputs.thresholds) and the wording of figures (harness.wording)
# are named here too: every check below is written with them.
__all__ = [
    "Check",
    "Decision",
    "PriorReview",
    "Thresholds",
    "ThresholdsSpec",
    "Verdict",
    "VerdictError",
    "VerdictInputs",
    "decide",
    "money",
    "months",
    "pct",
    "transactions_needed",
    "wilson_lower",
]


class Decision(StrEnum):
    """The verdict a review gives a pilot."""

    PROMOTE = "PROMOTE"
    REFACTOR = "REFACTOR"
    RETIRE = "RETIRE"
    # The reference calls it INSUFFICIENT_DATA; people read what to do about it.
    INSUFFICIENT_DATA = "NEEDS MORE EVIDENCE"

    @classmethod
    def _missing_(cls, value: object) -> Decision | None:
        # Verdict logs written before the rename say "NO VERDICT".
        return cls.INSUFFICIENT_DATA if value == "NO VERDICT" else None


@dataclass(frozen=True)
class VerdictInputs:
    """Measured reliability plus the economics that follow from it."""

    transactions: int
    good: int  # ended well, within the latency target, no duplicate effect
    dead_letter_rate: float
    duplicate_rate: float
    roi_12m: float
    payback_months: float
    npv: float
    npv_after_fix: float
    horizon_months: int = 36
    # Events that never reached a terminal outcome: worse than a dead letter, since
    # nobody is told. They count against the same limit.
    lost_rate: float = 0.0
    # False when the workflow reports no outcomes: dead_letter_rate is then not a
    # measurement (it reads 0) and the reasons must say so rather than claim 0 %.
    dead_letters_known: bool = True
    # Production history, when imported: its transactions and the good ones among
    # them. Judged against the same target as attainment under chaos.
    production_transactions: int = 0
    production_good: int = 0


@dataclass(frozen=True)
class PriorReview:
    """The previous review of the same pilot, for the two-REFACTORs rule."""

    decision: Decision | str
    npv_after_fix: float


@dataclass(frozen=True)
class Check:
    name: str
    group: str  # "reliability" | "economics" | "retire"
    ok: bool
    value: float
    threshold: float
    # How far past its line, in units of the gap between its promote and
    # retire lines (1.0 = at the retire line); negative when it passes.
    weight: float
    sentence: str
    flip: str  # what crossing the line would mean, as a "… if …" clause
    # Failing only for want of volume: what was observed meets the line.
    volume_only: bool = False


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reasons: list[str]
    what_would_change: list[str]
    checks: list[Check] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    # For each verdict it is not, the sentence that rules it out.
    why_not: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.decision.value

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.label,
            "reasons": list(self.reasons),
            "what_would_change": list(self.what_would_change),
            "why_not": dict(self.why_not),
            "metrics": dict(self.metrics),
            "checks": [
                {
                    "name": c.name,
                    "group": c.group,
                    "ok": c.ok,
                    "value": c.value,
                    "threshold": c.threshold,
                    "sentence": c.sentence,
                }
                for c in self.checks
            ],
        }


# ---------------------------------------------------------------- statistics


def wilson_lower(good: float, n: float, z: float = 1.645) -> float:
    """One-sided Wilson score lower bound for a proportion good/n (0 when n = 0)."""
    if n <= 0:
        return 0.0
    p = good / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z2 / n))


def transactions_needed(rate: float, target: float, z: float = 1.645) -> int | None:
    """Smallest n at which an observed ``rate`` has a Wilson lower bound ≥ ``target``.

    None when no sample size can do it (the rate itself is at or below the target).
    """
    if rate <= target or rate > 1:
        return None
    hi = 1
    while wilson_lower(rate * hi, hi, z) < target:
        hi *= 2
        if hi > 10**12:
            return None
    lo = hi // 2
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if wilson_lower(rate * mid, mid, z) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def _gap(value: float, line: float, other: float) -> float:
    """Distance past ``line`` towards ``other``, in units of their gap."""
    span = abs(other - line)
    if span == 0:
        span = max(abs(line), 1e-9)
    return (value - line) / span if other >= line else (line - value) / span


# ---------------------------------------------------------------- the rules, one function each


@dataclass(frozen=True)
class Judged:
    """What every rule reads: the inputs, the thresholds and the attainment figures."""

    inputs: VerdictInputs
    thresholds: Thresholds
    attainment: float  # good / transactions
    attainment_lb: float  # its one-sided Wilson lower bound
    burn: float  # how fast the error budget burns under chaos

    @property
    def flawless(self) -> bool:
        """Every transaction good: nothing failed, so a refactor would have nothing to fix."""
        i = self.inputs
        return (
            i.transactions > 0
            and i.good == i.transactions
            and i.dead_letter_rate == 0
            and i.lost_rate == 0
            and i.duplicate_rate == 0
        )


def attainment_check(judged: Judged) -> Check:
    """Good transactions under chaos, judged by the lower bound so luck cannot promote."""
    t, lb, p = judged.thresholds, judged.attainment_lb, judged.attainment
    ok = lb >= t.slo_target
    floor = f", under the {pct(t.slo_floor)} floor" if lb < t.slo_floor else ""
    return Check(
        name="attainment",
        group="reliability",
        ok=ok,
        value=lb,
        threshold=t.slo_target,
        weight=_gap(lb, t.slo_target, t.slo_floor),
        sentence=(
            f"SLO attainment under chaos is at least {pct(lb)} (one-sided 95 % bound; "
            f"{pct(p)} observed over {judged.inputs.transactions:,} transactions), "
            + (
                f"meeting the {pct(t.slo_target)} target"
                if ok
                else f"short of the {pct(t.slo_target)} target{floor}"
            )
        ),
        flip=(
            f"the attainment lower bound {'falls below' if ok else 'reaches'} "
            f"{pct(t.slo_target)} (now {pct(lb)})"
        ),
        # Observed at or above the target: only more transactions can lift the bound.
        volume_only=not ok and p >= t.slo_target,
    )


def dead_letters_check(judged: Judged) -> Check:
    """Dead-lettered and lost transactions together, against one limit."""
    i, t = judged.inputs, judged.thresholds
    dlq = i.dead_letter_rate + i.lost_rate
    ok = dlq <= t.dlq_promote
    severe = (
        f"; above {pct(t.dlq_retire)}, which the rule weighs as severe"
        if (dlq > t.dlq_retire)
        else ""
    )
    limit = (
        f"within the {pct(t.dlq_promote)} limit"
        if ok
        else f"above the {pct(t.dlq_promote)} limit{severe}"
    )
    weight = _gap(dlq, t.dlq_promote, t.dlq_retire)
    if i.dead_letters_known:
        # Named "dead-letter rate" unless events were lost too, then both are named.
        what = "the dead-lettered-or-lost rate" if i.lost_rate else "the dead-letter rate"
        sentence = (
            f"{what.removeprefix('the ').capitalize()} is {pct(dlq)}"
            + (f" ({pct(i.lost_rate)} lost without a trace), " if i.lost_rate else ", ")
            + limit
        )
    else:
        what = "the lost rate"
        sentence = (
            "Dead letters are unknown (the workflow reports no outcomes); "
            f"{pct(i.lost_rate)} of transactions were lost without a trace, {limit}"
        )
        # Unknown is no better than at the line: it ranks first among passing checks.
        weight = max(weight, 0.0)
    return Check(
        name="dead_letters",
        group="reliability",
        ok=ok,
        value=dlq,
        threshold=t.dlq_promote,
        weight=weight,
        sentence=sentence,
        flip=(
            f"{what} rises above {pct(t.dlq_promote)}"
            if ok
            else f"{what} falls to {pct(t.dlq_promote)} or below"
        )
        + f" (now {pct(dlq)})",
    )


def duplicates_check(judged: Judged) -> Check:
    """Duplicate side effects: by default promotion allows none."""
    t, dup = judged.thresholds, judged.inputs.duplicate_rate
    ok = dup <= t.dup_promote
    if dup == 0:
        sentence = "No duplicate side effects"
    else:
        sentence = f"Duplicate side effects hit {pct(dup)} of transactions"
        if not ok:
            sentence += (
                "; promotion allows none"
                if t.dup_promote == 0
                else f", above the {pct(t.dup_promote)} limit"
            )
        if dup > t.dup_retire_rate:
            sentence += f"; above {pct(t.dup_retire_rate)}, which the rule weighs as severe"
    if ok:
        flip = (
            "any duplicate side effect appears"
            if t.dup_promote == 0
            else f"duplicate side effects exceed {pct(t.dup_promote)} (now {pct(dup)})"
        )
    else:
        flip = (
            f"duplicate side effects stop entirely (now {pct(dup)})"
            if t.dup_promote == 0
            else f"duplicate side effects fall to {pct(t.dup_promote)} or below (now {pct(dup)})"
        )
    return Check(
        name="duplicates",
        group="reliability",
        ok=ok,
        value=dup,
        threshold=t.dup_promote,
        weight=_gap(dup, t.dup_promote, t.dup_retire_rate),
        sentence=sentence,
        flip=flip,
    )


def burn_check(judged: Judged) -> Check:
    """How fast the error budget would burn if the drills' faults happened in production."""
    limit, burn = judged.thresholds.max_chaos_burn, judged.burn
    ok = burn <= limit
    return Check(
        name="burn",
        group="reliability",
        ok=ok,
        value=burn,
        threshold=limit,
        weight=_gap(burn, limit, 2 * limit),
        sentence=f"Under chaos the error budget burns at {burn:.1f}×"
        + (f" (limit {limit:g}×)" if ok else f", above the {limit:g}× limit"),
        flip=(
            f"the chaos burn rate exceeds {limit:g}×"
            if ok
            else f"the chaos burn rate falls to {limit:g}× or less"
        )
        + f" (now {burn:.1f}×)",
    )


def production_check(judged: Judged) -> Check | None:
    """Attainment in production, the weeks it really ran, beside the drills' chaos."""
    i, t = judged.inputs, judged.thresholds
    n = i.production_transactions
    if n <= 0:
        return None
    p = i.production_good / n
    lb = wilson_lower(i.production_good, n, t.z)
    ok = lb >= t.slo_target
    return Check(
        name="production",
        group="reliability",
        ok=ok,
        value=lb,
        threshold=t.slo_target,
        weight=_gap(lb, t.slo_target, t.slo_floor),
        sentence=f"In production {pct(p)} of {n:,} transactions were good (at least {pct(lb)} "
        "with 95 % confidence), "
        + ("meeting" if ok else "short of")
        + f" the {pct(t.slo_target)} target",
        flip=f"production attainment's lower bound {'falls below' if ok else 'reaches'} "
        f"{pct(t.slo_target)} (now {pct(lb)})",
        volume_only=not ok and p >= t.slo_target,
    )


def roi_check(judged: Judged) -> Check:
    """Return on the build cost over the first year."""
    roi, line = judged.inputs.roi_12m, judged.thresholds.roi_min
    ok = roi >= line
    return Check(
        name="roi",
        group="economics",
        ok=ok,
        value=roi,
        threshold=line,
        weight=_gap(roi, line, line - max(abs(line), 0.1)),
        sentence=f"12-month ROI is {pct(roi)}"
        + (f" (needs {pct(line)})" if ok else f", under the {pct(line)} minimum"),
        flip=f"12-month ROI {'drops below' if ok else 'reaches'} {pct(line)} (now {pct(roi)})",
    )


def payback_check(judged: Judged) -> Check:
    """Months until the build cost is earned back, against the promotion line."""
    t, pb = judged.thresholds, judged.inputs.payback_months
    ok = pb <= t.payback_promote_m
    return Check(
        name="payback",
        group="economics",
        ok=ok,
        value=pb,
        threshold=t.payback_promote_m,
        weight=_gap(pb, t.payback_promote_m, t.payback_retire_m),
        sentence=f"Pays back in {months(pb)}"
        + (
            f" (within {t.payback_promote_m:g})"
            if ok
            else f"; promotion needs {t.payback_promote_m:g} or less"
        ),
        flip=(
            f"payback exceeds {t.payback_promote_m:g} months"
            if ok
            else f"payback falls to {t.payback_promote_m:g} months or less"
        )
        + f" (now {months(pb)})",
    )


def npv_check(judged: Judged) -> Check:
    """Net present value over the horizon."""
    i = judged.inputs
    ok = i.npv > 0
    return Check(
        name="npv",
        group="economics",
        ok=ok,
        value=i.npv,
        threshold=0.0,
        weight=-1.0 if ok else 1.0,
        sentence=f"NPV over {i.horizon_months} months is {money(i.npv)}",
        flip=f"NPV {'turns negative' if ok else 'turns positive'} (now {money(i.npv)})",
    )


def payback_retire_check(judged: Judged) -> Check:
    """A payback beyond the retire line retires the pilot whatever else holds."""
    t, pb = judged.thresholds, judged.inputs.payback_months
    ok = pb <= t.payback_retire_m
    gap = _gap(pb, t.payback_retire_m, 2 * t.payback_retire_m)
    return Check(
        name="payback_retire",
        group="retire",
        ok=ok,
        value=pb,
        threshold=t.payback_retire_m,
        # Weighted above everything else, so a RETIRE leads with it.
        weight=gap if ok else 10.0 + min(gap, 1e6),
        sentence=(
            "The pilot never pays back, " if math.isinf(pb) else f"Payback takes {months(pb)}, "
        )
        + (
            f"inside the {t.payback_retire_m:g}-month retire line"
            if ok
            else f"beyond the {t.payback_retire_m:g}-month retire line"
        ),
        flip=(
            f"payback rises above {t.payback_retire_m:g} months"
            if ok
            else f"payback falls to {t.payback_retire_m:g} months or less"
        )
        + f" (now {months(pb)})",
    )


def npv_after_fix_check(judged: Judged) -> Check:
    """Whether a version with its failures fixed would be worth its refactor."""
    fix = judged.inputs.npv_after_fix
    ok = fix > 0
    return Check(
        name="npv_after_fix",
        group="retire",
        ok=ok,
        value=fix,
        threshold=0.0,
        weight=-1.0 if ok else 11.0,
        sentence=(
            f"A fixed version would be worth {money(fix)} after paying for the refactor"
            if ok
            else f"Even with its failures fixed, NPV would be {money(fix)} after paying "
            "for the refactor"
        ),
        flip=f"NPV after the fix {'falls to $0 or below' if ok else 'turns positive'} "
        f"(now {money(fix)})",
    )


# The rule, composed: each entry one check, in the order reasons are ranked when weights tie.
RULES: dict[str, Callable[[Judged], Check | None]] = {
    "attainment": attainment_check,
    "dead_letters": dead_letters_check,
    "duplicates": duplicates_check,
    "burn": burn_check,
    "production": production_check,
    "roi": roi_check,
    "payback": payback_check,
    "npv": npv_check,
    "payback_retire": payback_retire_check,
    "npv_after_fix": npv_after_fix_check,
}


def run_checks(judged: Judged) -> list[Check]:
    """Every rule's check that applies to these inputs."""
    return [check for rule in RULES.values() if (check := rule(judged)) is not None]


def _decision(value: Decision | str) -> Decision:
    try:
        return Decision(value)
    except ValueError:
        known = ", ".join(d.value for d in Decision)
        raise VerdictError(f"previous decision {value!r} is not one of {known}") from None


def _metrics(judged: Judged) -> dict[str, float]:
    i, t = judged.inputs, judged.thresholds
    production = (
        {
            "production_transactions": float(i.production_transactions),
            "production_attainment": i.production_good / i.production_transactions,
            "production_attainment_lb": wilson_lower(
                i.production_good, i.production_transactions, t.z
            ),
        }
        if i.production_transactions > 0
        else {}
    )
    return {
        "transactions": float(i.transactions),
        "good": float(i.good),
        "attainment": judged.attainment,
        "attainment_lb": judged.attainment_lb,
        "burn": judged.burn,
        "dead_letter_rate": float(i.dead_letter_rate),
        "lost_rate": float(i.lost_rate),
        "duplicate_rate": float(i.duplicate_rate),
        "roi_12m": float(i.roi_12m),
        "payback_months": float(i.payback_months),
        "npv": float(i.npv),
        "npv_after_fix": float(i.npv_after_fix),
        **production,
    }


def _judged(inputs: VerdictInputs, t: Thresholds) -> Judged:
    n = inputs.transactions
    p = inputs.good / n if n else 0.0
    budget = 1 - t.slo_target
    burn = (1 - p) / budget if budget > 0 else (0.0 if p >= 1 else math.inf)
    return Judged(inputs, t, p, wilson_lower(inputs.good, n, t.z), burn)


def evidence_needed(judged: Judged) -> int:
    """Transactions a record like this one needs before it can be judged, at least min_txns."""
    t = judged.thresholds
    needed = transactions_needed(judged.attainment, t.slo_target, t.z) if judged.flawless else 0
    return max(t.min_txns, needed or 0)


def _needs_evidence(judged: Judged, checks: list[Check], why: str) -> Verdict:
    n, needed = judged.inputs.transactions, evidence_needed(judged)
    reasons = [why, *[c.sentence for c in checks if c.group == "economics" and not c.ok][:2]]
    return Verdict(
        Decision.INSUFFICIENT_DATA,
        reasons,
        [
            f"A verdict becomes possible after {max(needed - n, 1):,} more transactions "
            f"({needed:,} in all)."
        ],
        checks,
        {**_metrics(judged), "transactions_needed": float(needed)},
        why_not={
            "PROMOTE": "Not PROMOTE: the record is too small to show it keeps its promises.",
            "REFACTOR": "Not REFACTOR: nothing that failed is known yet.",
            "RETIRE": "Not RETIRE: too few transactions to judge it.",
        },
    )


def decide(
    inputs: VerdictInputs,
    thresholds: Thresholds | Mapping[str, float] | None = None,
    previous: PriorReview | None = None,
) -> Verdict:
    """Apply the rule; reasons come heaviest first, then what would flip the verdict.

    Too few transactions are no verdict unless a failure is already certain:
    a duplicate, a dead letter or a lost transaction seen once is a fact that
    more volume cannot undo. A flawless record is never REFACTOR: short of the
    evidence, it needs more; with it, it is promoted or retired on its money.
    """
    t = Thresholds.of(thresholds)
    judged = _judged(inputs, t)
    checks = run_checks(judged)
    gates = [c for c in checks if c.group != "retire"]
    failing = sorted((c for c in gates if not c.ok), key=lambda c: -c.weight)
    certain = [c for c in failing if c.group == "reliability" and not c.volume_only]
    n = inputs.transactions
    if n < t.min_txns and not certain:
        return _needs_evidence(
            judged,
            checks,
            f"Only {n:,} transactions were drilled and none failed; a verdict needs at least "
            f"{evidence_needed(judged):,}.",
        )
    reliability = [c for c in failing if c.group == "reliability"]
    if judged.flawless and reliability and all(c.volume_only for c in reliability):
        return _needs_evidence(
            judged,
            checks,
            f"All {n:,} transactions were good, but {n:,} are too few for the attainment "
            f"bound to reach the {pct(t.slo_target)} target; "
            f"{evidence_needed(judged):,} flawless ones would.",
        )
    return _judged_verdict(judged, checks, failing, previous)


def _clause(sentence: str) -> str:
    """A check's sentence inside another: "Payback takes…" → "payback takes…" (not "NPV")."""
    first = sentence.split(" ", 1)[0]
    return sentence if len(first) > 1 and first.isupper() else sentence[:1].lower() + sentence[1:]


def _why_not(decision: Decision, checks: list[Check], failing: list[Check]) -> dict[str, str]:
    """One sentence for each verdict it is not, from the checks that rule it out."""
    by = {c.name: c for c in checks}
    fails = [_clause(c.sentence) for c in failing]
    more = f" (and {len(fails) - 1} more)" if len(fails) > 1 else ""
    out: dict[str, str] = {}
    if decision is not Decision.PROMOTE:
        out["PROMOTE"] = f"Not PROMOTE: {fails[0]}{more}." if fails else "Not PROMOTE."
    if decision is Decision.PROMOTE:
        out["REFACTOR"] = "Not REFACTOR: every gate holds, so there is nothing to fix."
    elif decision is Decision.RETIRE:
        if not [c for c in failing if c.group == "reliability"]:
            out["REFACTOR"] = (
                "Not REFACTOR: nothing fails under chaos, so a refactor has nothing to fix; "
                "only more volume or a cheaper run could change its money."
            )
        else:
            hopeless = [_clause(c.sentence) for c in checks if c.group == "retire" and not c.ok]
            out["REFACTOR"] = (
                "Not REFACTOR: even fixed, it would not pay: "
                + ("; ".join(hopeless) or "NPV after the fix is not positive")
                + "."
            )
    if decision is not Decision.RETIRE:
        keep = [_clause(by[n].sentence) for n in ("payback_retire", "npv_after_fix") if n in by]
        severe = [c.name for c in failing if "severe" in c.sentence]
        out["RETIRE"] = (
            "Not RETIRE: "
            + "; ".join(keep)
            + (
                ". The severe lines for dead letters and duplicates weigh the reasons; they do "
                "not retire a pilot whose fix pays."
                if severe
                else "."
            )
        )
    return out


def _judged_verdict(
    judged: Judged, checks: list[Check], failing: list[Check], previous: PriorReview | None
) -> Verdict:
    """PROMOTE, REFACTOR or RETIRE for a record with enough evidence (or certain failures)."""
    i, t = judged.inputs, judged.thresholds
    passing = sorted((c for c in checks if c.group != "retire" and c.ok), key=lambda c: -c.weight)
    retire = sorted(
        (c for c in checks if c.group == "retire" and not c.ok), key=lambda c: -c.weight
    )
    retire_ok = sorted((c for c in checks if c.group == "retire" and c.ok), key=lambda c: -c.weight)
    if retire or (failing and judged.flawless):
        decision = Decision.RETIRE
        # The retire line already speaks for a long payback; say it once.
        said = {"payback"} if any(c.name == "payback_retire" for c in retire) else set()
        reasons = [c.sentence for c in retire] + [c.sentence for c in failing if c.name not in said]
        changes = [f"REFACTOR if {c.flip}." for c in retire] or [
            f"PROMOTE if {c.flip}." for c in failing
        ]
        if len(retire) > 1:
            changes.append("Both must change before the verdict can leave RETIRE.")
    elif not failing:
        decision = Decision.PROMOTE
        reasons = [c.sentence for c in passing]
        changes = [f"REFACTOR if {c.flip}." for c in passing[:3]]
    else:
        decision = Decision.REFACTOR
        reasons = [c.sentence for c in failing] + [
            c.sentence for c in retire_ok if c.name == "npv_after_fix"
        ]
        changes = [f"PROMOTE if {c.flip}." for c in failing]
        if len(failing) > 1:
            changes.append(f"PROMOTE needs all {len(failing)} of these together.")
        if any(c.name == "attainment" for c in failing):
            needed = transactions_needed(judged.attainment, t.slo_target, t.z)
            if needed is not None:
                changes.append(
                    f"At the observed {pct(judged.attainment)}, about {needed:,} transactions "
                    f"would lift the attainment lower bound to {pct(t.slo_target)} "
                    f"(now {i.transactions:,})."
                )
        changes += [f"RETIRE if {c.flip}." for c in retire_ok]
    if i.transactions < t.min_txns:
        reasons.append(
            f"Decided on {i.transactions:,} transactions, fewer than the {t.min_txns:,} a "
            "verdict needs otherwise: the failures above were seen, and more transactions "
            "cannot undo them."
        )
    verdict = Verdict(
        decision, reasons, changes, checks, _metrics(judged),
        why_not=_why_not(decision, checks, failing),
    )  # fmt: skip
    if decision is Decision.REFACTOR and previous is not None:
        return _second_refactor(verdict, i, previous)
    return verdict


def _second_refactor(verdict: Verdict, i: VerdictInputs, previous: PriorReview) -> Verdict:
    """A second REFACTOR in a row becomes RETIRE unless NPV after the fix went up."""
    if _decision(previous.decision) is not Decision.REFACTOR:
        return verdict
    if i.npv_after_fix > previous.npv_after_fix:
        return replace(
            verdict,
            what_would_change=[
                *verdict.what_would_change,
                "RETIRE at the next review if it is REFACTOR again and NPV after the fix "
                f"does not rise above {money(i.npv_after_fix)}.",
            ],
        )
    reasons = [
        "Second REFACTOR in a row and NPV after the fix did not improve "
        f"({money(i.npv_after_fix)}, previously {money(previous.npv_after_fix)})",
        *verdict.reasons,
    ]
    changes = [
        f"REFACTOR if NPV after the fix rises above {money(previous.npv_after_fix)} "
        f"(now {money(i.npv_after_fix)})."
    ]
    why_not = {
        **{k: v for k, v in verdict.why_not.items() if k != "RETIRE"},
        "REFACTOR": "Not REFACTOR: it was REFACTOR at the previous review, and NPV after the "
        "fix did not improve since.",
    }
    return replace(
        verdict, decision=Decision.RETIRE, reasons=reasons, what_would_change=changes,
        why_not=why_not,
    )  # fmt: skip
