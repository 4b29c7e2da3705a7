"""dead_lettered_applied: events the workflow dead-lettered whose effect landed anyway.

An unknown outcome, not a broken promise: reported with counts and examples,
failing only when the pilot asks (``[checks] dead_lettered_applied = "fail"``).
"""

from __future__ import annotations

import pandas as pd

from harness.checks.columns import flag, number, text
from harness.checks.outcomes import event_outcomes
from harness.checks.result import InvariantResult, take
from harness.checks.settings import CheckSettings
from harness.checks.tables import RunTables
from harness.checks.wording import version

__all__ = ["check_dead_lettered_applied", "dead_lettered_applied"]

NAME = "dead_lettered_applied"


def _dead_lettered_rows(expected: pd.DataFrame, dead: set[str]) -> pd.DataFrame:
    """The dead-lettered events meant to be sent, with the effects they could cause."""
    live = expected[~flag(expected, "dropped")]
    rows = pd.DataFrame(
        {
            "event_id": text(live, "event_id"),
            "kinds": list(
                zip(text(live, "expected_effect"), text(live, "allowed_effect"), strict=True)
            ),
            "key": text(live, "entity_id"),
            "version": number(live, "entity_version"),
        }
    )
    return rows[rows["event_id"].isin(dead)].drop_duplicates("event_id")


def _applied(expected: pd.DataFrame, effects: pd.DataFrame, dead: set[str]) -> list[str]:
    """The dead-lettered events an effect landed for, as example lines (table order)."""
    rows = _dead_lettered_rows(expected, dead)
    tied = set(text(effects, "event_id"))
    untied = text(effects, "event_id") == ""
    loose = set(
        zip(
            text(effects, "kind")[untied],
            text(effects, "business_key")[untied],
            number(effects, "entity_version")[untied],
            strict=True,
        )
    )
    applied: list[str] = []
    for event_id, kinds, key, v in zip(
        rows["event_id"], rows["kinds"], rows["key"], rows["version"], strict=True
    ):
        named = [k for k in kinds if k]
        if not named:
            continue
        if event_id in tied or any((k, key, v) in loose for k in named):
            applied.append(f"{event_id} ({named[0]} for {key} v{version(v)})")
    return applied


def dead_lettered_applied(
    expected: pd.DataFrame,
    effects: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    fail: bool = False,
    run: RunTables | None = None,
) -> InvariantResult:
    """Events the workflow dead-lettered although their effect landed at the partner.

    The workflow gave up on a call whose answer never came (a timeout, a lost
    answer) while the partner had applied it. An effect belongs to the event
    by ``event_id`` when tied, else by kind, entity key and version. Fails
    only with ``fail``. ``run``: the same tables as a ``RunTables``, whose
    outcomes per event other checks share.
    """
    final = run.final_outcomes if run is not None else event_outcomes(outcomes)
    dead = set(final[final == "dead_lettered"].index)
    # Most runs dead-letter nothing: then nothing can have been applied for one.
    applied = _applied(expected, effects, dead) if dead else []
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
    return InvariantResult(NAME, ok, counts, take(applied), summary, judged=len(dead))


def check_dead_lettered_applied(
    tables: RunTables, *, settings: CheckSettings
) -> InvariantResult | None:
    """The registry's checker; none for a workflow that reports no outcomes."""
    if not settings.outcomes_known:
        return None
    return dead_lettered_applied(
        tables.expected,
        tables.effects,
        tables.outcomes,
        fail=settings.fail_dead_lettered_applied,
        run=tables,
    )
