"""all_accounted: each delivered event reached a terminal outcome; none vanished."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from harness.checks.answers import (
    LastAnswer,
    LastAnswers,
    Refusal,
    accepted_but_declared_refused,
    applied_for,
    declared_dead_letters,
)
from harness.checks.columns import flag, ok_status, text
from harness.checks.outcomes import TERMINAL_OUTCOMES
from harness.checks.result import InvariantResult, take
from harness.checks.settings import CheckSettings
from harness.checks.tables import RunTables
from harness.checks.wording import plural

__all__ = ["all_accounted", "check_all_accounted"]

NAME = "all_accounted"


@dataclass(frozen=True)
class _Evidence:
    """What is known of each event: the workflow's answers, refusals, notes and crashes."""

    answers: LastAnswers
    refused_by: dict[str, Refusal]
    notes: dict[str, str]
    crashed: dict[str, str]

    @classmethod
    def of(cls, run: RunTables, crashes: Sequence[Mapping[str, Any]]) -> _Evidence:
        return cls(run.last_answers, run.refusals, run.fixture_notes, _crash_by_event(crashes))

    def who(self, event_id: str) -> str:
        return f"{event_id}{self.notes.get(event_id, '')}"

    def lost(self, event_id: str) -> str:
        """An event never answered 2xx, in the words of its last answer and any crash."""
        last = self.answers.get(event_id)
        return f"{self.who(event_id)} {_unanswered(last)}{self.crashed.get(event_id, '')}"


@dataclass
class _Sorted:
    """Events by what became of them (example lines, in the order met)."""

    tally: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TERMINAL_OUTCOMES, 0))
    unaccounted: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    wrongly_refused: list[str] = field(default_factory=list)
    refused_ok: int = 0
    unacknowledged: int = 0
    dead_by_design: int = 0  # dead-lettered as the pilot declared
    not_dead_lettered: list[str] = field(default_factory=list)


def _sort(
    judged: list[str], delivered: set[str], outcome_of: Mapping[str, str], evidence: _Evidence
) -> _Sorted:
    out = _Sorted()
    for event_id in judged:
        outcome = outcome_of.get(event_id, "")
        if outcome in out.tally:
            out.tally[outcome] += 1
            if event_id not in delivered:
                out.unacknowledged += 1
        elif event_id in delivered:
            out.unaccounted.append(
                f"{evidence.who(event_id)} delivered, outcome {outcome or 'none'}"
                f"{evidence.crashed.get(event_id, '')}"
            )
        elif event_id in evidence.refused_by and not outcome:
            refusal = evidence.refused_by[event_id]
            if refusal.accounted:
                out.refused_ok += 1
            else:
                out.wrongly_refused.append(f"{evidence.who(event_id)} {refusal.describe()}")
        else:
            out.lost.append(evidence.lost(event_id))
    return out


def all_accounted(
    expected: pd.DataFrame,
    attempts: pd.DataFrame,
    outcomes: pd.DataFrame,
    outcomes_known: bool = True,
    crashes: Sequence[Mapping[str, Any]] = (),
    effects: pd.DataFrame | None = None,
    *,
    run: RunTables | None = None,
) -> InvariantResult:
    """No event vanished.

    Every delivered event (at least one 2xx attempt) has a terminal outcome;
    every event that was meant to be delivered but never got a 2xx, and has no
    outcome either, is lost, unless the workflow refused it: a last answer of
    4xx is the workflow's own answer, accounted for when the pilot declared
    the refusal (``refuse``) or expected nothing of the event, and a finding
    naming the status and body when it expected an effect. An event the pilot
    says must be refused but that got a 2xx is a finding too. An outcome for an
    event whose 2xx never reached the sender (``unacknowledged``) is fine: the
    workflow did take it. A workflow that reports no outcomes
    (``outcomes_known=False``) can only be judged on its answers: dead letters
    are unknown, and the summary says so. ``crashes`` are errors the workflow
    logged (``harness.drill.workflow_log``); one naming a failed event is
    quoted with it. An event the pilot says must be dead-lettered
    (``dead_letter``) is accounted for by design when it was, and a finding
    when it got another outcome or ``effects`` holds one tied to it. ``run``: the
    same tables as a ``RunTables``, whose derived tables other checks share.
    """
    if run is None:
        # The derived tables read no effects: an empty frame stands in for none.
        none = pd.DataFrame() if effects is None else effects
        run = RunTables(expected=expected, attempts=attempts, effects=none, outcomes=outcomes)
    if not outcomes_known:
        return _delivered_only(expected, attempts, run, crashes)
    meant, dropped = _meant(expected)
    att_ids = text(attempts, "event_id").tolist()
    delivered = _delivered(attempts)
    final = run.final_outcomes
    invalid = sorted(set(final[~final.isin(TERMINAL_OUTCOMES)].index))
    evidence = _Evidence.of(run, crashes)
    # A dropped event that was delivered anyway must be accounted for like any other.
    universe = list(dict.fromkeys([*meant, *att_ids, *(e for e in delivered if e in dropped)]))
    judged = [e for e in universe if not (e in dropped and e not in delivered)]
    s = _sort(judged, delivered, run.outcome_of, evidence)
    accepted = _accepted(expected, attempts, evidence)
    s.dead_by_design, undone = _dead_letters(expected, run, effects, evidence)
    s.not_dead_lettered = undone
    counts: dict[str, int | float] = {
        "events": len(judged),
        "delivered": sum(1 for e in judged if e in delivered),
        **s.tally,
        "dead_lettered_by_design": s.dead_by_design,
        "not_dead_lettered": len(undone),
        "refused": s.refused_ok,
        "refused_wrongly": len(s.wrongly_refused),
        "accepted_not_refused": len(accepted),
        "unacknowledged": s.unacknowledged,
        "unaccounted": len(s.unaccounted),
        "lost": len(s.lost),
        "invalid_outcomes": len(invalid),
        "dropped": sum(1 for e in dropped if e not in delivered),
    }
    ok = not (s.unaccounted or s.lost or invalid or s.wrongly_refused or accepted or undone)
    examples = (
        take(undone)
        + take(s.wrongly_refused)
        + take(accepted)
        + take(s.unaccounted)
        + take(s.lost)
        + [f"{e} has outcome {run.outcome_of[e]!r}, not a terminal outcome" for e in take(invalid)]
    )
    n = len(judged)
    summary = _summary(s, n, ok, len(accepted), len(invalid), crashes)
    return InvariantResult(NAME, ok, counts, examples, summary, judged=n)


def _meant(expected: pd.DataFrame) -> tuple[list[str], set[str]]:
    """The events meant to be delivered (first-seen order), and the ones dropped on purpose."""
    # Plain lists: iterating an arrow-backed column boxes every cell.
    ids, gone = text(expected, "event_id").tolist(), flag(expected, "dropped").tolist()
    meant = list(dict.fromkeys(e for e, g in zip(ids, gone, strict=True) if not g))
    return meant, {e for e, g in zip(ids, gone, strict=True) if g}


def _delivered(attempts: pd.DataFrame) -> set[str]:
    """Events with at least one 2xx attempt."""
    ids, ok = text(attempts, "event_id").tolist(), ok_status(attempts).tolist()
    return {e for e, answered in zip(ids, ok, strict=True) if answered}


def _summary(
    s: _Sorted, n: int, ok: bool, accepted: int, invalid: int, crashes: Sequence[Mapping[str, Any]]
) -> str:
    """The sentence: what became of the events, or what is unaccounted for and why."""
    refused_text = f", {s.refused_ok:,} refused by design" if s.refused_ok else ""
    designed = f" ({s.dead_by_design:,} by design)" if s.dead_by_design else ""
    if ok:
        return (
            f"All {n:,} events are accounted for: {s.tally['processed']:,} processed, "
            f"{s.tally['dead_lettered']:,} dead-lettered{designed}, "
            f"{s.tally['superseded']:,} superseded, "
            f"{s.tally['duplicate']:,} duplicate{refused_text}."
        )
    undone = len(s.not_dead_lettered)
    missing = len(s.unaccounted) + len(s.lost)
    head = (
        f"{missing:,} of {n:,} events are unaccounted for "
        f"({len(s.unaccounted):,} delivered without a terminal outcome, {len(s.lost):,} lost)"
        if missing
        else f"None of the {n:,} events is unaccounted for"
    )
    return (
        head
        + (
            f"; {plural(undone, 'event')} the pilot says must be dead-lettered "
            f"{'was' if undone == 1 else 'were'} not"
            if undone
            else ""
        )
        + _refusal_clause(len(s.wrongly_refused), accepted)
        + (f"; {invalid:,} with an unknown outcome" if invalid else "")
        + "."
        + _crash_clause(crashes)
    )


def _accepted(expected: pd.DataFrame, attempts: pd.DataFrame, evidence: _Evidence) -> list[str]:
    """Events answered 2xx that the pilot says must be refused."""
    return [
        f"{evidence.who(e)} answered 2xx, but the pilot says it must be refused"
        for e in accepted_but_declared_refused(expected, attempts)
    ]


def _dead_letters(
    expected: pd.DataFrame, run: RunTables, effects: pd.DataFrame | None, evidence: _Evidence
) -> tuple[int, list[str]]:
    """Events the pilot says must be dead-lettered: how many were, and those that were not.

    One with no outcome at all is already unaccounted for (or lost) and not
    told twice; one taken (another outcome) or applied at a partner is named
    with the broker's or workflow's words and the effect.
    """
    declared = declared_dead_letters(expected)
    if not declared:
        return 0, []
    outcome_of, details = run.outcome_of, run.outcome_details
    applied = applied_for(effects, declared)
    by_design, undone = 0, []
    for event_id in sorted(declared):
        outcome = str(outcome_of.get(event_id, ""))
        said = f' ("{details[event_id]}")' if details.get(event_id) else ""
        if outcome and outcome != "dead_lettered":
            undone.append(
                f"{evidence.who(event_id)} {outcome}{said}, but the pilot says it must be "
                "dead-lettered"
                + (f"; {applied[event_id]} was applied for it" if event_id in applied else "")
            )
        elif outcome and event_id in applied:
            undone.append(
                f"{evidence.who(event_id)} dead-lettered{said}, but {applied[event_id]} was "
                "applied for it: the pilot says it must cause nothing"
            )
        elif outcome:
            by_design += 1
    return by_design, undone


def _unanswered(last: LastAnswer | None) -> str:
    """Why an event counts as lost, in the words of its last answer."""
    if last is None:
        return "never attempted, no outcome"
    return f"never answered 2xx ({last.describe()}), no outcome"


def _refusal_clause(wrongly: int, accepted: int) -> str:
    parts = []
    if wrongly:
        parts.append(f"{wrongly:,} refused where the pilot expected otherwise")
    if accepted:
        parts.append(f"{accepted:,} accepted that the pilot says must be refused")
    return "; " + "; ".join(parts) if parts else ""


def _crash_by_event(crashes: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """event_id → "; the workflow logged "…" (workflow.log:57)" for crashes naming an event."""
    out: dict[str, str] = {}
    for crash in crashes:
        event_id = str(crash.get("event_id") or "")
        if event_id and event_id not in out:
            out[event_id] = f"; the workflow logged {_crash_quote(crash)}"
    return out


def _crash_quote(crash: Mapping[str, Any]) -> str:
    return f'"{crash.get("line", "")}" ({crash.get("where", "workflow.log")})'


def _crash_clause(crashes: Sequence[Mapping[str, Any]]) -> str:
    """The first error the workflow logged that names no event: a crash is evidence too."""
    loose = [c for c in crashes if not c.get("event_id")]
    if not loose:
        return ""
    n = len(crashes)
    return (
        f" The workflow logged {plural(n, 'error')} during the run, e.g. {_crash_quote(loose[0])}."
    )


def _delivered_only(
    expected: pd.DataFrame,
    attempts: pd.DataFrame,
    run: RunTables,
    crashes: Sequence[Mapping[str, Any]] = (),
) -> InvariantResult:
    """``all_accounted`` for a workflow that reports no outcomes: judged on its answers."""
    meant, _ = _meant(expected)
    delivered = _delivered(attempts)
    evidence = _Evidence.of(run, crashes)
    lost: list[str] = []
    wrongly_refused: list[str] = []
    refused_ok = 0
    for event_id in meant:
        if event_id in delivered:
            continue
        refusal = evidence.refused_by.get(event_id)
        if refusal is None:
            lost.append(evidence.lost(event_id))
        elif refusal.accounted:
            refused_ok += 1
        else:
            wrongly_refused.append(f"{evidence.who(event_id)} {refusal.describe()}")
    accepted = _accepted(expected, attempts, evidence)
    answered = len(meant) - len(lost) - len(wrongly_refused)
    counts: dict[str, int | float] = {
        "events": len(meant),
        "delivered": sum(1 for e in meant if e in delivered),
        "refused": refused_ok,
        "refused_wrongly": len(wrongly_refused),
        "accepted_not_refused": len(accepted),
        "lost": len(lost),
        "outcomes_unknown": sum(1 for e in meant if e in delivered),
    }
    tail = "; the workflow reports no outcomes, so dead letters are unknown."
    refused_text = f" ({refused_ok:,} refused by design)" if refused_ok else ""
    ok = not (lost or wrongly_refused or accepted)
    if ok:
        summary = (
            f"All {len(meant):,} events were answered as expected{refused_text}{tail}"
            if refused_ok
            else f"All {len(meant):,} events were delivered{tail}"
        )
    else:
        summary = (
            f"{len(meant) - answered:,} of {len(meant):,} events were never answered 2xx "
            f"({len(lost):,} lost{refused_text})"
            + _refusal_clause(len(wrongly_refused), len(accepted))
            + tail
            + _crash_clause(crashes)
        )
    examples = take(wrongly_refused) + take(accepted) + take(lost)
    return InvariantResult(NAME, ok, counts, examples, summary, judged=len(meant))


def check_all_accounted(tables: RunTables, *, settings: CheckSettings) -> InvariantResult:
    """The registry's checker: ``all_accounted``, on answers alone without outcomes."""
    return all_accounted(
        tables.expected,
        tables.attempts,
        tables.outcomes,
        settings.outcomes_known,
        settings.crashes,
        tables.effects,
        run=tables,
    )
