"""Small things the delivery fault family tests share: a plan from a table, a space, events."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.inputs.fixtures import CapturedRequest, load_fixtures
from harness.inputs.pilot import DeliverySpec
from harness.plan.schedule import Plan, plan_deliveries

ROOT = Path(__file__).resolve().parent.parent
EVENT_IDS = [f"evt_{i}" for i in range(12)]


def plan(seed: int = 1, **delivery: Any) -> Plan:
    """The plan for EVENT_IDS under a scenario's ``delivery`` table."""
    return plan_deliveries(EVENT_IDS, DeliverySpec.model_validate(delivery), seed)


@dataclass(frozen=True)
class Space:
    """What a family's hunt strategy and sentence read of the hunt's space."""

    events: tuple[int, ...] = (0, 1, 2, 3)
    quirks: tuple[int, ...] = ()
    delays_s: tuple[float, ...] = (0.0, 0.5, 2.0)
    related: tuple[tuple[int, int], ...] = ()
    source: str = "webhook"


def captured() -> list[CapturedRequest]:
    """A real capture (the order-sync pilot's), for sentences that name events."""
    return load_fixtures(ROOT / "fixtures" / "order-sync" / "events.jsonl")
