"""The delivery fault family registry: every module a family, walked by schema, plan and hunt."""

from __future__ import annotations

import pkgutil
import sys
from pathlib import Path

import pytest

import harness.inputs.delivery_faults as registry
from harness.inputs.delivery_faults import REGISTRY, Family, Slot
from harness.inputs.pilot import DeliverySpec, PositionFault
from tests.family_helpers import plan

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import house  # noqa: E402


def test_every_module_of_the_package_is_a_registered_family_of_its_own_name() -> None:
    modules = [
        m.name for m in pkgutil.iter_modules(registry.__path__) if not m.name.startswith("_")
    ]
    assert sorted(modules) == sorted(REGISTRY)
    assert all(family.name == name for name, family in REGISTRY.items())


def test_the_delivery_table_has_a_key_per_family_table() -> None:
    tables = {name for name, family in REGISTRY.items() if family.spec is not None}
    assert tables <= set(DeliverySpec.model_fields)
    known = r"Input should be 'duplicate', 'drop', 'swap' or 'stale_signature'"
    with pytest.raises(ValueError, match=known):
        PositionFault.model_validate({"position": 0, "fault": "explode"})


def test_a_new_family_of_its_own_stream_changes_no_existing_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = {"duplicate": {"probability": 0.4}, "drop": {"probability": 0.3}}
    before = plan(7, **table)

    def echo(slot: Slot, spec: object, bound: object, draw: float) -> None:
        if draw < 0.5:
            slot.marks.append("echo")

    monkeypatch.setitem(REGISTRY, "echo", Family(name="echo", step=echo))
    after = plan(7, **table)
    assert any("echo" in d.tags for d in after.deliveries)
    strip = [
        (d.event_id, d.at_s, tuple(t for t in d.tags if t != "echo")) for d in after.deliveries
    ]
    assert strip == [(d.event_id, d.at_s, d.tags) for d in before.deliveries]


def test_the_plan_and_the_hunt_name_no_family() -> None:
    touches = house.registry_touches()["delivery fault families"]
    assert set(touches) == set(REGISTRY)
    walking = ("harness/plan/", "harness/search/space.py", "harness/search/story.py")
    named = sorted(
        f"{m}: {f}" for m, files in touches.items() for f in files if f.startswith(walking)
    )
    # The one left is the plan's own field: each planned delivery says whether it
    # is signed stale, and plans are saved with that key (the sender reads it).
    assert named == ["stale_signature: harness/plan/schedule.py"]
