"""Every check by name, composed over one run the way Jepsen's ``compose`` does.

A checker is a function from the run's tables (and the pilot's settings, by
keyword) to an ``InvariantResult``, or to None when it does not apply to the
run (the politeness checks without request journals, ``dead_lettered_applied``
for a workflow that reports no outcomes). ``CHECKERS`` lists them in the
order a user sees them; adding an invariant is adding its module and a line
here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import pandas as pd

from harness.checks.all_accounted import check_all_accounted
from harness.checks.contract import check_contract, set_aside
from harness.checks.dead_lettered_applied import check_dead_lettered_applied
from harness.checks.exactly_once import check_exactly_once
from harness.checks.final_state import check_final_state
from harness.checks.politeness import check_call_budget, check_retry_after_honoured
from harness.checks.result import InvariantResult
from harness.checks.settings import CheckSettings
from harness.checks.slo import SloTargets, check_slo
from harness.checks.tables import RunTables, TableSource, read_tables
from harness.checks.unexpected_effects import check_unexpected_effects

__all__ = ["CHECKERS", "Checker", "all_ok", "check_all", "compose", "contract_only"]


class Checker(Protocol):
    """One invariant over a run: its result, or None when it does not apply."""

    def __call__(self, tables: RunTables, *, settings: CheckSettings) -> InvariantResult | None: ...


# Each key is the name its checker's result carries.
CHECKERS: dict[str, Checker] = {
    "exactly_once": check_exactly_once,
    "unexpected_effects": check_unexpected_effects,
    "all_accounted": check_all_accounted,
    "final_state": check_final_state,
    "slo": check_slo,
    "contract": check_contract,
    "retry_after_honoured": check_retry_after_honoured,
    "call_budget": check_call_budget,
    "dead_lettered_applied": check_dead_lettered_applied,
}


def compose(
    checkers: Mapping[str, Checker],
) -> Callable[[RunTables, CheckSettings], list[InvariantResult]]:
    """One checker made of many: each run in order, the ones that apply kept."""

    def run(tables: RunTables, settings: CheckSettings) -> list[InvariantResult]:
        results = (checker(tables, settings=settings) for checker in checkers.values())
        return [result for result in results if result is not None]

    return run


def check_all(
    run_tables: TableSource | Mapping[str, pd.DataFrame],
    slo_cfg: Any,
    *,
    outcomes_known: bool = True,
    politeness: Any = None,
    fail_dead_lettered_applied: bool = False,
    crashes: Sequence[Mapping[str, Any]] = (),
    unheard: Sequence[Mapping[str, Any]] = (),
) -> list[InvariantResult]:
    """Every invariant over one run (a ``journal.Run`` or a mapping of tables).

    ``outcomes_known`` is False for a workflow with no outcomes source: its
    dead letters cannot be told from losses, so only delivery is judged.
    With ``requests``, the ``contract`` check is made first: events whose calls
    a partner rejected as not fitting its API are judged there, and left out
    of the others (never counted as lost). The politeness checks
    (``retry_after_honoured``, ``call_budget``) run then too, with the pilot's
    ``[politeness]`` (``politeness``); ``fail_dead_lettered_applied`` is the
    pilot's ``[checks] dead_lettered_applied = "fail"``. ``crashes`` are the
    errors the workflow logged (``harness.drill.workflow_log``); ``unheard``
    the spans in which a link toxic could keep a partner's answers from the
    caller (``CheckSettings``).
    """
    settings = CheckSettings(
        # Read once here, so settings the SLO check cannot read fail before any check runs.
        slo=SloTargets.of(slo_cfg),
        outcomes_known=outcomes_known,
        politeness=politeness,
        fail_dead_lettered_applied=fail_dead_lettered_applied,
        crashes=crashes,
        unheard=unheard,
    )
    return compose(CHECKERS)(set_aside(read_tables(run_tables)), settings)


def contract_only(results: Iterable[InvariantResult]) -> bool:
    """The one failure is calls a partner rejected: the drill could not judge those events."""
    failed = [r.name for r in results if not r.ok]
    return failed == ["contract"]


def all_ok(results: Iterable[InvariantResult]) -> bool:
    """Every invariant held."""
    return all(result.ok for result in results)
