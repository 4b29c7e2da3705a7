"""stale_signature: a delivery signed long ago (a replayed or delayed request).

``delivery.stale_signature = { probability, age_s }`` signs each delivery
with that probability as if ``age_s`` seconds ago, so a workflow that checks
its signature's timestamp should refuse it (the sender signs with
``age_s``). Bound to a position, that delivery is signed stale. Provider
retries are signed afresh. The hunt does not draw it: a refusal is
the correct answer, not a flaw to find.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from harness.inputs.bounds import MAX_AGE_S, Fraction
from harness.inputs.delivery_faults._family import Bound, Family, FamilySpec, Slot

DEFAULT_AGE_S = 600.0


class StaleSignature(FamilySpec):
    """``delivery.stale_signature``: each delivery signed ``age_s`` ago with ``probability``."""

    probability: Fraction
    age_s: float = Field(DEFAULT_AGE_S, gt=0, le=MAX_AGE_S)


def step(slot: Slot, spec: StaleSignature | None, bound: Bound | None, draw: float) -> None:
    """Marks the place's first delivery as signed stale."""
    if bound is not None or (spec is not None and draw < spec.probability):
        # First among the marks, whatever steps ran before: plans have always
        # tagged a lost stale delivery "stale_signature,dropped".
        slot.marks.insert(0, "stale_signature")
        slot.stale = True


def sending(spec: StaleSignature | None) -> dict[str, Any]:
    """How long ago the sender signs a stale delivery."""
    return {"stale_age_s": spec.age_s if spec is not None else DEFAULT_AGE_S}


FAMILY = Family(
    name="stale_signature",
    spec=StaleSignature,
    position_fault="stale_signature",
    step=step,
    shared_draw=True,
    sending=sending,
)
