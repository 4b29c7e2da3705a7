"""End-to-end drills: real workflow processes, real partner simulator, real fault proxy.

Each fault kind is drilled against both reference workflows with the same
scenario and seed. The naive workflow's violations must be detected with the
counts that the raw evidence (the partner's own ledger file) implies; the
hardened workflow must hold every invariant.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.checks.invariants import InvariantResult
from harness.drill import DrillResult, run_drill
from harness.inputs.fixtures import load_fixtures
from harness.inputs.pilot import Pilot, load_pilot

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def naive() -> Pilot:
    return load_pilot(REPO / "pilots/order-sync-naive.toml")


@pytest.fixture(scope="module")
def hardened() -> Pilot:
    return load_pilot(REPO / "pilots/order-sync.toml")


def result(drill: DrillResult, name: str) -> InvariantResult:
    return next(r for r in drill.results if r.name == name)


def ledger(drill: DrillResult) -> list[dict[str, Any]]:
    path = drill.run_dir / "ledger-logistics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def extra_shipments(drill: DrillResult) -> int:
    """Shipments beyond one per order, counted straight from the partner's ledger."""
    created = Counter(e["key"] for e in ledger(drill) if e["effect"] == "shipment.created")
    return sum(n - 1 for n in created.values())


SCENARIOS = ["duplicates", "partner-timeout", "connection-resets", "partner-throttle"]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_naive_duplicates_are_detected_and_hardened_holds(
    scenario: str, naive: Pilot, hardened: Pilot, tmp_path: Path
) -> None:
    bad = await run_drill(naive, scenario, reports=tmp_path)
    good = await run_drill(hardened, scenario, reports=tmp_path)

    assert good.ok, [r.summary for r in good.results if not r.ok]
    assert extra_shipments(good) == 0

    once = result(bad, "exactly_once")
    assert not bad.ok
    assert extra_shipments(bad) > 0
    assert once.counts["duplicated"] == extra_shipments(bad)


async def test_reordering_loses_updates_in_naive_only(
    naive: Pilot, hardened: Pilot, tmp_path: Path
) -> None:
    bad = await run_drill(naive, "reordered", reports=tmp_path)
    good = await run_drill(hardened, "reordered", reports=tmp_path)
    assert good.ok, [r.summary for r in good.results if not r.ok]

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
