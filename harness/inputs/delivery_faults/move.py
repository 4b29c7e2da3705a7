"""move: an event delivered late, right after a later one (a delayed delivery).

A hunt-only family: a scenario says it through the order of
``delivery.events`` (``harness.search.translate`` writes and reads it back),
so it has no table and no plan step of its own. A neighbour swap is the
smallest move.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.inputs.delivery_faults._family import (
    Family,
    FamilyFault,
    HuntSpace,
    event_label,
    sent,
)
from harness.inputs.fixtures import CapturedRequest

if TYPE_CHECKING:
    from hypothesis.strategies import DrawFn


@dataclass(frozen=True)
class MoveFault(FamilyFault):
    """Event ``position`` is delivered late: right after event ``after`` (> position)."""

    position: int
    after: int

    def place(self) -> int:
        """The event moved."""
        return self.position


def strategy(draw: DrawFn, space: HuntSpace) -> MoveFault:
    """A move past events about the same entity half the time (ordering is about entities)."""
    from hypothesis import strategies as st  # a pilot load must not pay for Hypothesis

    # The plain kind comes first, so the shrinker prefers it.
    related = bool(space.related) and draw(st.booleans())
    if related:
        position, after = draw(st.sampled_from(space.related))
        return MoveFault(position, after)
    n = len(space.events)
    position = draw(st.integers(0, n - 2))
    # By how far: one place (a neighbour swap) is the simplest.
    return MoveFault(position, position + draw(st.integers(1, n - 1 - position)))


def available(space: HuntSpace) -> bool:
    """A move needs two events."""
    return len(space.events) > 1


def tell(space: HuntSpace, fault: MoveFault, events: Sequence[CapturedRequest]) -> str:
    """Which event now comes after which."""
    moved, after = events[space.events[fault.position]], events[space.events[fault.after]]
    if fault.after == fault.position + 1:
        return (
            f"events #{fault.position} and #{fault.after} arrive swapped: "
            f"{event_label(after)} before {event_label(moved)}"
        )
    return (
        f"event #{fault.position} {event_label(moved)} is {sent(space)} late, "
        f"after event #{fault.after} {event_label(after)}"
    )


FAMILY = Family(
    name="move", hunt="move", fault=MoveFault, strategy=strategy, available=available, tell=tell
)
