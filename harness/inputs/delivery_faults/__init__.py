"""Delivery fault families: one module per family, and the registry of them.

Each module here holds one family whole (see ``_family.Family``): its table
in a scenario's ``delivery``, its plan step, how the hunt draws it and the
sentence that tells it. The pilot schema builds ``delivery`` from
``specs()``, ``harness.plan.schedule`` runs the steps, ``harness.search``
draws and tells the faults, all by walking ``REGISTRY``.

Adding a family is adding a module with a ``FAMILY`` and its test, and its
name to ``_ORDER``. The order is meaningful: plan steps run in it, the
families that share the plan's random stream draw in it, and the hunt
offers position faults in it (the shrinker prefers earlier ones).

The coming event sources (queue, poll) and services are to plug in the same
way: a package beside this one (``inputs/sources``, ``inputs/services``)
whose modules each declare their table's model, what they do at each stage
(start, publish or serve, read outcomes) and the faults they add, which join
this registry as families of their own (a queue's redelivery is a ``step``
and a ``strategy`` like ``drop``'s).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from harness.inputs.delivery_faults._family import (
    Bound,
    DeliveryFault,
    Draft,
    Family,
    FamilyFault,
    FamilySpec,
    HuntSpace,
    Slot,
    event_label,
    position_strategy,
)
from harness.inputs.delivery_faults.capture import CaptureFault
from harness.inputs.delivery_faults.move import MoveFault

__all__ = [
    "REGISTRY",
    "Bound",
    "CaptureFault",
    "DeliveryFault",
    "Draft",
    "Family",
    "FamilyFault",
    "FamilySpec",
    "HuntSpace",
    "MoveFault",
    "Slot",
    "event_label",
    "family_of",
    "hunt_families",
    "hunt_kinds",
    "listing_key",
    "position_faults",
    "position_strategy",
    "sender_options",
    "specs",
]

_ORDER = ("duplicate", "drop", "reorder", "stale_signature", "move", "capture", "page")

REGISTRY: dict[str, Family] = {name: import_module(f"{__name__}.{name}").FAMILY for name in _ORDER}


def specs() -> dict[str, type[FamilySpec]]:
    """Each family's ``delivery.<name>`` table, for the pilot schema."""
    return {f.name: f.spec for f in REGISTRY.values() if f.spec is not None}


def position_faults() -> dict[str, Family]:
    """The names ``delivery.faults[].fault`` may take, and the family of each."""
    return {f.position_fault: f for f in REGISTRY.values() if f.position_fault is not None}


def hunt_kinds() -> tuple[str, ...]:
    """The position faults the hunt draws (``DeliveryFault.kind``), simplest first."""
    return tuple(
        f.position_fault
        for f in REGISTRY.values()
        if f.position_fault is not None and f.hunt is not None and f.strategy is None
    )


def family_of(fault: FamilyFault) -> Family:
    """The family that drew a hunt fault (a position fault's by its kind)."""
    if isinstance(fault, DeliveryFault):
        return position_faults()[fault.kind]
    return next(f for f in REGISTRY.values() if f.fault is type(fault))


def listing_key(fault: FamilyFault) -> tuple[int, int, int]:
    """Where a schedule lists a family's fault: before any other kind of fault, by hunt
    family in the registry's order, then by where it acts."""
    return (0, list(hunt_families()).index(family_of(fault).hunt or ""), fault.place())


def sender_options(delivery: Any) -> dict[str, Any]:
    """What the families ask of the sender for a scenario's ``delivery`` (its tables)."""
    out: dict[str, Any] = {}
    for family in REGISTRY.values():
        if family.sending is not None:
            out.update(family.sending(getattr(delivery, family.name, None)))
    return out


def hunt_families() -> dict[str, list[Family]]:
    """Hunt family name (``[hunt] families``) → the delivery fault families it draws."""
    out: dict[str, list[Family]] = {}
    for family in REGISTRY.values():
        if family.hunt is not None:
            out.setdefault(family.hunt, []).append(family)
    return out
