"""final_state: the partner ends holding the newest expected version of every entity.

Two steps: ``final_state_table`` sets, per entity, the version it should end
on beside the versions the partner applied; ``judge_final_state`` reads that
table into the verdict. ``final_state`` is both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from harness.checks.columns import flag, number, text
from harness.checks.outcomes import event_outcomes
from harness.checks.result import InvariantResult, take
from harness.checks.settings import CheckSettings
from harness.checks.tables import RunTables
from harness.checks.wording import version

__all__ = ["check_final_state", "final_state", "final_state_table", "judge_final_state"]

NAME = "final_state"


class _Versioned(NamedTuple):
    """An event meant to be sent that names an entity (``partner:entity``) and its version."""

    event_id: str
    key: str
    version: float
    anchor: bool  # it has an expected effect: something must exist


def _versioned_events(expected: pd.DataFrame) -> list[_Versioned]:
    """Events meant to be sent that name an entity and its version, in table order."""
    # Plain lists: on a drill's few dozen rows each pandas filter costs more than the loop.
    entities = text(expected, "entity_id").tolist()
    return [
        _Versioned(event_id, key, v, must != "")
        for event_id, key, v, must, entity, dropped in zip(
            text(expected, "event_id").tolist(),
            _scoped(expected, entities),
            number(expected, "entity_version").tolist(),
            text(expected, "expected_effect").tolist(),
            entities,
            flag(expected, "dropped").tolist(),
            strict=True,
        )
        if not dropped and entity != "" and not math.isnan(v)
    ]


def _scoped(df: pd.DataFrame, keys: list[str]) -> list[str]:
    """``columns.scoped`` as a list: ``partner:key``, the bare key without a partner."""
    partners = text(df, "partner").tolist()
    return [f"{p}:{k}" if p else k for p, k in zip(partners, keys, strict=True)]


def _newest(rows: list[_Versioned]) -> dict[str, float]:
    """Per entity with an expected effect (something must exist), its highest version."""
    anchored = {row.key for row in rows if row.anchor}
    out: dict[str, float] = {}
    for row in rows:
        if row.key in anchored and not row.version <= out.get(row.key, -math.inf):
            out[row.key] = row.version
    return out


def _applied(effects: pd.DataFrame) -> tuple[dict[str, float], dict[str, float]]:
    """Per entity the partner touched: the version it applied last (by ``at``), and the highest."""
    applied = [
        (at, key, v)
        for at, key, v in zip(
            number(effects, "at").tolist(),
            _scoped(effects, text(effects, "business_key").tolist()),
            number(effects, "entity_version").tolist(),
            strict=True,
        )
        if not math.isnan(v)
    ]
    # Stable, by time, effects without one last (as pandas sorts NaN).
    applied.sort(key=lambda e: (math.isnan(e[0]), 0.0 if math.isnan(e[0]) else e[0]))
    last: dict[str, float] = {}
    highest: dict[str, float] = {}
    for _, key, v in applied:
        last[key] = v
        if not v <= highest.get(key, -math.inf):
            highest[key] = v
    return last, highest


def final_state_table(
    expected: pd.DataFrame,
    effects: pd.DataFrame,
    outcomes: pd.DataFrame | None = None,
    *,
    run: RunTables | None = None,
) -> pd.DataFrame:
    """One row per entity with an expected effect: the version it should end on, and the partner's.

    Columns: ``key`` (``partner:entity``); ``newest``, the highest version
    among its events meant to be sent; ``target``, the same without the events
    the workflow dead-lettered (NaN when all were); ``last``, the version the
    partner applied last (effects ordered by ``at``; NaN when none);
    ``highest``, the highest it ever applied; ``last_dead_lettered``, whether
    that last version is a dead-lettered event's. Sorted by key. ``run``: the same
    tables as a ``RunTables``, whose outcomes per event other checks share.
    """
    rows = _versioned_events(expected)
    dead_events: set[str] = set()
    if outcomes is not None:
        final = run.final_outcomes if run is not None else event_outcomes(outcomes)
        dead_events = set(final[final == "dead_lettered"].index)
    dead_versions = {(r.key, r.version) for r in rows if r.event_id in dead_events}
    newest = _newest(rows)
    target = _newest([r for r in rows if r.event_id not in dead_events])
    last, highest = _applied(effects)
    keys = sorted(newest)
    nan = math.nan
    got = [last.get(key, nan) for key in keys]
    table = pd.DataFrame(
        {
            "key": pd.Series(keys, dtype=object).astype(str),
            "newest": np.array([newest[key] for key in keys], dtype=float),
            "target": np.array([target.get(key, nan) for key in keys], dtype=float),
            "last": np.array(got, dtype=float),
            "highest": np.array([highest.get(key, nan) for key in keys], dtype=float),
            # A NaN is never a dead-lettered version (those all have one).
            "last_dead_lettered": np.array(
                [(key, v) in dead_versions for key, v in zip(keys, got, strict=True)], dtype=bool
            ),
        }
    )
    return table


@dataclass
class _Sorted:
    """Entities by how they end (example lines, sorted by key)."""

    missing: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    ahead: list[str] = field(default_factory=list)
    applied_dead: list[str] = field(default_factory=list)
    correct: int = 0


def _sort(judged: pd.DataFrame) -> _Sorted:
    out = _Sorted()
    for key, want, got, highest, got_dead in zip(
        judged["key"].tolist(),
        judged["target"].tolist(),
        judged["last"].tolist(),
        judged["highest"].tolist(),
        judged["last_dead_lettered"].tolist(),
        strict=True,
    ):
        if np.isnan(got):
            out.missing.append(f"{key}: nothing applied, expected v{version(want)}")
        elif got == want:
            out.correct += 1
        elif got > want and got_dead:
            out.applied_dead.append(
                f"{key}: holds v{version(got)} from a dead-lettered event, "
                f"newest processed v{version(want)}"
            )
        elif got > want:
            out.ahead.append(f"{key}: holds v{version(got)}, newest expected v{version(want)}")
        elif highest >= want:
            out.overwritten.append(
                f"{key}: v{version(want)} applied, then overwritten by v{version(got)}"
            )
        else:
            out.stale.append(f"{key}: holds v{version(got)}, v{version(want)} never applied")
    return out


def judge_final_state(
    table: pd.DataFrame, *, fail_dead_lettered_applied: bool = False
) -> InvariantResult:
    """The verdict over ``final_state_table``: every entity ends on its target version.

    Entities whose events were all dead-lettered have no target and are only
    reported. A lost update is ``overwritten`` (the target was applied, then
    an older version on top: the reordering bug) or ``stale`` (the target never
    arrived). An entity ahead of its target because a dead-lettered event's
    version landed all the same is ``dead_lettered_applied``: an unknown
    outcome, a failure only with ``fail_dead_lettered_applied``.
    """
    judged = table[table["target"].notna()]
    s = _sort(judged)
    dead_entities = int((table["target"].isna() | (table["target"] < table["newest"])).sum())
    counts: dict[str, int | float] = {
        "entities": len(judged),
        "correct": s.correct,
        "lost_updates": len(s.overwritten) + len(s.stale),
        "overwritten": len(s.overwritten),
        "stale": len(s.stale),
        "missing": len(s.missing),
        "ahead": len(s.ahead),
        "dead_lettered": dead_entities,
        "dead_lettered_applied": len(s.applied_dead),
    }
    ok = not (s.missing or s.overwritten or s.stale or s.ahead)
    if fail_dead_lettered_applied and s.applied_dead:
        ok = False
    examples = (
        [f"overwritten {x}" for x in take(s.overwritten)]
        + [f"stale {x}" for x in take(s.stale)]
        + [f"missing {x}" for x in take(s.missing)]
        + [f"ahead {x}" for x in take(s.ahead)]
        + [f"dead-lettered but applied {x}" for x in take(s.applied_dead)]
    )
    summary = _summary(ok, len(judged), dead_entities, s, fail_dead_lettered_applied)
    return InvariantResult(NAME, ok, counts, examples, summary, judged=len(judged))


def _summary(ok: bool, entities: int, dead_entities: int, s: _Sorted, fail_applied: bool) -> str:
    tail = (
        f" ({dead_entities:,} with a dead-lettered newest version, reported)"
        if dead_entities
        else ""
    )
    if s.applied_dead:
        tail += (
            f" ({len(s.applied_dead):,} ahead because a dead-lettered update was applied "
            "anyway: an unknown outcome)"
        )
    correct_or_known = s.correct + (0 if fail_applied else len(s.applied_dead))
    if ok and not entities:
        return f"Judged nothing: no entity has an expected effect and a version to end on{tail}."
    if ok:
        return (
            f"{correct_or_known:,} of {entities:,} entities end at their newest expected "
            f"version{tail}."
            if s.applied_dead
            else f"All {entities:,} entities end at their newest expected version{tail}."
        )
    return (
        f"{entities - correct_or_known:,} of {entities:,} entities end in the wrong state: "
        f"{len(s.overwritten):,} overwritten by an older version, {len(s.stale):,} stale, "
        f"{len(s.missing):,} missing, {len(s.ahead):,} ahead{tail}."
    )


def final_state(
    expected: pd.DataFrame,
    effects: pd.DataFrame,
    outcomes: pd.DataFrame | None = None,
    *,
    fail_dead_lettered_applied: bool = False,
    run: RunTables | None = None,
) -> InvariantResult:
    """The partner ends holding the newest expected version of each entity.

    Entities judged are those with at least one expected business effect (so
    something must exist at the partner). The last applied version must equal
    the highest version among the entity's non-dropped events, whether or not
    those events have an effect of their own to count (updates usually do
    not). With outcomes, events the workflow dead-lettered are left out of the
    target (reported, not lost). See ``final_state_table`` and ``judge_final_state``.
    """
    return judge_final_state(
        final_state_table(expected, effects, outcomes, run=run),
        fail_dead_lettered_applied=fail_dead_lettered_applied,
    )


def check_final_state(tables: RunTables, *, settings: CheckSettings) -> InvariantResult:
    """The registry's checker; a dead letter applied fails only when outcomes are known."""
    return final_state(
        tables.expected,
        tables.effects,
        tables.outcomes,
        fail_dead_lettered_applied=settings.fail_dead_lettered_applied and settings.outcomes_known,
        run=tables,
    )
