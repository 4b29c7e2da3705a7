"""A drill's deadline: what its plan allows when everything is as slow as the pilot permits."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from harness.drill.deadline import MARGIN_S, drill_deadline
from harness.inputs.pilot import PilotSpec, parse_pilot
from harness.plan.schedule import plan_deliveries

OK = Path(__file__).resolve().parent / "bad_inputs" / "pilot-ok.toml"
EVENTS = [f"evt_{i}" for i in range(8)]


def pilot(webhook: dict[str, Any], scenario: dict[str, Any]) -> PilotSpec:
    data = tomllib.loads(OK.read_text())
    data["webhook"].update(webhook)
    data["workflow"].update(settle_timeout_s=3, startup_timeout_s=7)
    data["scenarios"]["baseline"].update(scenario)
    return parse_pilot(data, OK).spec


def deadline(webhook: dict[str, Any], scenario: dict[str, Any]) -> float:
    spec = pilot(webhook, scenario)
    chosen = spec.scenarios["baseline"]
    plan = plan_deliveries(EVENTS, chosen.delivery, chosen.seed)
    return drill_deadline(plan, spec, chosen).seconds


def test_every_part_of_the_plan_adds_its_worst_case() -> None:
    webhook = {"timeout_s": 2.0, "retry_schedule_s": [1.0, 4.0]}
    base = deadline(webhook, {"delivery": {"rate": 2, "concurrency": 4}})
    # 8 deliveries at 2/s: the last at 3.5 s; 8 × 3 attempts on 4 slots × 2 s;
    # redelivery waits 5 s; settle 3 s and a round of polls (no partner: 2 s).
    assert base == (3.5 + 12.0 + 5.0 + 5.0) * 1.1 + MARGIN_S
    slower = deadline(webhook, {"delivery": {"rate": 1, "concurrency": 4}})
    assert slower > base  # the last send moves from 3.5 s to 7 s
    one_slot = deadline(webhook, {"delivery": {"rate": 2, "concurrency": 1}})
    assert one_slot > base  # attempts queue on one slot
    restarts = {"delivery": {"rate": 2, "concurrency": 4}, "workflow": {"restarts": [{"at_s": 60}]}}
    assert deadline(webhook, restarts) == (60 + 12.0 + 5.0 + 7 + 5.0) * 1.1 + MARGIN_S


def test_the_slowest_plan_a_pilot_may_declare_has_a_finite_deadline() -> None:
    webhook = {"timeout_s": 600, "retry_schedule_s": [600.0] * 100}
    slowest = {"burst": {"size": 1, "pause_s": 500}, "concurrency": 1}
    worst = deadline(webhook, {"delivery": slowest})
    assert worst < 10**7
