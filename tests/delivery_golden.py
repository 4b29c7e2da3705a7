"""What users see of delivery faults, recorded: plans, hunt schedules, scenarios, sentences.

``python -m tests.delivery_golden`` rewrites ``tests/data/delivery-golden.json``
(``--full FILE`` writes everything compared, for finding what moved);
``tests/test_delivery_golden.py`` checks the code still gives the same. Rewrite
the golden file only when a change to what a pilot's plan or a hunt's draw is meant.

The file keeps each drawn schedule in words and a digest of the rest (its
scenario, plan and story), so it stays small and a difference still names the
pilot, scenario or seed it is in.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from harness.inputs.fixtures import load_fixtures
from harness.inputs.pilot import load_pilot
from harness.plan.schedule import plan_deliveries
from harness.search.hunt import draw_chunk
from harness.search.space import fault_space
from harness.search.story import describe_fault
from harness.search.translate import (
    fault_to_json,
    plan_for,
    scenario_for,
    schedule_from_scenario,
)

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "data" / "delivery-golden.json"
PILOTS = sorted((ROOT / "pilots").glob("*.toml")) + sorted(
    (ROOT / "benchmarks" / "zoo").glob("*.toml")
)
SEEDS = (1, 2, 3, 4, 5)
PER_SEED = 12  # schedules drawn per seed: enough to meet every family, cheap to draw


def _plans(pilot: Any, events: list[Any]) -> dict[str, Any]:
    ids = [e.event_id for e in events]
    offsets = [e.captured_at.timestamp() for e in events]
    out: dict[str, Any] = {}
    for name, scenario in sorted(pilot.spec.scenarios.items()):
        try:
            plan = plan_deliveries(ids, scenario.delivery, scenario.seed, offsets)
            out[name] = plan.as_dict()
        except ValueError as exc:
            out[name] = {"error": str(exc)}
    return out


def _hunt(pilot: Any, events: list[Any]) -> dict[str, Any]:
    space = fault_space(pilot, events)
    out: dict[str, Any] = {}
    for seed in SEEDS:
        drawn = []
        for schedule in draw_chunk(space, seed, PER_SEED):
            scenario = scenario_for(space, schedule)
            plan = plan_for(scenario, events)
            assert schedule_from_scenario(space, scenario) == schedule
            drawn.append(
                {
                    "faults": [fault_to_json(f) for f in schedule],
                    "scenario": scenario.model_dump(mode="json"),
                    "plan": plan.as_dict(),
                    "story": [describe_fault(space, f, events, plan) for f in schedule],
                }
            )
        out[str(seed)] = drawn
    return out


def snapshot() -> dict[str, Any]:
    """Every pilot's plans for its scenarios, and the hunt's first draws for seeds 1..5."""
    out: dict[str, Any] = {}
    hunts: dict[str, dict[str, Any]] = {}  # pilots of the zoo share a fault space
    for path in PILOTS:
        pilot = load_pilot(path)
        fixtures = pilot.resolve(pilot.spec.webhook.fixtures)
        events = load_fixtures(fixtures)
        space = f"{fixtures}|{fault_space(pilot, events)!r}"
        if space not in hunts:
            hunts[space] = _hunt(pilot, events)
        out[str(path.relative_to(ROOT))] = {"plans": _plans(pilot, events), "hunt": hunts[space]}
    return out


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def summary(full: dict[str, Any]) -> dict[str, Any]:
    """The golden file's form: digests, and each drawn schedule's faults in words."""
    return {
        pilot: {
            "plans": {name: digest(plan) for name, plan in found["plans"].items()},
            "hunt": {
                seed: {
                    "schedules": [
                        "; ".join(
                            " ".join(f"{k}={v}" for k, v in fault.items())
                            for fault in drawn["faults"]
                        )
                        for drawn in draws
                    ],
                    "digest": digest(draws),
                }
                for seed, draws in found["hunt"].items()
            },
        }
        for pilot, found in full.items()
    }


if __name__ == "__main__":
    full = snapshot()
    if sys.argv[1:2] == ["--full"]:
        Path(sys.argv[2]).write_text(json.dumps(full, indent=1, sort_keys=True), encoding="utf-8")
    GOLDEN.write_text(json.dumps(summary(full), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    sys.stdout.write(f"wrote {GOLDEN.relative_to(ROOT)}\n")
