"""capture: one of the capture's own quirks let into the event set, where it was captured.

The hunt's base set leaves out a repeated event, an update before its
create and an update older than one already taken (``search.space.quirks``);
this family lets one back in. A hunt-only family like ``move``: a scenario
says it through ``delivery.events``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.inputs.delivery_faults._family import Family, FamilyFault, HuntSpace, event_label
from harness.inputs.fixtures import CapturedRequest

if TYPE_CHECKING:
    from hypothesis.strategies import DrawFn


@dataclass(frozen=True)
class CaptureFault(FamilyFault):
    """A quirky captured event (fixture line ``line``) joins the set, in captured order."""

    line: int

    def place(self) -> int:
        """The captured line let in."""
        return self.line


def strategy(draw: DrawFn, space: HuntSpace) -> CaptureFault:
    """One of the quirks."""
    from hypothesis import strategies as st  # a pilot load must not pay for Hypothesis

    return CaptureFault(draw(st.sampled_from(space.quirks)))


def available(space: HuntSpace) -> bool:
    """Only when the capture has quirks near the set."""
    return bool(space.quirks)


def tell(space: HuntSpace, fault: CaptureFault, events: Sequence[CapturedRequest]) -> str:
    """The captured line that is sent too."""
    return (
        f"the capture's own line {fault.line} {event_label(events[fault.line])} is sent too, "
        "where it was captured (a repeat, an update before its create, or an older "
        "update after a newer one)"
    )


FAMILY = Family(
    name="capture",
    hunt="capture",
    fault=CaptureFault,
    strategy=strategy,
    available=available,
    tell=tell,
)
