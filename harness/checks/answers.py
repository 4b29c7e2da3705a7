"""What the workflow answered to each event, and what those answers mean.

A workflow's own answer is evidence: an event whose deliveries never got a
2xx and whose last answer was a 4xx was refused, not lost. Whether a refusal
is by design depends on what the pilot expected of the event:

    by_design        the pilot said ``refuse`` (and the status is in range), or
                     expected nothing of the event
    effect_expected  the event had an effect to cause: the workflow refused
                     work it should have done (a finding, named with the answer)
    wrong_status     refused, but with a status outside the declared range

A queue consumer answers no status: its way of saying no is the DLQ. An
event the pilot declares ``dead_letter`` ends well when its outcome is
``dead_lettered`` and nothing was applied for it (``declared_dead_letters``).

Pure: tables in, plain data out. Also the fixture's own id and note for an
event, so examples point at the capture a person can open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.checks.columns import flag, number, text
from harness.inputs.expectations import in_range

BY_DESIGN = "by_design"
# The outcome an event dead-lettered as the pilot declared is shown with: it ended well.
DEAD_LETTERED_BY_DESIGN = "dead_lettered_by_design"
EFFECT_EXPECTED = "effect_expected"
WRONG_STATUS = "wrong_status"


@dataclass(frozen=True)
class LastAnswer:
    """An event's deliveries, summed up by the last answer the workflow gave."""

    event_id: str
    attempts: int
    delivered: bool  # any 2xx
    status: int | None  # of the last attempt; None when it got no answer
    error: str  # the last attempt's error class ("timeout", "reset", "http_5xx", ...)
    answer: str  # the start of the last non-2xx answer's body
    finished_at: float
    # When the first 4xx answer came: a refusal is an answer at once, whatever
    # the provider's retries did after it (NaN when there was none).
    first_refused_at: float = math.nan

    def describe(self) -> str:
        """``3 attempts, last answered 500 "boom"`` or ``2 attempts, last reset``."""
        tries = f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}"
        if self.status is None:
            return f"{tries}, last {self.error or 'unanswered'}"
        said = f" {_quote(self.answer)}" if self.answer else ""
        return f"{tries}, last answered {self.status}{said}"


def _quote(words: str, limit: int = 120) -> str:
    short = words if len(words) <= limit else words[: limit - 1] + "…"
    return f'"{short}"'


class LastAnswers:
    """Per event never answered 2xx: how many attempts, and the last one's answer.

    Built once over the attempts, vectorised; a ``LastAnswer`` is made only for
    the events asked about, so a million attempts cost no Python loop. An
    event that got a 2xx is not in here (``get`` gives None): it was delivered.
    """

    def __init__(self, attempts: pd.DataFrame) -> None:
        status = number(attempts, "status").to_numpy()
        ok = (status >= 200) & (status < 300)
        # Only events never answered 2xx can be refused or lost: keep just their
        # attempts (integer work on one factorize; most events were delivered).
        codes, _ = pd.factorize(text(attempts, "event_id"), sort=False)
        keep = ~np.isin(codes, np.unique(codes[ok]))
        rows = np.flatnonzero(keep)
        table = pd.DataFrame(
            {
                "event_id": text(attempts, "event_id").to_numpy(dtype=object)[rows],
                "order": number(attempts, "sent_at").fillna(-1.0).to_numpy()[rows],
                "attempt": number(attempts, "attempt").fillna(0.0).to_numpy()[rows],
                "status": status[rows],
                "ok": ok[rows],
                "row": rows,
                "finished": number(attempts, "finished_at").to_numpy()[rows],
            }
        )
        table = table.sort_values(["order", "attempt"], kind="stable")
        grouped = table.groupby("event_id", sort=False)
        last = table.drop_duplicates("event_id", keep="last").set_index("event_id")
        last["delivered"] = grouped["ok"].any()
        last["attempts"] = grouped.size()
        refusing = (table["status"] >= 400) & (table["status"] < 500)
        last["first_refused"] = table[refusing].groupby("event_id", sort=False)["finished"].min()
        self._attempts = attempts
        self._last = last
        # Arrays once: get() is called per event asked about.
        self._status = last["status"].to_numpy(dtype=float)
        self._row = last["row"].to_numpy(dtype=np.int64)
        self._count = last["attempts"].to_numpy(dtype=np.int64)
        self._delivered = last["delivered"].to_numpy(dtype=bool)
        self._first_refused = last["first_refused"].to_numpy(dtype=float)

    def refused_ids(self) -> list[str]:
        """Events never answered 2xx whose last answer was a 4xx."""
        hit = ~self._delivered & (self._status >= 400) & (self._status < 500)
        return [str(e) for e in self._last.index[hit]]

    def get(self, event_id: str) -> LastAnswer | None:
        """The event's last answer; None when it got a 2xx or was never attempted."""
        if event_id not in self._last.index:
            return None
        pos = self._last.index.get_loc(event_id)
        assert isinstance(pos, int)  # event ids are unique in the index
        code = float(self._status[pos])
        at = int(self._row[pos])

        def cell(column: str) -> str:
            if column not in self._attempts.columns:
                return ""
            value = self._attempts[column].iloc[at]
            return "" if pd.isna(value) else str(value)

        finished = pd.to_numeric(cell("finished_at") or "nan", errors="coerce")
        return LastAnswer(
            event_id=event_id,
            attempts=int(self._count[pos]),
            delivered=bool(self._delivered[pos]),
            status=None if math.isnan(code) else int(code),
            error=cell("error_class"),
            answer=cell("answer"),
            finished_at=float(finished),
            first_refused_at=float(self._first_refused[pos]),
        )


def last_answers(attempts: pd.DataFrame) -> LastAnswers:
    """The last answer of every event never answered 2xx, built once over the attempts."""
    return LastAnswers(attempts)


@dataclass(frozen=True)
class Refusal:
    """An event the workflow refused: no 2xx, and a 4xx as its last answer."""

    last: LastAnswer
    kind: str  # BY_DESIGN, EFFECT_EXPECTED or WRONG_STATUS
    declared: str  # the pilot's refuse range, "" when none
    effect: str  # the effect the event was expected to cause, "" when none

    @property
    def accounted(self) -> bool:
        """By design: the workflow's answer, not a finding."""
        return self.kind == BY_DESIGN

    def describe(self) -> str:
        """``refused with 400 "…" where ship:created was expected`` and the like."""
        answer = f" {_quote(self.last.answer)}" if self.last.answer else ""
        said = f"refused with {self.last.status}{answer}"
        if self.kind == EFFECT_EXPECTED:
            return f"{said} where {self.effect} was expected"
        if self.kind == WRONG_STATUS:
            return f"{said}, declared {self.declared}"
        return said


def expectations_by_event(expected: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """event_id → (refuse range, effect it must or may cause) for events meant to be sent."""
    if expected.empty:
        return {}
    live = expected[~flag(expected, "dropped")]
    effect = text(live, "expected_effect").where(
        text(live, "expected_effect") != "", text(live, "allowed_effect")
    )
    return dict(
        zip(
            text(live, "event_id"),
            zip(text(live, "refuse"), effect, strict=True),
            strict=True,
        )
    )


def refusals(
    expected: pd.DataFrame, attempts: pd.DataFrame, answers: LastAnswers | None = None
) -> dict[str, Refusal]:
    """Every event refused (never a 2xx, last answer 4xx), judged against what was expected.

    ``answers``: ``last_answers(attempts)`` when the caller has it already.
    """
    answers = last_answers(attempts) if answers is None else answers
    refused = answers.refused_ids()
    if not refused:
        return {}
    about = expected[text(expected, "event_id").isin(refused)] if len(expected) else expected
    wanted = expectations_by_event(about)
    out: dict[str, Refusal] = {}
    for event_id in refused:
        last = answers.get(event_id)
        assert last is not None and last.status is not None
        declared, effect = wanted.get(event_id, ("", ""))
        if declared:
            kind = BY_DESIGN if in_range(last.status, declared) else WRONG_STATUS
        elif effect:
            kind = EFFECT_EXPECTED
        else:
            kind = BY_DESIGN
        out[event_id] = Refusal(last, kind, declared, effect)
    return out


def accepted_but_declared_refused(expected: pd.DataFrame, attempts: pd.DataFrame) -> list[str]:
    """Events the pilot says must be refused that the workflow answered 2xx."""
    declared = {e for e, (refuse, _) in expectations_by_event(expected).items() if refuse}
    if not declared:
        return []
    status = number(attempts, "status")
    delivered = set(text(attempts, "event_id")[(status >= 200) & (status < 300)])
    return sorted(declared & delivered)


def declared_dead_letters(expected: pd.DataFrame) -> set[str]:
    """Events meant to be sent that the pilot says must end dead-lettered."""
    if expected.empty or "dead_letter" not in expected.columns:
        return set()
    live = expected[~flag(expected, "dropped") & flag(expected, "dead_letter")]
    return set(text(live, "event_id"))


def applied_for(effects: pd.DataFrame | None, event_ids: set[str]) -> dict[str, str]:
    """event_id → the first effect kind tied to it, for the events asked about."""
    if effects is None or effects.empty or not event_ids:
        return {}
    ids, kinds = text(effects, "event_id"), text(effects, "kind")
    mine = ids.isin(event_ids)
    out: dict[str, str] = {}
    for event_id, kind in zip(ids[mine], kinds[mine], strict=True):
        out.setdefault(event_id, kind)
    return out


def fixture_notes(expected: pd.DataFrame) -> dict[str, str]:
    """event_id → " (fixture os-017: the note)" for events whose capture says who they are."""
    if expected.empty:
        return {}
    out: dict[str, str] = {}
    for event_id, fixture, note in zip(
        text(expected, "event_id"),
        text(expected, "fixture_id"),
        text(expected, "note"),
        strict=True,
    ):
        if not fixture and not note:
            continue
        label = f"fixture {fixture}" if fixture else "fixture"
        out[event_id] = f" ({label}: {_quote(note, 80)})" if note else f" ({label})"
    return out
