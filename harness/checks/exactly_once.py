"""exactly_once: each expected business effect happened once at the partner.

Two steps: ``exactly_once_table`` places every partner effect (on the
expected event it belongs to, or as unexpected or untracked) and notes what
the workflow said about each expected event; ``judge_exactly_once`` reads
that table into the verdict. ``exactly_once`` is both.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pandas as pd

from harness.checks.columns import flag, number, text
from harness.checks.result import InvariantResult, take
from harness.checks.settings import CheckSettings
from harness.checks.tables import RunTables
from harness.checks.wording import quoted_detail

__all__ = ["check_exactly_once", "exactly_once", "exactly_once_table", "judge_exactly_once"]

NAME = "exactly_once"
# The table's columns (see exactly_once_table).
COLUMNS = [
    "event_id",
    "kind",
    "key",
    "version",
    "role",
    "effects",
    "outcome",
    "said",
    "note",
    "refusal",
]


class _Fx(NamedTuple):
    """One expected or observed effect, as plain Python values."""

    event_id: str
    kind: str
    key: str
    version: float


def _columns(df: pd.DataFrame, *columns: tuple[str, str]) -> list[list[Any]]:
    """Columns as plain lists (``("text", name)`` or ``("number", name)``)."""
    read = {"text": text, "number": number}
    return [read[kind](df, name).tolist() for kind, name in columns]


def _expected_effects(expected: pd.DataFrame) -> list[_Fx]:
    """Each event's effect to cause exactly once (its first row), in table order."""
    # Plain lists: on a drill's few dozen rows each pandas filter costs more than the loop.
    ids, kinds, keys, versions = _columns(
        expected,
        ("text", "event_id"),
        ("text", "expected_effect"),
        ("text", "entity_id"),
        ("number", "entity_version"),
    )
    out: dict[str, _Fx] = {}
    for event_id, kind, key, v, dropped in zip(
        ids, kinds, keys, versions, flag(expected, "dropped").tolist(), strict=True
    ):
        if kind != "" and not dropped and event_id not in out:
            out[event_id] = _Fx(event_id, kind, key, v)
    return list(out.values())


def allowed_versions(expected: pd.DataFrame) -> set[tuple[str, str, float]]:
    """(kind, key, version) an event may cause but need not (``allowed_effect``)."""
    may, must, keys, versions = _columns(
        expected,
        ("text", "allowed_effect"),
        ("text", "expected_effect"),
        ("text", "entity_id"),
        ("number", "entity_version"),
    )
    return {
        (kind, key, v)
        for kind, other, key, v in zip(may, must, keys, versions, strict=True)
        if kind != "" and other == ""
    }


def _observed_effects(effects: pd.DataFrame) -> list[_Fx]:
    """The partner's effects by time (stable; undated ones last, as pandas sorts NaN)."""
    at, ids, kinds, keys, versions = _columns(
        effects,
        ("number", "at"),
        ("text", "event_id"),
        ("text", "kind"),
        ("text", "business_key"),
        ("number", "entity_version"),
    )
    order = sorted(
        range(len(at)), key=lambda i: (math.isnan(at[i]), 0.0 if math.isnan(at[i]) else at[i])
    )
    return [_Fx(ids[i], kinds[i], keys[i], versions[i]) for i in order]


@dataclass
class _Placed:
    """Where each partner effect went: onto an expected event, or aside."""

    assigned: dict[str, int]
    unexpected: int = 0
    untracked: int = 0


def _place(expected: pd.DataFrame, wanted: list[_Fx], effects: pd.DataFrame) -> _Placed:
    """Tie each effect to its expected event: by event_id, else by kind, key and version."""
    by_event = {row.event_id: row for row in wanted}
    by_group: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in by_event.values():
        by_group[(row.kind, row.key)].append(row.event_id)
    placed = _Placed(dict.fromkeys(by_event, 0))
    observed = _observed_effects(effects)
    # Kinds no event is expected to cause exactly once (updates, in order-sync)
    # are final_state's business; they are counted here, not judged.
    tracked = set(text(expected, "expected_effect")) - {""}
    # Effects whose event is known are placed first, so the guesswork for the
    # rest only fills what is left.
    known = set(text(expected, "event_id").tolist())
    allowed = allowed_versions(expected)
    for row in (fx for fx in observed if fx.event_id in known):
        target = by_event.get(row.event_id)
        if target is not None and target.kind == row.kind and target.key == row.key:
            placed.assigned[row.event_id] += 1
        elif row.kind not in tracked:
            placed.untracked += 1
        else:
            placed.unexpected += 1
    for row in (fx for fx in observed if fx.event_id not in known):
        if row.kind not in tracked:
            placed.untracked += 1
            continue
        candidates = by_group.get((row.kind, row.key), [])
        if not candidates:
            placed.unexpected += 1
            continue
        same_version = [e for e in candidates if by_event[e].version == row.version]
        if not same_version and (row.kind, row.key, row.version) in allowed:
            # The very version an event may cause (a record's captured version
            # that changed at its source, say) is that event's, not a duplicate.
            placed.untracked += 1
            continue
        pick = (
            _first_unfilled(same_version, placed.assigned)
            or _first_unfilled(candidates, placed.assigned)
            or (same_version or candidates)[0]
        )
        placed.assigned[pick] += 1
    return placed


def _first_unfilled(events: list[str], assigned: Mapping[str, int]) -> str | None:
    for event_id in events:
        if assigned[event_id] == 0:
            return event_id
    return None


def exactly_once_table(
    expected: pd.DataFrame,
    effects: pd.DataFrame,
    outcomes: pd.DataFrame,
    attempts: pd.DataFrame | None = None,
    *,
    run: RunTables | None = None,
) -> pd.DataFrame:
    """One row per expected effect, then one per partner effect no expected one accounts for.

    An effect is tied to its event by ``event_id`` when the harness resolved
    it; otherwise by kind and business key, preferring the same entity
    version. Columns: ``event_id``, ``kind``, ``key``, ``version``; ``role``
    ("expected"; "unexpected" for an effect of an expected kind that no event
    accounts for; "untracked" for an effect of a kind no event must cause
    once); ``effects`` (how many effects landed for it: 1 for the others);
    and for expected rows what the workflow said: ``outcome`` ("" if none),
    ``said`` (its detail, quoted), ``note`` (the fixture's) and ``refusal``
    (how it refused the event, with ``attempts``; "" if it did not). ``run``:
    the same tables as a ``RunTables``, whose derived tables other checks share.
    """
    if run is None:
        gone = pd.DataFrame() if attempts is None else attempts
        run = RunTables(expected=expected, attempts=gone, effects=effects, outcomes=outcomes)
    wanted = _expected_effects(expected)
    placed = _place(expected, wanted, effects)
    outcome_of = run.outcome_of
    details = run.outcome_details
    notes = run.fixture_notes
    refused_by = run.refusals if attempts is not None else {}
    rows = [
        (
            fx.event_id,
            fx.kind,
            fx.key,
            fx.version,
            "expected",
            placed.assigned[fx.event_id],
            str(outcome_of.get(fx.event_id, "")),
            quoted_detail(details, fx.event_id),
            notes.get(fx.event_id, ""),
            refused_by[fx.event_id].last.describe() if fx.event_id in refused_by else "",
        )
        for fx in wanted
    ]
    aside = [("unexpected", placed.unexpected), ("untracked", placed.untracked)]
    for role, n in aside:
        rows += [("", "", "", float("nan"), role, 1, "", "", "", "")] * n
    return pd.DataFrame.from_records(rows, columns=COLUMNS)


@dataclass
class _Sorted:
    """Expected events by what became of them (example lines, in table order)."""

    lost: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    extra: int = 0  # effects beyond the first, over all events
    once: int = 0


def _sort(rows: pd.DataFrame) -> _Sorted:
    out = _Sorted()
    read = ("event_id", "kind", "key", "effects", "outcome", "said", "note", "refusal")
    # Lists, not Series: iterating an arrow-backed column boxes every cell.
    for event_id, kind, key, n, outcome, said, note, refusal in zip(
        *(rows[column].tolist() for column in read), strict=True
    ):
        label = f"{event_id}{note} ({kind} for {key or '?'})"
        if n == 1:
            out.once += 1
        elif n > 1:
            out.extra += int(n) - 1
            out.duplicated.append(f"{event_id}{note}: {n} × {kind} for {key}")
        elif outcome == "dead_lettered":
            out.dead.append(label + said)
        elif outcome == "superseded":
            out.superseded.append(label + said)
        elif refusal and not outcome:
            out.refused.append(f"{label}: {refusal}")
        else:
            out.lost.append(f"{label}, outcome {outcome or 'none'}{said}")
    return out


def judge_exactly_once(table: pd.DataFrame) -> InvariantResult:
    """The verdict over ``exactly_once_table``: no expected effect lost, refused or doubled.

    A missing effect is ``dead_lettered`` or ``superseded`` when the workflow
    said so (accounted for, not a violation), ``refused`` when the workflow
    answered its deliveries with a 4xx (a violation of its own, named with
    the answer), else ``lost``. Unexpected effects are counted here and
    judged by ``unexpected_effects``; untracked ones only counted.
    """
    rows = table[table["role"] == "expected"]
    s = _sort(rows)
    total = len(rows)
    counts: dict[str, int | float] = {
        "expected": total,
        "effects": int(table["effects"].sum()),
        "exactly_once": s.once,
        "lost": len(s.lost),
        "refused": len(s.refused),
        "duplicated": s.extra,
        "duplicated_events": len(s.duplicated),
        "unexpected": int((table["role"] == "unexpected").sum()),
        "dead_lettered": len(s.dead),
        "superseded": len(s.superseded),
        "untracked": int((table["role"] == "untracked").sum()),
    }
    ok = not s.lost and not s.extra and not s.refused
    # The events that broke it; when nothing did, the ones the workflow
    # accounted for itself, in its own words.
    broke = (
        [f"refused {x}" for x in take(s.refused)]
        + [f"lost {x}" for x in take(s.lost)]
        + [f"duplicated {x}" for x in take(s.duplicated)]
    )
    examples = broke or (
        [f"dead-lettered {x}" for x in take(s.dead)]
        + [f"superseded {x}" for x in take(s.superseded)]
    )
    return InvariantResult(NAME, ok, counts, examples, _summary(ok, total, s), judged=total)


def _summary(ok: bool, total: int, s: _Sorted) -> str:
    accounted = _accounted_clause(len(s.dead), len(s.superseded))
    if ok:
        return (
            f"All {total:,} expected effects happened exactly once{accounted}."
            if total
            else "No business effects were expected, and none happened."
        )
    refusing = (
        f"{len(s.refused):,} refused by the workflow where the effect was expected, "
        if s.refused
        else ""
    )
    return (
        f"Exactly-once broken among {total:,} expected effects: {refusing}"
        f"{len(s.lost):,} lost, {s.extra:,} duplicated{accounted}."
    )


def _accounted_clause(dead: int, superseded: int) -> str:
    parts = []
    if dead:
        parts.append(f"{dead:,} dead-lettered")
    if superseded:
        parts.append(f"{superseded:,} superseded")
    return f" ({' and '.join(parts)}, reported by the workflow)" if parts else ""


def exactly_once(
    expected: pd.DataFrame,
    effects: pd.DataFrame,
    outcomes: pd.DataFrame,
    attempts: pd.DataFrame | None = None,
    *,
    run: RunTables | None = None,
) -> InvariantResult:
    """Every expected business effect happened exactly once at the partner.

    Effects of a kind no expected row names are ``untracked``, not
    violations; a refusal is judged only with ``attempts``. See
    ``exactly_once_table`` and ``judge_exactly_once``.
    """
    return judge_exactly_once(exactly_once_table(expected, effects, outcomes, attempts, run=run))


def check_exactly_once(tables: RunTables, *, settings: CheckSettings) -> InvariantResult:
    """The registry's checker: ``exactly_once`` over the run's tables."""
    return exactly_once(
        tables.expected, tables.effects, tables.outcomes, tables.attempts, run=tables
    )
