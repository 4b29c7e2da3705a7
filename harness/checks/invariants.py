"""Invariants: pure checks over a run's tables, in the manner of Jepsen's checkers.

A drill's journal is its history. Each check here reads DataFrames (shaped
like ``harness.journal.columns``) and returns an ``InvariantResult``: a validity
flag, counts, a few example ids a person can look up, and one sentence.
Nothing here opens a socket or a file, so every check is unit-tested with
hand-written tables.

    exactly_once   each expected business effect happened once (no loss, no duplicate)
    unexpected_effects  no effect happened that no event called for
    all_accounted  each delivered event reached a terminal outcome; none vanished
    final_state    the partner ends holding the newest version of every entity
    slo            end-to-end latency p95 and success rate against the pilot's targets
    dead_lettered_applied  events the workflow dead-lettered whose effect landed anyway
                   (an unknown outcome: reported, failing only when the pilot asks)

Politeness towards partners (Retry-After, a call budget) is in ``politeness``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np
import pandas as pd

from harness.checks.answers import (
    accepted_but_declared_refused,
    fixture_notes,
    last_answers,
    refusals,
)

__all__ = [
    "TERMINAL_OUTCOMES",
    "InvariantResult",
    "SloTargets",
    "all_accounted",
    "all_ok",
    "check_all",
    "contract_only",
    "dead_lettered_applied",
    "event_latencies",
    "event_outcomes",
    "exactly_once",
    "final_state",
    "nearest_rank",
    "slo",
    "unexpected_effects",
]

TERMINAL_OUTCOMES = ("processed", "dead_lettered", "superseded", "duplicate")
# When one event has several outcome rows (a redelivery reported as "duplicate"
# after the first delivery was "processed"), the strongest one describes it.
_PRECEDENCE = {"processed": 0, "superseded": 1, "dead_lettered": 2, "duplicate": 3}
_GOOD_OUTCOMES = frozenset({"processed", "superseded", "duplicate"})
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class InvariantResult:
    name: str
    ok: bool
    counts: dict[str, int | float]
    examples: list[str] = field(default_factory=list)
    summary: str = ""
    # How many things (events, effects, entities, calls) the check judged; 0 means
    # it had nothing to judge and holds only vacuously (None: not counted).
    judged: int | None = None

    @property
    def judged_nothing(self) -> bool:
        """Held because there was nothing to judge: shown as such, never as a pass."""
        return self.judged == 0


# ---------------------------------------------------------------- column helpers


def _text(df: pd.DataFrame, column: str) -> pd.Series:
    """A string column with nulls as "" (hand-made and journal frames alike)."""
    if column not in df.columns:
        return pd.Series([""] * len(df), index=df.index, dtype=object)
    col = df[column]
    if isinstance(col.dtype, pd.StringDtype):
        # Already strings: only the nulls need filling, which is cheap.
        return col.fillna("")
    return col.astype(object).where(col.notna(), "").astype(str)


def _number(df: pd.DataFrame, column: str) -> pd.Series:
    if column not in df.columns:
        return pd.Series(np.nan, index=df.index, dtype=float)
    return pd.to_numeric(df[column], errors="coerce").astype(float)


def _flag(df: pd.DataFrame, column: str) -> pd.Series:
    if column not in df.columns:
        return pd.Series(False, index=df.index, dtype=bool)
    return df[column].astype("boolean").fillna(False).astype(bool)


def _ok_status(attempts: pd.DataFrame) -> pd.Series:
    status = _number(attempts, "status")
    return (status >= 200) & (status < 300)


def _plural(n: int | float, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _take(items: list[str], limit: int = MAX_EXAMPLES) -> list[str]:
    return items[:limit]


def _ranks(names: np.ndarray) -> np.ndarray:
    """Precedence of each outcome name; unknown names rank last."""
    # Few distinct names: rank those, then spread by code (a dict map per row is slow).
    codes, uniques = pd.factorize(names)
    table = np.array([_PRECEDENCE.get(str(u), len(_PRECEDENCE)) for u in uniques], dtype=np.int64)
    return table[codes] if len(codes) else np.zeros(0, dtype=np.int64)


def outcome_details(outcomes: pd.DataFrame) -> dict[str, str]:
    """The workflow's own words (``detail``) for the outcome that describes each event."""
    if outcomes.empty or "detail" not in outcomes.columns:
        return {}
    said = _text(outcomes, "detail") != ""
    if not said.any():
        return {}
    table = pd.DataFrame(
        {
            "event_id": _text(outcomes, "event_id"),
            "detail": _text(outcomes, "detail"),
            "rank": _ranks(_text(outcomes, "outcome").to_numpy(dtype=object)),
        }
    )
    best = table.sort_values("rank", kind="stable").drop_duplicates("event_id")
    best = best[best["detail"] != ""]
    return dict(zip(best["event_id"], best["detail"], strict=True))


def _said(details: Mapping[str, str], event_id: str) -> str:
    detail = details.get(event_id, "")
    if not detail:
        return ""
    return f': "{detail if len(detail) <= 100 else detail[:99] + "…"}"'


def event_outcomes(outcomes: pd.DataFrame) -> pd.Series:
    """The one outcome that describes each event, indexed by event_id.

    Several rows for an event are resolved by strength: processed, superseded,
    dead_lettered, duplicate. Values outside that list are kept as they are
    so ``all_accounted`` can report them.
    """
    if outcomes.empty:
        return pd.Series(dtype=object, name="outcome")
    table = pd.DataFrame(
        {"event_id": _text(outcomes, "event_id"), "outcome": _text(outcomes, "outcome")}
    )
    table["rank"] = _ranks(table["outcome"].to_numpy(dtype=object))
    best = table.sort_values("rank", kind="stable").drop_duplicates("event_id")
    return best.set_index("event_id")["outcome"].rename("outcome")


# ---------------------------------------------------------------- exactly once


class _Fx(NamedTuple):
    """One expected or observed effect, as plain Python values."""

    event_id: str
    kind: str
    key: str
    version: float


def _fx_rows(df: pd.DataFrame) -> list[_Fx]:
    return [
        _Fx(str(e), str(k), str(b), float(v))
        for e, k, b, v in zip(
            df["event_id"].tolist(),
            df["kind"].tolist(),
            df["key"].tolist(),
            df["version"].tolist(),
            strict=True,
        )
    ]


def _expected_effects(expected: pd.DataFrame) -> pd.DataFrame:
    wanted = (_text(expected, "expected_effect") != "") & ~_flag(expected, "dropped")
    rows = pd.DataFrame(
        {
            "event_id": _text(expected, "event_id"),
            "kind": _text(expected, "expected_effect"),
            "key": _text(expected, "entity_id"),
            "version": _number(expected, "entity_version"),
        }
    )[wanted]
    return rows.drop_duplicates("event_id").reset_index(drop=True)


def exactly_once(
    expected: pd.DataFrame,
    effects: pd.DataFrame,
    outcomes: pd.DataFrame,
    attempts: pd.DataFrame | None = None,
) -> InvariantResult:
    """Every expected business effect happened exactly once at the partner.

    An effect is tied to its event by ``event_id`` when the harness resolved
    it; otherwise by kind and business key, preferring the same entity
    version. Effects of a kind no expected row names are ``untracked``, not
    violations. A missing effect is ``dead_lettered`` or ``superseded`` when the
    workflow said so (accounted for, not a violation), ``refused`` when the
    workflow answered its deliveries with a 4xx (with ``attempts``: a
    violation of its own, named with the answer), else ``lost``.
    """
    wanted = _expected_effects(expected)
    known_events = set(_text(expected, "event_id"))
    by_event = {row.event_id: row for row in _fx_rows(wanted)}
    by_group: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in by_event.values():
        by_group[(row.kind, row.key)].append(row.event_id)
    assigned: dict[str, int] = dict.fromkeys(by_event, 0)

    eff = pd.DataFrame(
        {
            "at": _number(effects, "at"),
            "kind": _text(effects, "kind"),
            "key": _text(effects, "business_key"),
            "version": _number(effects, "entity_version"),
            "event_id": _text(effects, "event_id"),
        }
    ).sort_values("at", kind="stable")
    unexpected: list[str] = []
    # Kinds no event is expected to cause exactly once (updates, in order-sync)
    # are final_state's business; they are counted here, not judged.
    tracked = set(_text(expected, "expected_effect")) - {""}
    untracked = 0
    # Effects whose event is known are placed first, so the guesswork for the
    # rest only fills what is left.
    resolved = eff["event_id"].isin(known_events)
    for row in _fx_rows(eff[resolved]):
        target = by_event.get(row.event_id)
        if target is not None and target.kind == row.kind and target.key == row.key:
            assigned[row.event_id] += 1
        elif row.kind not in tracked:
            untracked += 1
        else:
            unexpected.append(
                f"{row.kind} for {row.key or '?'} v{_v(row.version)} (event {row.event_id})"
            )
    for row in _fx_rows(eff[~resolved]):
        if row.kind not in tracked:
            untracked += 1
            continue
        candidates = by_group.get((row.kind, row.key), [])
        if not candidates:
            source = f" (event {row.event_id})" if row.event_id else ""
            unexpected.append(f"{row.kind} for {row.key or '?'} v{_v(row.version)}{source}")
            continue
        same_version = [e for e in candidates if by_event[e].version == row.version]
        pick = (
            _first_unfilled(same_version, assigned)
            or _first_unfilled(candidates, assigned)
            or (same_version or candidates)[0]
        )
        assigned[pick] += 1

    final = event_outcomes(outcomes)
    details = outcome_details(outcomes)
    notes = fixture_notes(expected)
    refused_by = refusals(expected, attempts) if attempts is not None else {}
    lost: list[str] = []
    refused: list[str] = []
    dead: list[str] = []
    superseded: list[str] = []
    duplicated: list[str] = []
    extra = 0
    for event_id, n in assigned.items():
        target = by_event[event_id]
        label = f"{event_id}{notes.get(event_id, '')} ({target.kind} for {target.key or '?'})"
        if n == 1:
            continue
        if n > 1:
            extra += n - 1
            duplicated.append(
                f"{event_id}{notes.get(event_id, '')}: {n} × {target.kind} for {target.key}"
            )
            continue
        outcome = final.get(event_id, "")
        if outcome == "dead_lettered":
            dead.append(label + _said(details, event_id))
        elif outcome == "superseded":
            superseded.append(label + _said(details, event_id))
        elif event_id in refused_by and not outcome:
            refused.append(f"{label}: {refused_by[event_id].last.describe()}")
        else:
            lost.append(f"{label}, outcome {outcome or 'none'}{_said(details, event_id)}")

    total = len(by_event)
    counts: dict[str, int | float] = {
        "expected": total,
        "effects": len(eff),
        "exactly_once": sum(1 for n in assigned.values() if n == 1),
        "lost": len(lost),
        "refused": len(refused),
        "duplicated": extra,
        "duplicated_events": len(duplicated),
        "unexpected": len(unexpected),
        "dead_lettered": len(dead),
        "superseded": len(superseded),
        "untracked": untracked,
    }
    # Effects no event called for are unexpected_effects' to judge.
    ok = not lost and not extra and not refused
    # The events that broke it; when nothing did, the ones the workflow
    # accounted for itself, in its own words.
    broke = (
        [f"refused {x}" for x in _take(refused)]
        + [f"lost {x}" for x in _take(lost)]
        + [f"duplicated {x}" for x in _take(duplicated)]
    )
    examples = broke or (
        [f"dead-lettered {x}" for x in _take(dead)]
        + [f"superseded {x}" for x in _take(superseded)]
    )
    accounted = _accounted_clause(len(dead), len(superseded))
    if ok:
        summary = (
            f"All {total:,} expected effects happened exactly once{accounted}."
            if total
            else "No business effects were expected, and none happened."
        )
    else:
        refusing = (
            f"{len(refused):,} refused by the workflow where the effect was expected, "
            if refused
            else ""
        )
        summary = (
            f"Exactly-once broken among {total:,} expected effects: {refusing}"
            f"{len(lost):,} lost, {extra:,} duplicated{accounted}."
        )
    return InvariantResult("exactly_once", ok, counts, examples, summary, judged=total)


def _v(version: float) -> str:
    return "?" if pd.isna(version) else str(int(version))


def _first_unfilled(events: list[str], assigned: Mapping[str, int]) -> str | None:
    for event_id in events:
        if assigned[event_id] == 0:
            return event_id
    return None


def _accounted_clause(dead: int, superseded: int) -> str:
    parts = []
    if dead:
        parts.append(f"{dead:,} dead-lettered")
    if superseded:
        parts.append(f"{superseded:,} superseded")
    return f" ({' and '.join(parts)}, reported by the workflow)" if parts else ""


# ---------------------------------------------------------------- unexpected effects


def _scoped(df: pd.DataFrame, key_column: str) -> pd.Series:
    """Entity keys made unique across partners: ``partner:key`` (bare key without one)."""
    partner = _text(df, "partner")
    key = _text(df, key_column)
    return partner.where(partner == "", partner + ":") + key


def unexpected_effects(expected: pd.DataFrame, effects: pd.DataFrame) -> InvariantResult:
    """No partner effect happened that no delivered event called for.

    An effect is called for when some event that was meant to be delivered
    names its kind (to happen once, or any number of times) for the same
    entity key. Everything else (a kind no rule names, an entity no event is
    about, an effect of a deliberately dropped event) is unexpected.
    """
    live = expected[~_flag(expected, "dropped")]
    called: set[tuple[str, str]] = set()
    for column in ("expected_effect", "allowed_effect"):
        names = _text(live, column)
        entities = _text(live, "entity_id")
        called.update((k, e) for k, e in zip(names, entities, strict=True) if k)
    kinds = _text(effects, "kind").tolist()
    keys = _text(effects, "business_key").tolist()
    events = _text(effects, "event_id").tolist()
    stray: list[str] = []
    by_kind: dict[str, int] = defaultdict(int)
    for kind, key, event_id in zip(kinds, keys, events, strict=True):
        if (kind, key) in called:
            continue
        by_kind[kind] += 1
        source = f" (event {event_id})" if event_id else ""
        stray.append(f"{kind} for {key or '?'}{source}")
    counts: dict[str, int | float] = {"effects": len(kinds), "unexpected": len(stray)}
    counts.update({f"unexpected {k}": n for k, n in sorted(by_kind.items())})
    if not stray:
        summary = f"All {len(kinds):,} partner effects were called for by an event."
    else:
        worst = ", ".join(f"{n:,} × {k}" for k, n in sorted(by_kind.items(), key=lambda i: -i[1]))
        summary = (
            f"{len(stray):,} of {len(kinds):,} partner effects were called for by no event "
            f"({worst})."
        )
    return InvariantResult(
        "unexpected_effects", not stray, counts, _take(stray), summary, judged=len(kinds)
    )


# ---------------------------------------------------------------- all accounted


def all_accounted(
    expected: pd.DataFrame,
    attempts: pd.DataFrame,
    outcomes: pd.DataFrame,
    outcomes_known: bool = True,
    crashes: Sequence[Mapping[str, Any]] = (),
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
    quoted with it.
    """
    if not outcomes_known:
        return _delivered_only(expected, attempts, crashes)
    exp_ids = _text(expected, "event_id")
    dropped = set(exp_ids[_flag(expected, "dropped")])
    meant = list(dict.fromkeys(exp_ids[~_flag(expected, "dropped")]))
    att_ids = _text(attempts, "event_id")
    delivered = set(att_ids[_ok_status(attempts)])
    final = event_outcomes(outcomes)
    invalid = sorted(set(final[~final.isin(TERMINAL_OUTCOMES)].index))
    answers = last_answers(attempts)
    refused_by = refusals(expected, attempts)
    notes = fixture_notes(expected)
    crashed = _crash_by_event(crashes)

    # A dropped event that was delivered anyway must be accounted for like any other.
    universe = list(dict.fromkeys([*meant, *att_ids, *(e for e in delivered if e in dropped)]))
    tally = dict.fromkeys(TERMINAL_OUTCOMES, 0)
    unaccounted: list[str] = []
    lost: list[str] = []
    wrongly_refused: list[str] = []
    refused_ok = unacknowledged = 0
    for event_id in universe:
        if event_id in dropped and event_id not in delivered:
            continue
        outcome = final.get(event_id, "")
        who = f"{event_id}{notes.get(event_id, '')}"
        if outcome in tally:
            tally[outcome] += 1
            if event_id not in delivered:
                unacknowledged += 1
        elif event_id in delivered:
            unaccounted.append(
                f"{who} delivered, outcome {outcome or 'none'}{crashed.get(event_id, '')}"
            )
        elif event_id in refused_by and not outcome:
            refusal = refused_by[event_id]
            if refusal.accounted:
                refused_ok += 1
            else:
                wrongly_refused.append(f"{who} {refusal.describe()}")
        else:
            lost.append(f"{who} {_unanswered(answers.get(event_id))}{crashed.get(event_id, '')}")
    accepted = [
        f"{e}{notes.get(e, '')} answered 2xx, but the pilot says it must be refused"
        for e in accepted_but_declared_refused(expected, attempts)
    ]
    judged = [e for e in universe if not (e in dropped and e not in delivered)]
    counts: dict[str, int | float] = {
        "events": len(judged),
        "delivered": sum(1 for e in judged if e in delivered),
        **tally,
        "refused": refused_ok,
        "refused_wrongly": len(wrongly_refused),
        "accepted_not_refused": len(accepted),
        "unacknowledged": unacknowledged,
        "unaccounted": len(unaccounted),
        "lost": len(lost),
        "invalid_outcomes": len(invalid),
        "dropped": sum(1 for e in dropped if e not in delivered),
    }
    ok = not (unaccounted or lost or invalid or wrongly_refused or accepted)
    examples = (
        _take(wrongly_refused)
        + _take(accepted)
        + _take(unaccounted)
        + _take(lost)
        + [f"{e} has outcome {final[e]!r}, not a terminal outcome" for e in _take(invalid)]
    )
    n = int(counts["events"])
    refused_text = f", {refused_ok:,} refused by design" if refused_ok else ""
    if ok:
        summary = (
            f"All {n:,} events are accounted for: {tally['processed']:,} processed, "
            f"{tally['dead_lettered']:,} dead-lettered, {tally['superseded']:,} superseded, "
            f"{tally['duplicate']:,} duplicate{refused_text}."
        )
    else:
        summary = (
            f"{len(unaccounted) + len(lost):,} of {n:,} events are unaccounted for "
            f"({len(unaccounted):,} delivered without a terminal outcome, {len(lost):,} lost)"
            + _refusal_clause(len(wrongly_refused), len(accepted))
            + (f"; {len(invalid):,} with an unknown outcome" if invalid else "")
            + "."
            + _crash_clause(crashes, crashed)
        )
    return InvariantResult("all_accounted", ok, counts, examples, summary, judged=n)


def _unanswered(last: Any) -> str:
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


def _crash_clause(crashes: Sequence[Mapping[str, Any]], tied: Mapping[str, str]) -> str:
    """The first error the workflow logged that names no event: a crash is evidence too."""
    loose = [c for c in crashes if not c.get("event_id")]
    if not loose:
        return ""
    n = len(crashes)
    return (
        f" The workflow logged {_plural(n, 'error')} during the run, "
        f"e.g. {_crash_quote(loose[0])}."
    )


def _delivered_only(
    expected: pd.DataFrame, attempts: pd.DataFrame, crashes: Sequence[Mapping[str, Any]] = ()
) -> InvariantResult:
    exp_ids = _text(expected, "event_id")
    meant = list(dict.fromkeys(exp_ids[~_flag(expected, "dropped")]))
    delivered = set(_text(attempts, "event_id")[_ok_status(attempts)])
    answers = last_answers(attempts)
    refused_by = refusals(expected, attempts)
    notes = fixture_notes(expected)
    crashed = _crash_by_event(crashes)
    lost: list[str] = []
    wrongly_refused: list[str] = []
    refused_ok = 0
    for event_id in meant:
        if event_id in delivered:
            continue
        who = f"{event_id}{notes.get(event_id, '')}"
        refusal = refused_by.get(event_id)
        if refusal is None:
            lost.append(f"{who} {_unanswered(answers.get(event_id))}{crashed.get(event_id, '')}")
        elif refusal.accounted:
            refused_ok += 1
        else:
            wrongly_refused.append(f"{who} {refusal.describe()}")
    accepted = [
        f"{e}{notes.get(e, '')} answered 2xx, but the pilot says it must be refused"
        for e in accepted_but_declared_refused(expected, attempts)
    ]
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
            + _crash_clause(crashes, crashed)
        )
    examples = _take(wrongly_refused) + _take(accepted) + _take(lost)
    return InvariantResult("all_accounted", ok, counts, examples, summary, judged=len(meant))


# ---------------------------------------------------------------- final state


def final_state(
    expected: pd.DataFrame,
    effects: pd.DataFrame,
    outcomes: pd.DataFrame | None = None,
    *,
    fail_dead_lettered_applied: bool = False,
) -> InvariantResult:
    """The partner ends holding the newest expected version of each entity.

    Entities judged are those with at least one expected business effect (so
    something must exist at the partner). The last applied version (effects
    ordered by ``at``) must equal the highest version among the entity's
    non-dropped events, whether or not those events have an effect of their
    own to count (updates usually do not). When outcomes are given, events
    the workflow dead-lettered are left out of the target (reported, not
    lost). A lost update is either ``overwritten`` (the newest version was
    applied, then an older one on top: the reordering bug) or ``stale`` (the
    newest version never arrived). An entity ahead of its target because a
    dead-lettered event's version landed all the same (the workflow gave up on
    a call whose answer was lost) is ``dead_lettered_applied``: an unknown
    outcome, reported, and a failure only with ``fail_dead_lettered_applied``.
    """
    rows = pd.DataFrame(
        {
            "event_id": _text(expected, "event_id"),
            "key": _scoped(expected, "entity_id"),
            "version": _number(expected, "entity_version"),
            "anchor": _text(expected, "expected_effect") != "",
        }
    )[~_flag(expected, "dropped")]
    rows = rows[(_text(expected, "entity_id") != "")[rows.index]]
    rows = rows[rows["version"].notna()]
    dead_events: set[str] = set()
    if outcomes is not None:
        final = event_outcomes(outcomes)
        dead_events = set(final[final == "dead_lettered"].index)
    live = rows[~rows["event_id"].isin(dead_events)]
    dead_versions = set(
        zip(
            rows.loc[rows["event_id"].isin(dead_events), "key"],
            rows.loc[rows["event_id"].isin(dead_events), "version"],
            strict=True,
        )
    )

    def newest(table: pd.DataFrame) -> pd.Series:
        anchored = set(table.loc[table["anchor"], "key"])
        return table[table["key"].isin(anchored)].groupby("key")["version"].max()

    all_target = newest(rows)
    target = newest(live)

    eff = pd.DataFrame(
        {
            "at": _number(effects, "at"),
            "key": _scoped(effects, "business_key"),
            "version": _number(effects, "entity_version"),
        }
    ).dropna(subset=["version"])
    eff = eff.sort_values("at", kind="stable")
    last = eff.groupby("key")["version"].last()
    highest = eff.groupby("key")["version"].max()

    missing: list[str] = []
    overwritten: list[str] = []
    stale: list[str] = []
    ahead: list[str] = []
    applied_dead: list[str] = []
    correct = 0
    for key, want in target.items():
        key = str(key)
        if key not in last.index:
            missing.append(f"{key}: nothing applied, expected v{_v(want)}")
            continue
        got = last[key]
        if got == want:
            correct += 1
        elif got > want and (key, got) in dead_versions:
            applied_dead.append(
                f"{key}: holds v{_v(got)} from a dead-lettered event, newest processed v{_v(want)}"
            )
        elif got > want:
            ahead.append(f"{key}: holds v{_v(got)}, newest expected v{_v(want)}")
        elif highest[key] >= want:
            overwritten.append(f"{key}: v{_v(want)} applied, then overwritten by v{_v(got)}")
        else:
            stale.append(f"{key}: holds v{_v(got)}, v{_v(want)} never applied")
    dead_entities = [
        str(k) for k in all_target.index if k not in target.index or target[k] < all_target[k]
    ]
    counts: dict[str, int | float] = {
        "entities": len(target),
        "correct": correct,
        "lost_updates": len(overwritten) + len(stale),
        "overwritten": len(overwritten),
        "stale": len(stale),
        "missing": len(missing),
        "ahead": len(ahead),
        "dead_lettered": len(dead_entities),
        "dead_lettered_applied": len(applied_dead),
    }
    ok = not (missing or overwritten or stale or ahead)
    if fail_dead_lettered_applied and applied_dead:
        ok = False
    examples = (
        [f"overwritten {x}" for x in _take(overwritten)]
        + [f"stale {x}" for x in _take(stale)]
        + [f"missing {x}" for x in _take(missing)]
        + [f"ahead {x}" for x in _take(ahead)]
        + [f"dead-lettered but applied {x}" for x in _take(applied_dead)]
    )
    tail = (
        f" ({len(dead_entities):,} with a dead-lettered newest version, reported)"
        if dead_entities
        else ""
    )
    if applied_dead:
        tail += (
            f" ({len(applied_dead):,} ahead because a dead-lettered update was applied "
            "anyway: an unknown outcome)"
        )
    correct_or_known = correct + (0 if fail_dead_lettered_applied else len(applied_dead))
    if ok and not len(target):
        summary = (
            "Judged nothing: no entity has an expected effect and a version to end on"
            f"{tail}."
        )
    elif ok:
        summary = (
            f"{correct_or_known:,} of {len(target):,} entities end at their newest expected "
            f"version{tail}."
            if applied_dead
            else f"All {len(target):,} entities end at their newest expected version{tail}."
        )
    else:
        summary = (
            f"{len(target) - correct_or_known:,} of {len(target):,} entities end in the wrong "
            "state: "
            f"{len(overwritten):,} overwritten by an older version, {len(stale):,} stale, "
            f"{len(missing):,} missing, {len(ahead):,} ahead{tail}."
        )
    return InvariantResult("final_state", ok, counts, examples, summary, judged=len(target))


# ---------------------------------------------------------------- SLO


def event_latencies(
    attempts: pd.DataFrame,
    effects: pd.DataFrame,
    outcomes: pd.DataFrame | None = None,
    expected: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per attempted event: when it started, ended, and whether it ended well.

    Columns: ``start`` (first attempt's sent_at), ``end`` (first effect's ``at``,
    else the last 2xx attempt's finished_at), ``latency_ms``, ``attempts``,
    ``delivered`` (any 2xx), ``outcome`` (strongest reported, "" if none),
    ``ended_well``: with outcomes, processed/superseded/duplicate; without,
    simply having an end; and ``detail``, the workflow's words for its outcome.
    With ``expected``, an event the workflow refused by design (see
    ``harness.checks.answers``) has outcome "refused", ends well, and ends at
    its first refusal (the provider's retries after it are not the workflow's);
    one refused where an effect was expected keeps no outcome and says so in
    ``detail``. Indexed by event_id. Vectorised: a
    million attempts take well under a second.
    """
    # One factorize over every id in play, then integer work only: hashing
    # strings once is what keeps a million attempts under a second.
    att_ids = _text(attempts, "event_id")
    eff_ids = _text(effects, "event_id")
    out_ids = _text(outcomes, "event_id") if outcomes is not None else att_ids.iloc[:0]
    codes, uniques = pd.factorize(
        pd.concat([att_ids, eff_ids, out_ids], ignore_index=True), sort=False
    )
    n_att, n_eff = len(att_ids), len(eff_ids)
    c_att, c_eff, c_out = codes[:n_att], codes[n_att : n_att + n_eff], codes[n_att + n_eff :]

    ok = _ok_status(attempts).to_numpy()
    att = pd.DataFrame(
        {
            "code": c_att,
            "sent": _number(attempts, "sent_at").to_numpy(),
            "ok_finished": np.where(ok, _number(attempts, "finished_at").to_numpy(), np.nan),
            "ok": ok,
        }
    )
    per = att.groupby("code", sort=True).agg(
        start=("sent", "min"),
        last_ok=("ok_finished", "max"),
        attempts=("sent", "size"),
        delivered=("ok", "any"),
    )
    present = per.index.to_numpy(dtype=np.int64)
    slot = np.full(len(uniques), -1, dtype=np.int64)
    slot[present] = np.arange(len(present))

    end = np.full(len(present), np.nan)
    resolved = eff_ids.to_numpy(dtype=object) != ""
    at = _number(effects, "at").to_numpy()
    where = slot[c_eff] if n_eff else np.empty(0, dtype=np.int64)
    hit = resolved & (where >= 0)
    if hit.any():
        first_at = pd.Series(at[hit]).groupby(where[hit]).min()
        end[first_at.index.to_numpy(dtype=np.int64)] = first_at.to_numpy()
    per["end"] = np.where(np.isnan(end), per["last_ok"].to_numpy(), end)
    per["latency_ms"] = (per["end"] - per["start"]) * 1000.0

    if outcomes is not None:
        names = _text(outcomes, "outcome").to_numpy(dtype=object)
        rank = _ranks(names)
        where = slot[c_out] if len(c_out) else np.empty(0, dtype=np.int64)
        hit = where >= 0
        labels = np.full(len(present), "", dtype=object)
        if hit.any():
            frame_ = pd.DataFrame({"slot": where[hit], "rank": rank[hit], "name": names[hit]})
            best = frame_.sort_values("rank", kind="stable").drop_duplicates("slot")
            labels[best["slot"].to_numpy(dtype=np.int64)] = best["name"].to_numpy(dtype=object)
        per["outcome"] = labels
        per["ended_well"] = per["outcome"].isin(_GOOD_OUTCOMES)
    else:
        per["outcome"] = ""
        per["ended_well"] = per["end"].notna()
    per.index = pd.Index(uniques, name="event_id")[present]
    per.index.name = "event_id"
    details = outcome_details(outcomes) if outcomes is not None else {}
    per["detail"] = per.index.map(details).fillna("") if details else ""
    if expected is not None and len(per):
        _mark_refusals(per, refusals(expected, attempts))
    return per.drop(columns=["last_ok"])


def _mark_refusals(per: pd.DataFrame, refused: Mapping[str, Any]) -> None:
    """Refusals in ``event_latencies``' frame: a by-design one is an answer, and ends well."""
    if not refused:
        return
    for event_id, refusal in refused.items():
        if event_id not in per.index or per.at[event_id, "outcome"] != "":
            continue
        per.at[event_id, "detail"] = refusal.describe()
        if refusal.accounted:
            per.at[event_id, "outcome"] = "refused"
            per.at[event_id, "ended_well"] = True
            per.at[event_id, "end"] = refusal.last.first_refused_at
    per["latency_ms"] = (per["end"] - per["start"]) * 1000.0


def nearest_rank(values: np.ndarray, q: float) -> float:
    """The q-quantile as the smallest value with at least q of the sample at or below it."""
    if values.size == 0:
        return float("nan")
    return float(np.percentile(values, q * 100.0, method="inverted_cdf"))


@dataclass(frozen=True)
class SloTargets:
    p95_ms: float
    success_rate: float

    @classmethod
    def of(cls, cfg: Any) -> SloTargets:
        """From a SloTargets, a mapping or an object such as the pilot's ``[slo]``.

        Accepts ``p95_ms`` or the pilot file's ``p95_latency_ms``.
        """
        if isinstance(cfg, SloTargets):
            return cfg
        get = cfg.get if isinstance(cfg, Mapping) else lambda k: getattr(cfg, k, None)
        p95 = get("p95_ms")
        if p95 is None:
            p95 = get("p95_latency_ms")
        rate = get("success_rate")
        if p95 is None or rate is None:
            raise ValueError("slo settings need p95_latency_ms (or p95_ms) and success_rate")
        return cls(p95_ms=float(p95), success_rate=float(rate))


def slo(
    attempts: pd.DataFrame,
    effects: pd.DataFrame,
    p95_ms: float,
    success_rate: float,
    outcomes: pd.DataFrame | None = None,
    expected: pd.DataFrame | None = None,
) -> InvariantResult:
    """End-to-end p95 latency and success rate meet the pilot's targets.

    Latency runs from an event's first attempt to its first partner effect
    (or to its last 2xx when it causes no effect, or to the refusal of an
    event refused by design, which ends well). The p95 is nearest-rank over
    events that ended well. Success rate is events that ended well over
    events attempted. The examples are the events that broke a target: those
    that did not end well when the success rate is missed, the ones slower
    than the target when the p95 is; none when both hold.
    """
    per = event_latencies(attempts, effects, outcomes, expected)
    events = len(per)
    well = per[per["ended_well"]]
    latencies = well["latency_ms"].dropna().to_numpy()
    p95 = nearest_rank(latencies, 0.95)
    rate = len(well) / events if events else float("nan")
    within = int((well["latency_ms"] <= p95_ms).sum())
    counts: dict[str, int | float] = {
        "events": events,
        "ended_well": len(well),
        "within_latency": within,
        "success_rate": rate,
        "success_target": success_rate,
        "p50_ms": nearest_rank(latencies, 0.50),
        "p95_ms": p95,
        "p99_ms": nearest_rank(latencies, 0.99),
        "max_ms": float(latencies.max()) if latencies.size else float("nan"),
        "p95_target_ms": p95_ms,
    }
    latency_ok = latencies.size == 0 or p95 <= p95_ms
    rate_ok = events > 0 and rate >= success_rate
    ok = bool(latency_ok and rate_ok)
    notes = fixture_notes(expected) if expected is not None else {}
    examples: list[str] = []
    if not rate_ok:
        failed = per[~per["ended_well"]].head(MAX_EXAMPLES)
        examples += [
            f"{event_id}{notes.get(str(event_id), '')} did not end well "
            f"(outcome {row.outcome or 'none'}{_said({'': row.detail}, '')}, "
            f"{int(row.attempts)} attempt{'s' if row.attempts != 1 else ''})"
            for event_id, row in failed.iterrows()
        ]
    if not latency_ok:
        slow = well[well["latency_ms"] > p95_ms].sort_values("latency_ms", ascending=False)
        examples += [
            f"{event_id}{notes.get(str(event_id), '')} took {ms:,.0f} ms, "
            f"over the {p95_ms:,.0f} ms target"
            for event_id, ms in slow["latency_ms"].head(MAX_EXAMPLES).items()
        ]
    if events == 0:
        summary = "No events were attempted, so the SLO cannot be shown to hold."
    else:
        verb = "meets" if ok else "misses"
        p95_text = "n/a" if np.isnan(p95) else f"{p95:,.0f} ms"
        summary = (
            f"The run {verb} its SLO: p95 {p95_text} against {p95_ms:,.0f} ms, "
            f"success {rate:.2%} against {success_rate:.2%} over {_plural(events, 'event')}."
        )
    return InvariantResult("slo", ok, counts, examples, summary, judged=events)


# ---------------------------------------------------------------- unknown outcomes


def dead_lettered_applied(
    expected: pd.DataFrame,
    effects: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    fail: bool = False,
) -> InvariantResult:
    """Events the workflow dead-lettered although their effect landed at the partner.

    The workflow gave up on a call whose answer never came (a timeout, a lost
    answer) while the partner had applied it: an unknown outcome, not a broken
    promise. An effect belongs to the event by ``event_id`` when tied, else by
    kind, entity key and version. Reported with counts and examples; it fails
    only when the pilot asks (``[checks] dead_lettered_applied = "fail"``).
    """
    final = event_outcomes(outcomes)
    dead = set(final[final == "dead_lettered"].index)
    live = expected[~_flag(expected, "dropped")]
    rows = pd.DataFrame(
        {
            "event_id": _text(live, "event_id"),
            "kinds": list(
                zip(_text(live, "expected_effect"), _text(live, "allowed_effect"), strict=True)
            ),
            "key": _text(live, "entity_id"),
            "version": _number(live, "entity_version"),
        }
    )
    rows = rows[rows["event_id"].isin(dead)].drop_duplicates("event_id")
    tied = set(_text(effects, "event_id"))
    loose = set(
        zip(
            _text(effects, "kind")[_text(effects, "event_id") == ""],
            _text(effects, "business_key")[_text(effects, "event_id") == ""],
            _number(effects, "entity_version")[_text(effects, "event_id") == ""],
            strict=True,
        )
    )
    applied: list[str] = []
    for event_id, kinds, key, version in zip(
        rows["event_id"], rows["kinds"], rows["key"], rows["version"], strict=True
    ):
        named = [k for k in kinds if k]
        if not named:
            continue
        if event_id in tied or any((k, key, version) in loose for k in named):
            applied.append(f"{event_id} ({named[0]} for {key} v{_v(version)})")
    counts: dict[str, int | float] = {"dead_lettered": len(dead), "applied": len(applied)}
    if applied:
        summary = (
            f"{len(applied):,} of {len(dead):,} dead-lettered events were applied at the "
            "partner anyway: dead-lettered but applied (an unknown outcome"
            + (", which this pilot fails)." if fail else ", reported).")
        )
    elif dead:
        summary = f"None of the {len(dead):,} dead-lettered events was applied at the partner."
    else:
        summary = "No event was dead-lettered."
    ok = not (fail and applied)
    return InvariantResult(
        "dead_lettered_applied", ok, counts, _take(applied), summary, judged=len(dead)
    )


# ---------------------------------------------------------------- all together


class RunTables(Protocol):
    attempts: pd.DataFrame
    effects: pd.DataFrame
    outcomes: pd.DataFrame
    expected: pd.DataFrame


def _tables(run_tables: RunTables | Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    names = ("attempts", "effects", "outcomes", "expected")
    if isinstance(run_tables, Mapping):
        missing = [n for n in names if n not in run_tables]
        if missing:
            raise ValueError(f"run tables lack {', '.join(missing)}")
        found = {n: run_tables[n] for n in names}
        if "requests" in run_tables:
            found["requests"] = run_tables["requests"]
        return found
    found = {n: getattr(run_tables, n) for n in names}
    table = getattr(run_tables, "table", None)
    if callable(table):
        # A journal.Run reads its tables by name.
        found["requests"] = table("requests")
    return found


def check_all(
    run_tables: RunTables | Mapping[str, pd.DataFrame],
    slo_cfg: Any,
    *,
    outcomes_known: bool = True,
    politeness: Any = None,
    fail_dead_lettered_applied: bool = False,
    crashes: Sequence[Mapping[str, Any]] = (),
) -> list[InvariantResult]:
    """Every invariant over one run (a ``journal.Run`` or a mapping of tables).

    ``outcomes_known`` is False for a workflow with no outcomes source: its
    dead letters cannot be told from losses, so only delivery is judged.
    With ``requests``, the ``contract`` check runs first: events whose calls
    a partner rejected as not fitting its API are judged there, and left out
    of the others (never counted as lost). The politeness checks
    (``retry_after_honoured``, ``call_budget``) run then too, with the pilot's
    ``[politeness]`` (``politeness``); ``fail_dead_lettered_applied`` is the
    pilot's ``[checks] dead_lettered_applied = "fail"``. ``crashes`` are the
    errors the workflow logged (``harness.drill.workflow_log``).
    """
    from harness.checks import contract as agreed  # both import this module
    from harness.checks import politeness as polite

    t = _tables(run_tables)
    targets = SloTargets.of(slo_cfg)
    fail_dead = fail_dead_lettered_applied
    finding = None
    if "requests" in t:
        finding = agreed.contract(t["requests"], t["expected"], t["effects"])
        for name in ("expected", "attempts", "outcomes"):
            t[name] = agreed.without_events(t[name], finding.events)
    outcomes = t["outcomes"]
    results = [
        exactly_once(t["expected"], t["effects"], outcomes, t["attempts"]),
        unexpected_effects(t["expected"], t["effects"]),
        all_accounted(t["expected"], t["attempts"], outcomes, outcomes_known, crashes),
        final_state(
            t["expected"],
            t["effects"],
            outcomes,
            fail_dead_lettered_applied=fail_dead and outcomes_known,
        ),
        slo(
            t["attempts"],
            t["effects"],
            targets.p95_ms,
            targets.success_rate,
            outcomes if outcomes_known else None,
            t["expected"],
        ),
    ]
    if finding is not None:
        results += [
            finding.result,
            polite.retry_after_honoured(t["requests"], politeness),
            polite.call_budget(t["expected"], t["requests"], politeness),
        ]
    if outcomes_known:
        results.append(
            dead_lettered_applied(t["expected"], t["effects"], outcomes, fail=fail_dead)
        )
    return results


def contract_only(results: Iterable[InvariantResult]) -> bool:
    """The one failure is calls a partner rejected: the drill could not judge those events."""
    failed = [r.name for r in results if not r.ok]
    return failed == ["contract"]


def all_ok(results: Iterable[InvariantResult]) -> bool:
    return all(result.ok for result in results)
