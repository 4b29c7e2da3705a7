"""reorder: deliveries arrive out of the order they were captured in.

``delivery.reorder = { window }`` shuffles each run of ``window`` deliveries
(seeded); a bound ``swap`` (``delivery.faults``) exchanges the delivery at
its position with the next one. Deliveries sent out of place are tagged
``reordered``. The hunt moves events through the ``move`` family instead,
which names the event a delivery waits for rather than a plan position.
"""

from __future__ import annotations

from random import Random

from pydantic import Field

from harness.inputs.delivery_faults._family import Bound, Family, FamilySpec


class Reorder(FamilySpec):
    """``delivery.reorder``: shuffle within windows of ``window`` deliveries."""

    window: int = Field(ge=2)


def arrange(order: list[int], spec: Reorder | None, bound: dict[int, Bound], rng: Random) -> None:
    """The windows shuffled first, then each bound swap with the next place."""
    count = len(order)
    if spec is not None:
        for start in range(0, count, spec.window):
            chunk = order[start : start + spec.window]
            rng.shuffle(chunk)
            order[start : start + spec.window] = chunk
    for position in sorted(bound):
        if position + 1 < count:
            order[position], order[position + 1] = order[position + 1], order[position]


FAMILY = Family(name="reorder", spec=Reorder, position_fault="swap", arrange=arrange)
