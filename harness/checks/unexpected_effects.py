"""unexpected_effects: no partner effect happened that no event called for."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from harness.checks.columns import flag, text
from harness.checks.result import InvariantResult, take
from harness.checks.settings import CheckSettings
from harness.checks.tables import RunTables

__all__ = ["check_unexpected_effects", "unexpected_effects"]

NAME = "unexpected_effects"


def unexpected_effects(expected: pd.DataFrame, effects: pd.DataFrame) -> InvariantResult:
    """No partner effect happened that no delivered event called for.

    An effect is called for when some event that was meant to be delivered
    names its kind (to happen once, or any number of times) for the same
    entity key. Everything else (a kind no rule names, an entity no event is
    about, an effect of a deliberately dropped event) is unexpected.
    """
    live = expected[~flag(expected, "dropped")]
    called: set[tuple[str, str]] = set()
    for column in ("expected_effect", "allowed_effect"):
        names = text(live, column).tolist()
        entities = text(live, "entity_id").tolist()
        called.update((k, e) for k, e in zip(names, entities, strict=True) if k)
    kinds = text(effects, "kind").tolist()
    keys = text(effects, "business_key").tolist()
    events = text(effects, "event_id").tolist()
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
    return InvariantResult(NAME, not stray, counts, take(stray), summary, judged=len(kinds))


def check_unexpected_effects(tables: RunTables, *, settings: CheckSettings) -> InvariantResult:
    """The registry's checker: ``unexpected_effects`` over the run's tables."""
    return unexpected_effects(tables.expected, tables.effects)
