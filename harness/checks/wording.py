"""How the checks word counts, versions and the workflow's own words in their sentences."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

__all__ = ["plural", "quoted_detail", "version"]


def plural(n: int | float, word: str) -> str:
    """``1 event``, ``2,000 events``."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def version(value: float) -> str:
    """An entity version as written after a ``v``: ``3``, or ``?`` when unknown."""
    return "?" if pd.isna(value) else str(int(value))


def quoted_detail(details: Mapping[str, str], event_id: str) -> str:
    """``: "the workflow's detail"`` for an event (clipped), or "" when it said nothing."""
    detail = details.get(event_id, "")
    if not detail:
        return ""
    return f': "{detail if len(detail) <= 100 else detail[:99] + "…"}"'
