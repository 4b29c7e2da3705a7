"""The run's tables as the checks read them, from a ``journal.Run`` or a mapping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from harness.checks.result import InvariantResult

__all__ = ["RunTables", "TableSource", "read_tables"]

_REQUIRED = ("attempts", "effects", "outcomes", "expected")


class TableSource(Protocol):
    """A recorded run (``harness.journal.Run``): its tables by attribute."""

    attempts: pd.DataFrame
    effects: pd.DataFrame
    outcomes: pd.DataFrame
    expected: pd.DataFrame


@dataclass(frozen=True)
class RunTables:
    """The tables one run's checks judge (shaped as ``harness.journal.columns``).

    ``requests`` is None for a run without partner request journals.
    ``contract`` is the contract finding once ``harness.checks.contract.set_aside``
    has taken the events it judges out of the other tables (None before, or
    without ``requests``).
    """

    expected: pd.DataFrame
    attempts: pd.DataFrame
    effects: pd.DataFrame
    outcomes: pd.DataFrame
    requests: pd.DataFrame | None = None
    contract: InvariantResult | None = None


def read_tables(source: TableSource | Mapping[str, pd.DataFrame]) -> RunTables:
    """The tables of a ``journal.Run`` or of a mapping of table name to frame."""
    if isinstance(source, Mapping):
        missing = [n for n in _REQUIRED if n not in source]
        if missing:
            raise ValueError(f"run tables lack {', '.join(missing)}")
        return RunTables(
            expected=source["expected"],
            attempts=source["attempts"],
            effects=source["effects"],
            outcomes=source["outcomes"],
            requests=source.get("requests"),
        )
    table = getattr(source, "table", None)
    return RunTables(
        expected=source.expected,
        attempts=source.attempts,
        effects=source.effects,
        outcomes=source.outcomes,
        # A journal.Run reads its other tables by name.
        requests=table("requests") if callable(table) else None,
    )
