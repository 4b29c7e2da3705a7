from collections import Counter

from harness.inputs.pilot import DeliverySpec
from harness.plan.schedule import plan_deliveries

EVENTS = [f"evt_{i}" for i in range(30)]


def spec(**kwargs: object) -> DeliverySpec:
    return DeliverySpec.model_validate(kwargs)


def test_plain_plan_is_every_event_once_in_order() -> None:
    plan = plan_deliveries(EVENTS, spec(), seed=1)
    assert [d.event_id for d in plan.deliveries] == EVENTS
    assert [d.position for d in plan.deliveries] == list(range(30))
    assert not any(d.tags for d in plan.deliveries)


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    s = spec(duplicate={"probability": 0.3}, reorder={"window": 5}, drop={"probability": 0.2})
    assert plan_deliveries(EVENTS, s, seed=7) == plan_deliveries(EVENTS, s, seed=7)
    assert plan_deliveries(EVENTS, s, seed=7) != plan_deliveries(EVENTS, s, seed=8)


def test_duplicates_follow_their_original() -> None:
    plan = plan_deliveries(EVENTS, spec(duplicate={"probability": 0.5, "delay_s": 0.1}), seed=3)
    counts = Counter(d.event_id for d in plan.deliveries)
    dups = [d for d in plan.deliveries if "duplicate" in d.tags]
    assert 5 <= len(dups) <= 25
    for dup in dups:
        assert counts[dup.event_id] == 2
        original = next(d for d in plan.deliveries if d.event_id == dup.event_id and not d.tags)
        assert original.position < dup.position
        assert dup.at_s >= original.at_s + 0.1 - 1e-9


def test_reorder_stays_within_window() -> None:
    plan = plan_deliveries(EVENTS, spec(reorder={"window": 5}), seed=2)
    ids = [d.event_id for d in plan.deliveries]
    assert sorted(ids) == sorted(EVENTS)
    assert ids != EVENTS
    for slot, event_id in enumerate(ids):
        assert slot // 5 == EVENTS.index(event_id) // 5
    moved = [d for d in plan.deliveries if "reordered" in d.tags]
    assert moved and all(EVENTS[d.position] != d.event_id for d in moved)


def test_drop_then_redelivery_or_lost_for_good() -> None:
    later = plan_deliveries(EVENTS, spec(drop={"probability": 0.3, "redeliver_after_s": 1}), 5)
    lost = [d for d in later.deliveries if d.lost]
    assert lost
    for d in lost:
        again = [r for r in later.deliveries if r.event_id == d.event_id and "redelivery" in r.tags]
        assert len(again) == 1 and again[0].at_s == d.at_s + 1
    assert not later.never_delivered

    never = plan_deliveries(EVENTS, spec(drop={"probability": 0.3, "redeliver_after_s": None}), 5)
    assert never.never_delivered == {d.event_id for d in never.deliveries if d.lost}


def test_positional_faults_are_exact() -> None:
    s = spec(faults=[{"position": 2, "fault": "duplicate"}, {"position": 5, "fault": "swap"}])
    plan = plan_deliveries(EVENTS[:8], s, seed=1)
    ids = [d.event_id for d in plan.deliveries]
    assert ids.count("evt_2") == 2
    assert ids.index("evt_6") < ids.index("evt_5")
    assert len(ids) == 9


def test_rate_and_captured_timing() -> None:
    paced = plan_deliveries(EVENTS[:4], spec(rate=2), seed=1)
    assert [d.at_s for d in paced.deliveries] == [0.0, 0.5, 1.0, 1.5]
    scaled = plan_deliveries(EVENTS[:3], spec(time_scale=0.5), 1, captured_offsets=[10, 12, 20])
    assert [d.at_s for d in scaled.deliveries] == [0.0, 1.0, 5.0]
    limited = plan_deliveries(EVENTS, spec(limit=3), seed=1)
    assert len(limited.deliveries) == 3


def test_events_choose_which_captured_events_and_their_order() -> None:
    plan = plan_deliveries(
        EVENTS,
        spec(events=[4, 0, 7], faults=[{"position": 1, "fault": "duplicate", "delay_s": 0}]),
        seed=1,
    )
    assert [d.event_id for d in plan.deliveries] == ["evt_4", "evt_0", "evt_0", "evt_7"]
    assert [d.event_index for d in plan.deliveries] == [4, 0, 0, 7]
    assert plan.deliveries[2].tags == ("duplicate",)
    # limit takes the first N of the selection, not of the capture.
    limited = plan_deliveries(EVENTS, spec(events=[9, 3, 5], limit=2), seed=1)
    assert [d.event_id for d in limited.deliveries] == ["evt_9", "evt_3"]


def test_events_keep_captured_spacing_of_the_chosen_ones() -> None:
    offsets = [float(i * 10) for i in range(30)]
    plan = plan_deliveries(
        EVENTS, spec(events=[2, 5], time_scale=0.1), seed=1, captured_offsets=offsets
    )
    assert [d.at_s for d in plan.deliveries] == [0.0, 3.0]


def test_events_out_of_range_is_a_clear_error() -> None:
    import pytest

    with pytest.raises(ValueError, match=r"delivery.events: event 30 does not exist.*30 events"):
        plan_deliveries(EVENTS, spec(events=[1, 30]), seed=1)


def test_a_dropped_event_that_is_also_duplicated_is_not_never_delivered() -> None:
    s = spec(
        drop={"probability": 1.0, "redeliver_after_s": None},
        duplicate={"probability": 1.0, "delay_s": 0.1},
    )
    plan = plan_deliveries(EVENTS[:3], s, seed=1)
    assert not plan.never_delivered
    assert [d.tags for d in plan.deliveries if not d.lost] == [("duplicate",)] * 3


def test_one_fault_per_position() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="position 2 has more"):
        spec(faults=[{"position": 2, "fault": "drop"}, {"position": 2, "fault": "duplicate"}])
