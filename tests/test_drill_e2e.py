"""End-to-end drills: real workflow processes, real partner simulator, real fault proxy.

The naive workflow's violations must be detected with the counts that the raw
evidence (the partner's own ledger file) implies, counted here independently
of the invariants. That the hardened workflow holds every invariant in every
scenario is what `pytest --pilots pilots` shows for pilots/order-sync.toml, so
it is not drilled again here.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.checks.result import InvariantResult
from harness.drill import DrillResult, run_drill
from harness.inputs.fixtures import load_fixtures
from harness.inputs.pilot import Pilot, load_pilot

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def naive() -> Pilot:
    return load_pilot(REPO / "pilots/order-sync-naive.toml")


def result(drill: DrillResult, name: str) -> InvariantResult:
    return next(r for r in drill.results if r.name == name)


def ledger(drill: DrillResult) -> list[dict[str, Any]]:
    path = drill.run_dir / "ledger-logistics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def extra_shipments(drill: DrillResult) -> int:
    """Shipments beyond one per order, counted straight from the partner's ledger."""
    created = Counter(e["key"] for e in ledger(drill) if e["effect"] == "shipment.created")
    return sum(n - 1 for n in created.values())


# Duplicates from the sender's side and from the partner's lost answers.
SCENARIOS = ["duplicates", "partner-timeout"]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_naive_duplicates_are_counted_as_the_ledger_shows(
    scenario: str, naive: Pilot, tmp_path: Path
) -> None:
    bad = await run_drill(naive, scenario, reports=tmp_path)
    once = result(bad, "exactly_once")
    assert not bad.ok
    assert extra_shipments(bad) > 0
    assert once.counts["duplicated"] == extra_shipments(bad)


async def test_lost_updates_are_counted_as_the_ledger_shows(naive: Pilot, tmp_path: Path) -> None:
    bad = await run_drill(naive, "reordered", reports=tmp_path)

    # From the ledger alone: the version each order ended with at the partner.
    final: dict[str, int] = {}
    for entry in sorted(ledger(bad), key=lambda e: float(e["at"])):
        final[str(entry["key"])] = int(entry["version"])
    latest: dict[str, int] = {}
    for f in load_fixtures(REPO / "fixtures/order-sync/events.jsonl"):
        latest[f.entity_id] = max(latest.get(f.entity_id, 0), f.entity_version)
    stale = sum(1 for order, version in final.items() if version < latest[order])
    state = result(bad, "final_state")
    assert stale > 0
    assert not state.ok
    assert state.counts["lost_updates"] == stale
