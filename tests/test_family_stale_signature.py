"""The stale_signature family: deliveries signed long ago, and the sender's age for them."""

from __future__ import annotations

from harness.inputs.delivery_faults import REGISTRY, sender_options
from harness.inputs.pilot import DeliverySpec
from tests.family_helpers import plan


def test_a_bound_stale_signature_marks_that_delivery_only() -> None:
    found = plan(faults=[{"position": 1, "fault": "stale_signature"}])
    assert [d.position for d in found.deliveries if d.stale_signature] == [1]
    assert found.deliveries[1].tags == ("stale_signature",)


def test_its_mark_comes_before_a_drops_whatever_order_steps_run_in() -> None:
    found = plan(stale_signature={"probability": 1}, faults=[{"position": 0, "fault": "drop"}])
    assert found.deliveries[0].tags == ("stale_signature", "dropped")
    redelivered = [d for d in found.deliveries if "redelivery" in d.tags]
    assert redelivered and not redelivered[0].stale_signature  # a retry is signed afresh


def test_the_sender_signs_with_the_tables_age_or_the_default() -> None:
    table = DeliverySpec.model_validate({"stale_signature": {"probability": 0.5, "age_s": 3600}})
    assert sender_options(table) == {"stale_age_s": 3600}
    assert sender_options(DeliverySpec()) == {"stale_age_s": 600.0}


def test_the_hunt_does_not_draw_it() -> None:
    assert REGISTRY["stale_signature"].hunt is None
