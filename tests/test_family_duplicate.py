"""The duplicate family: its table, its plan step, its hunt draw and its sentence."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.inputs.delivery_faults import REGISTRY, DeliveryFault
from harness.inputs.delivery_faults.duplicate import Duplicate, tell
from tests.family_helpers import EVENT_IDS, Space, captured, plan


def test_every_delivery_copied_after_its_original_at_probability_one() -> None:
    found = plan(duplicate={"probability": 1, "delay_s": 0.2})
    copies = [d for d in found.deliveries if d.tags == ("duplicate",)]
    assert [d.event_id for d in copies] == EVENT_IDS
    firsts = {d.event_id: d for d in found.deliveries if not d.tags}
    assert all(c.at_s == pytest.approx(firsts[c.event_id].at_s + 0.2) for c in copies)
    assert all(c.position > firsts[c.event_id].position for c in copies)


def test_a_bound_duplicate_copies_that_position_only() -> None:
    found = plan(faults=[{"position": 3, "fault": "duplicate", "delay_s": 0.5}])
    copies = [d for d in found.deliveries if "duplicate" in d.tags]
    assert [(d.event_id, d.at_s) for d in copies] == [("evt_3", 0.5)]
    assert len(found.deliveries) == len(EVENT_IDS) + 1


def test_probability_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValidationError, match="probability"):
        Duplicate.model_validate({"probability": 1.5})


def test_the_hunt_draws_it_as_a_position_fault_and_tells_when_the_copy_comes() -> None:
    family = REGISTRY["duplicate"]
    assert family.hunt == "delivery" and family.strategy is None
    events = captured()
    now = tell(Space(), DeliveryFault("duplicate", 1, 0.0), events)
    late = tell(Space(), DeliveryFault("duplicate", 1, 2.0), events)
    assert now.startswith(f"event #1 {events[1].event_id} (")
    assert now.endswith("is delivered twice, the copy right after the original")
    assert late.endswith("the copy 2 s later, after the other events")


def test_on_a_queue_pilot_the_copy_is_told_as_a_second_publish() -> None:
    events = captured()
    told = tell(Space(source="queue"), DeliveryFault("duplicate", 1, 0.0), events)
    assert told.endswith("is published twice, the copy right after the original")
    assert "delivered" not in told
