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


def outcome_details(outcomes: pd.DataFrame) -> dict[str, str]:
    """The workflow's own words (``detail``) for the outcome that describes each event."""
    if outcomes.empty or "detail" not in outcomes.columns:
        return {}
    said = text(outcomes, "detail") != ""
    if not said.any():
        return {}
    table = pd.DataFrame(
        {
            "event_id": text(outcomes, "event_id"),
            "detail": text(outcomes, "detail"),
            "rank": ranks(text(outcomes, "outcome").to_numpy(dtype=object)),
        }
    )
    best = table.sort_values("rank", kind="stable").drop_duplicates("event_id")
    best = best[best["detail"] != ""]
    return dict(zip(best["event_id"], best["detail"], strict=True))


def event_outcomes(outcomes: pd.DataFrame) -> pd.Series:
    """The one outcome that describes each event, indexed by event_id.

    Several rows for an event are resolved by strength: processed, superseded,
    dead_lettered, duplicate. Values outside that list are kept as they are
    so ``all_accounted`` can report them.
    """
    if outcomes.empty:
        return pd.Series(dtype=object, name="outcome")
    table = pd.DataFrame(
        {"event_id": text(outcomes, "event_id"), "outcome": text(outcomes, "outcome")}
    )
    table["rank"] = ranks(table["outcome"].to_numpy(dtype=object))
    best = table.sort_values("rank", kind="stable").drop_duplicates("event_id")
    return best.set_index("event_id")["outcome"].rename("outcome")
