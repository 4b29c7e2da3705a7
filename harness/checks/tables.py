"""The run's tables as the checks read them, from a ``journal.Run`` or a mapping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import pandas as pd

from harness.checks import answers, outcomes
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

    # What several checks read of the same tables, made once per run by the
    # first check that asks (a frozen dataclass still lets cached_property fill
    # its __dict__). ``set_aside`` makes new tables, so nothing outlives them.

    @cached_property
    def last_answers(self) -> answers.LastAnswers:
        """Every event never answered 2xx, by its last answer (``answers.last_answers``)."""
        return answers.last_answers(self.attempts)

    @cached_property
    def refusals(self) -> dict[str, answers.Refusal]:
        """Every event the workflow refused, judged (``answers.refusals``)."""
        return answers.refusals(self.expected, self.attempts, self.last_answers)

    @cached_property
    def final_outcomes(self) -> pd.Series:
        """The outcome that describes each event (``outcomes.event_outcomes``)."""
        return outcomes.event_outcomes(self.outcomes)

    @cached_property
    def outcome_of(self) -> dict[str, str]:
        """``final_outcomes`` as a dict: looked up per event, where a Series.get costs more."""
        final = self.final_outcomes
        return dict(zip(final.index.tolist(), final.tolist(), strict=True))

    @cached_property
    def outcome_details(self) -> dict[str, str]:
        """The workflow's words for each event's outcome (``outcomes.outcome_details``)."""
        return outcomes.outcome_details(self.outcomes)

    @cached_property
    def fixture_notes(self) -> dict[str, str]:
        """Each event's capture, for examples (``answers.fixture_notes``)."""
        return answers.fixture_notes(self.expected)


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
