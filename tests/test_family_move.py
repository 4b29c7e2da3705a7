"""The move family: an event delivered after a later one; drawn by the hunt, told in words."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.inputs.delivery_faults.move import MoveFault, available, strategy, tell
from tests.family_helpers import Space, captured

SPACE = Space(events=(0, 1, 2, 4, 5), related=((1, 3),))


@settings(max_examples=60, database=None, deadline=None)
@given(st.composite(strategy)(SPACE))
def test_a_drawn_move_goes_after_a_later_event_of_the_set(fault: MoveFault) -> None:
    assert 0 <= fault.position < fault.after < len(SPACE.events)


def test_a_move_needs_two_events() -> None:
    assert available(SPACE) and not available(Space(events=(3,)))


def test_a_neighbour_move_reads_as_a_swap_a_longer_one_as_late() -> None:
    events = captured()
    swap = tell(SPACE, MoveFault(1, 2), events)
    assert swap.startswith("events #1 and #2 arrive swapped: ")
    assert swap.index(events[2].event_id) < swap.index(events[1].event_id)
    late = tell(SPACE, MoveFault(0, 3), events)
    assert late.startswith(f"event #0 {events[0].event_id} (")
    assert f"is delivered late, after event #3 {events[4].event_id} (" in late


def test_on_a_queue_pilot_a_late_event_is_published_late() -> None:
    events = captured()
    told = tell(Space(source="queue"), MoveFault(0, 3), events)
    assert f"is published late, after event #3 {events[3].event_id} (" in told
