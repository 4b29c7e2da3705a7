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
from typing import NamedTuple

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
        ids = text(attempts, "event_id").to_numpy(dtype=object)
        codes, _ = pd.factorize(ids, sort=False)
        rows = np.flatnonzero(~np.isin(codes, np.unique(codes[ok])))
        # In the order sent (unsent last-but-first as -1), then by attempt number;
        # lexsort is stable, as the sort it replaces was.
        rows = rows[
            np.lexsort(
                (
                    number(attempts, "attempt").fillna(0.0).to_numpy()[rows],
                    number(attempts, "sent_at").fillna(-1.0).to_numpy()[rows],
                )
            )
        ]
        per = _per_event(codes[rows], status[rows], ok[rows])
        refusing = (status[rows] >= 400) & (status[rows] < 500)
        finished = number(attempts, "finished_at").to_numpy()[rows]
        # Events in the order of their last attempt, as refused_ids lists them.
        self._ids = [str(e) for e in ids[rows[per.last]]]
        self._at = {event_id: pos for pos, event_id in enumerate(self._ids)}
        self._status = status[rows[per.last]].astype(float)
        self._count = per.rows
        self._delivered = per.delivered
        self._first_refused = _first_per_event(codes[rows], refusing, finished, per.codes)
        # The last attempt's own words, read once for every event kept.
        last_rows = rows[per.last]
        self._cells = {c: _cells(attempts, c, last_rows) for c in _LAST_CELLS}

    def refused_ids(self) -> list[str]:
        """Events never answered 2xx whose last answer was a 4xx."""
        hit = ~self._delivered & (self._status >= 400) & (self._status < 500)
        return [e for e, refused in zip(self._ids, hit, strict=True) if refused]

    def get(self, event_id: str) -> LastAnswer | None:
        """The event's last answer; None when it got a 2xx or was never attempted."""
        pos = self._at.get(event_id)
        if pos is None:
            return None
        code = float(self._status[pos])
        finished = pd.to_numeric(self._cells["finished_at"][pos] or "nan", errors="coerce")
        return LastAnswer(
            event_id=event_id,
            attempts=int(self._count[pos]),
            delivered=bool(self._delivered[pos]),
            status=None if math.isnan(code) else int(code),
            error=self._cells["error_class"][pos],
            answer=self._cells["answer"][pos],
            finished_at=float(finished),
            first_refused_at=float(self._first_refused[pos]),
        )


# The columns a LastAnswer quotes from its event's last attempt.
_LAST_CELLS = ("finished_at", "error_class", "answer")


class _PerEvent(NamedTuple):
    """Per event (in the order of its last row): its code, last row, row count, any 2xx."""

    codes: np.ndarray
    last: np.ndarray  # position of the event's last row in the sorted rows
    rows: np.ndarray  # how many rows (attempts) it has
    delivered: np.ndarray


def _per_event(codes: np.ndarray, status: np.ndarray, ok: np.ndarray) -> _PerEvent:
    """Group sorted rows by event code, the events ordered by where their last row is."""
    n = len(codes)
    uniques, first_from_end, count = np.unique(codes[::-1], return_index=True, return_counts=True)
    last = n - 1 - first_from_end
    order = np.argsort(last, kind="stable")
    delivered = np.zeros(len(uniques), dtype=bool)
    if n:
        hit = np.searchsorted(uniques, codes[ok])
        delivered[hit] = True
    return _PerEvent(uniques[order], last[order], count[order].astype(np.int64), delivered[order])


def _first_per_event(
    codes: np.ndarray, mask: np.ndarray, values: np.ndarray, events: np.ndarray
) -> np.ndarray:
    """Per event code in ``events``: the least of its ``values`` where ``mask`` (else NaN)."""
    out = np.full(len(events), np.nan)
    if not mask.any():
        return out
    got = pd.Series(values[mask]).groupby(codes[mask]).min()
    slot = {int(c): i for i, c in enumerate(events)}
    for code, least in zip(got.index, got.to_numpy(), strict=True):
        out[slot[int(code)]] = least
    return out


def _cells(attempts: pd.DataFrame, column: str, rows: np.ndarray) -> list[str]:
    """The column's value at ``rows`` as text ("" when missing or null)."""
    if column not in attempts.columns:
        return [""] * len(rows)
    values = attempts[column].iloc[rows].tolist()
    return ["" if pd.isna(v) else str(v) for v in values]


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
    # Plain lists: a later row of an event replaces an earlier one, as dict(zip()) did.
    return {
        event_id: (refuse, must if must != "" else may)
        for event_id, refuse, must, may, dropped in zip(
            text(expected, "event_id").tolist(),
            text(expected, "refuse").tolist(),
            text(expected, "expected_effect").tolist(),
            text(expected, "allowed_effect").tolist(),
            flag(expected, "dropped").tolist(),
            strict=True,
        )
        if not dropped
    }


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
    return {
        event_id
        for event_id, dropped, dead in zip(
            text(expected, "event_id").tolist(),
            flag(expected, "dropped").tolist(),
            flag(expected, "dead_letter").tolist(),
            strict=True,
        )
        if dead and not dropped
    }


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
        text(expected, "event_id").tolist(),
        text(expected, "fixture_id").tolist(),
        text(expected, "note").tolist(),
        strict=True,
    ):
        if not fixture and not note:
            continue
        label = f"fixture {fixture}" if fixture else "fixture"
        out[event_id] = f" ({label}: {_quote(note, 80)})" if note else f" ({label})"
    return out
