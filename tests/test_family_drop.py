"""The drop family: a lost delivery and the provider's redelivery, or none."""

from __future__ import annotations

from harness.inputs.delivery_faults import DeliveryFault
from harness.inputs.delivery_faults.drop import tell
from tests.family_helpers import EVENT_IDS, Space, captured, plan


def test_lost_for_good_when_the_provider_never_redelivers() -> None:
    found = plan(drop={"probability": 1, "redeliver_after_s": None})
    assert all(d.lost and d.tags == ("dropped",) for d in found.deliveries)
    assert found.never_delivered == frozenset(EVENT_IDS)


def test_a_bound_drop_is_redelivered_after_its_delay() -> None:
    found = plan(faults=[{"position": 2, "fault": "drop", "delay_s": 1.5}])
    lost = [d for d in found.deliveries if d.lost]
    again = [d for d in found.deliveries if "redelivery" in d.tags]
    assert [(d.event_id, d.tags) for d in lost] == [("evt_2", ("dropped",))]
    assert [(d.event_id, d.at_s, d.lost) for d in again] == [("evt_2", 1.5, False)]
    assert not found.never_delivered


def test_a_copy_brings_a_dropped_event_in_after_all() -> None:
    found = plan(
        drop={"probability": 1, "redeliver_after_s": None},
        faults=[{"position": 0, "fault": "duplicate", "delay_s": 0}],
    )
    assert "evt_0" not in found.never_delivered
    assert "evt_1" in found.never_delivered


def test_the_sentence_says_lost_and_when_it_comes_again() -> None:
    events = captured()
    at_once = tell(Space(), DeliveryFault("drop", 0, 0.0), events)
    assert at_once.startswith(f"the first delivery of event #0 {events[0].event_id} (")
    assert at_once.endswith("is lost; the provider sends it again at once")
    later = tell(Space(), DeliveryFault("drop", 0, 0.5), events)
    assert later.endswith("sends it again after the other events")


def test_on_a_queue_pilot_the_loss_is_a_lost_publish_the_producer_repeats() -> None:
    events = captured()
    told = tell(Space(source="queue"), DeliveryFault("drop", 2, 0.0), events)
    assert told.startswith(f"the first publish of event #2 {events[2].event_id} (")
    assert told.endswith("is lost; the producer publishes it again at once")
    assert "provider" not in told and "delivery" not in told
