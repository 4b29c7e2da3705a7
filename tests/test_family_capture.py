"""The capture family: one of the capture's quirks let into the hunt's event set."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.inputs.delivery_faults.capture import CaptureFault, available, strategy, tell
from tests.family_helpers import Space, captured

SPACE = Space(events=(0, 1, 2, 4), quirks=(3, 5))


@settings(max_examples=30, database=None, deadline=None)
@given(st.composite(strategy)(SPACE))
def test_it_draws_only_the_spaces_quirks(fault: CaptureFault) -> None:
    assert fault.line in SPACE.quirks


def test_no_quirks_no_capture_fault() -> None:
    assert available(SPACE) and not available(Space())


def test_the_sentence_names_the_captured_line() -> None:
    events = captured()
    told = tell(SPACE, CaptureFault(3), events)
    assert told.startswith(f"the capture's own line 3 {events[3].event_id} (")
    assert "is sent too, where it was captured" in told
