"""The checks as a registry: names match results, composing adds a check, no module cycle."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from harness.checks.contract import set_aside
from harness.checks.registry import CHECKERS, check_all, compose
from harness.checks.result import InvariantResult
from harness.checks.settings import CheckSettings
from harness.checks.tables import RunTables, read_tables
from harness.journal import frame

REPO = Path(__file__).resolve().parents[1]
SLO = {"p95_ms": 500, "success_rate": 0.99}


def _house() -> ModuleType:
    spec = importlib.util.spec_from_file_location("house", REPO / "tools" / "house.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["house"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _tables(rejected: bool = False) -> dict[str, pd.DataFrame]:
    """Two events, one delivered and applied, one refused by the partner when ``rejected``."""
    expected = [
        {
            "event_id": e,
            "entity_id": k,
            "entity_version": 1,
            "partner": "ship",
            "expected_effect": "ship:created",
        }
        for e, k in (("e1", "o1"), ("e2", "o2"))
    ]
    attempts = [
        {
            "event_id": e,
            "delivery_id": f"{e}-1",
            "attempt": 1,
            "sent_at": t,
            "finished_at": t + 0.1,
            "status": 200,
        }
        for e, t in (("e1", 0.0), ("e2", 1.0))
    ]
    effects = [
        {
            "at": 0.05,
            "partner": "ship",
            "kind": "ship:created",
            "business_key": "o1",
            "entity_version": 1,
            "event_id": "e1",
        }
    ]
    requests = [
        {
            "at": 0.05,
            "partner": "ship",
            "method": "POST",
            "path": "/shipments",
            "status": 201,
            "route": "/shipments",
            "event_id": "e1",
        }
    ]
    if rejected:
        requests.append(
            {
                "at": 1.05,
                "partner": "ship",
                "method": "POST",
                "path": "/shipments",
                "status": 400,
                "route": "/shipments",
                "reason": "body.weight: required",
                "event_id": "e2",
            }
        )
    outcomes = [{"event_id": "e1", "outcome": "processed"}]
    if not rejected:
        effects.append(
            {
                "at": 1.05,
                "partner": "ship",
                "kind": "ship:created",
                "business_key": "o2",
                "entity_version": 1,
                "event_id": "e2",
            }
        )
        outcomes.append({"event_id": "e2", "outcome": "processed"})
    return {
        "expected": frame("expected", expected),
        "attempts": frame("attempts", attempts),
        "effects": frame("effects", effects),
        "outcomes": frame("outcomes", outcomes),
        "requests": frame("requests", requests),
    }


def test_every_checker_gives_the_result_named_by_its_key_in_order() -> None:
    results = check_all(_tables(), SLO)
    assert [r.name for r in results] == list(CHECKERS)
    assert all(r.ok for r in results)


def test_checkers_that_do_not_apply_are_left_out() -> None:
    tables = _tables()
    del tables["requests"]
    names = [r.name for r in check_all(tables, SLO, outcomes_known=False)]
    assert names == ["exactly_once", "unexpected_effects", "all_accounted", "final_state", "slo"]


def test_contract_events_are_judged_there_not_as_lost() -> None:
    results = {r.name: r for r in check_all(_tables(rejected=True), SLO)}
    assert not results["contract"].ok
    assert results["contract"].counts["events"] == 1
    # e2 got no effect because the partner rejected its call: not lost, not counted at all.
    assert results["exactly_once"].ok and results["exactly_once"].counts["expected"] == 1
    assert results["all_accounted"].counts["events"] == 1


def test_composing_a_new_checker_adds_its_result_in_its_place() -> None:
    def effects_seen(tables: RunTables, *, settings: CheckSettings) -> InvariantResult:
        n = len(tables.effects)
        return InvariantResult("effects_seen", n > 0, {"effects": n}, judged=n)

    def never(tables: RunTables, *, settings: CheckSettings) -> InvariantResult | None:
        return None

    checkers: dict[str, Any] = {"effects_seen": effects_seen, "never": never, **CHECKERS}
    tables = set_aside(read_tables(_tables()))
    results = compose(checkers)(tables, CheckSettings(slo=SLO))
    assert [r.name for r in results] == ["effects_seen", *CHECKERS]
    assert results[0].counts == {"effects": 2}


def test_the_checks_import_no_module_in_a_cycle_and_nothing_lazily() -> None:
    house = _house()
    found = {m: p for m, p in house.modules(REPO).items() if m.startswith("harness.checks")}
    assert house.module_cycles(found) == []
    lazy = [i for m, p in found.items() for i in house.imports(m, p) if i.lazy]
    assert lazy == []
    assert "harness.checks.invariants" not in found
    long = [name for name, _ in house.long_functions(found)]
    assert long == []
