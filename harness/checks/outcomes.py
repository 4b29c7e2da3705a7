"""The outcome the workflow reported for each event, and its own words for it.

When one event has several outcome rows (a redelivery reported as "duplicate"
after the first delivery was "processed"), the strongest one describes it:
processed, superseded, dead_lettered, duplicate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checks.columns import text

__all__ = ["GOOD_OUTCOMES", "TERMINAL_OUTCOMES", "event_outcomes", "outcome_details", "ranks"]

TERMINAL_OUTCOMES = ("processed", "dead_lettered", "superseded", "duplicate")
_PRECEDENCE = {"processed": 0, "superseded": 1, "dead_lettered": 2, "duplicate": 3}
# Outcomes that mean the event ended as it should (dead letters did not).
GOOD_OUTCOMES = frozenset({"processed", "superseded", "duplicate"})


def ranks(names: np.ndarray) -> np.ndarray:
    """Precedence of each outcome name; unknown names rank last."""
    # Few distinct names: rank those, then spread by code (a dict map per row is slow).
    codes, uniques = pd.factorize(names)
    table = np.array([_PRECEDENCE.get(str(u), len(_PRECEDENCE)) for u in uniques], dtype=np.int64)
    return table[codes] if len(codes) else np.zeros(0, dtype=np.int64)


def _best_rows(ids: list[str], names: list[str]) -> list[int]:
    """Per event, the row of its strongest outcome (the first such), by strength then row."""
    worst = len(_PRECEDENCE)
    best: dict[str, tuple[int, int]] = {}
    for row, (event_id, name) in enumerate(zip(ids, names, strict=True)):
        rank = _PRECEDENCE.get(name, worst)
        if event_id not in best or rank < best[event_id][0]:
            best[event_id] = (rank, row)
    return [row for _, row in sorted(best.values())]


def outcome_details(outcomes: pd.DataFrame) -> dict[str, str]:
    """The workflow's own words (``detail``) for the outcome that describes each event."""
    if outcomes.empty or "detail" not in outcomes.columns:
        return {}
    details = text(outcomes, "detail").tolist()
    if not any(details):
        return {}
    # Plain lists: a drill's outcomes are dozens of rows, where a pandas sort costs more.
    ids = text(outcomes, "event_id").tolist()
    rows = _best_rows(ids, text(outcomes, "outcome").tolist())
    return {ids[row]: details[row] for row in rows if details[row] != ""}


def event_outcomes(outcomes: pd.DataFrame) -> pd.Series:
    """The one outcome that describes each event, indexed by event_id.

    Several rows for an event are resolved by strength: processed, superseded,
    dead_lettered, duplicate. Values outside that list are kept as they are
    so ``all_accounted`` can report them.
    """
    if outcomes.empty:
        return pd.Series(dtype=object, name="outcome")
    ids, names = text(outcomes, "event_id"), text(outcomes, "outcome")
    id_list, name_list = ids.tolist(), names.tolist()
    rows = _best_rows(id_list, name_list)
    index = pd.Index([id_list[row] for row in rows], dtype=ids.dtype, name="event_id")
    return pd.Series(
        [name_list[row] for row in rows], index=index, dtype=names.dtype, name="outcome"
    )
