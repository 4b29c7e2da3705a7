"""duplicate: the provider delivers an event twice (at-least-once delivery).

``delivery.duplicate = { probability, delay_s }`` copies each delivery with
that probability, the copy ``delay_s`` after the original; bound to a
position (``delivery.faults``), the copy follows ``delay_s`` after that one.
The hunt draws it as a position fault, the copy landing at one of the
space's delays.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.inputs.bounds import Fraction, Seconds
from harness.inputs.delivery_faults._family import (
    Bound,
    DeliveryFault,
    Family,
    FamilySpec,
    HuntSpace,
    Slot,
    label_at,
    sent,
    when,
)
from harness.inputs.fixtures import CapturedRequest


class Duplicate(FamilySpec):
    """``delivery.duplicate``: each delivery copied with ``probability``."""

    probability: Fraction
    delay_s: Seconds = 0.05


def step(slot: Slot, spec: Duplicate | None, bound: Bound | None, draw: float) -> None:
    """A copy of the place's event, after the original (and after a redelivery at equal times)."""
    if bound is not None:
        delay = bound.delay_s
    elif spec is not None and draw < spec.probability:
        delay = spec.delay_s
    else:
        return
    slot.also(slot.at_s + delay, 0.25, "duplicate")


def tell(space: HuntSpace, fault: DeliveryFault, events: Sequence[CapturedRequest]) -> str:
    """The copy, and when it comes."""
    label = label_at(space, fault.position, events)
    copy = when(fault.delay_s)
    return f"event #{fault.position} {label} is {sent(space)} twice, the copy {copy}"


FAMILY = Family(
    name="duplicate",
    spec=Duplicate,
    position_fault="duplicate",
    step=step,
    shared_draw=True,
    hunt="delivery",
    fault=DeliveryFault,
    tell=tell,
)
