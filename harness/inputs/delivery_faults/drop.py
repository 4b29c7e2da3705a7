"""drop: a delivery lost in transit, and the provider's redelivery (or none).

``delivery.drop = { probability, redeliver_after_s }`` loses each delivery
with that probability; the provider sends it again ``redeliver_after_s``
later, or never when that is unset. Bound to a position, ``delay_s`` is when
it comes again. The lost attempt is in the plan (recorded, never sent).
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
    when,
)
from harness.inputs.fixtures import CapturedRequest


class Drop(FamilySpec):
    """``delivery.drop``: each delivery lost with ``probability``."""

    probability: Fraction
    # When the provider sends the lost delivery again; None means it never does.
    redeliver_after_s: Seconds | None = 1.0


def step(slot: Slot, spec: Drop | None, bound: Bound | None, draw: float) -> None:
    """The place's first delivery lost; a redelivery after it, or the event never delivered."""
    redeliver: float | None
    if bound is not None:
        redeliver = bound.delay_s
    elif spec is not None and draw < spec.probability:
        redeliver = spec.redeliver_after_s
    else:
        return
    slot.marks.append("dropped")
    slot.lost = True
    if redeliver is None:
        slot.never = True
    else:
        slot.also(slot.at_s + redeliver, 0.5, "redelivery")


def tell(space: HuntSpace, fault: DeliveryFault, events: Sequence[CapturedRequest]) -> str:
    """The loss, and when the provider tries again."""
    again = "at once" if fault.delay_s == 0 else when(fault.delay_s)
    label = label_at(space, fault.position, events)
    if space.source == "queue":
        return (
            f"the first publish of event #{fault.position} {label} is lost; "
            f"the producer publishes it again {again}"
        )
    return (
        f"the first delivery of event #{fault.position} {label} "
        f"is lost; the provider sends it again {again}"
    )


FAMILY = Family(
    name="drop",
    spec=Drop,
    position_fault="drop",
    step=step,
    shared_draw=True,
    hunt="delivery",
    fault=DeliveryFault,
    tell=tell,
)
