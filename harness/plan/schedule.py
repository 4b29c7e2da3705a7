"""Turn a scenario's delivery faults into a concrete, seeded delivery plan.

The plan is plain data and a pure function of (events, scenario, seed): the
same inputs always give the same plan, and the plan is saved with the run so
anyone can see exactly which deliveries were duplicated, dropped or moved.
Provider redeliveries after a failed attempt are not planned here: they
depend on how the workflow answers, and the sender adds them as it goes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.inputs import delivery_faults
from harness.inputs.bounds import MAX_PLAN_S
from harness.inputs.delivery_faults import REGISTRY, Bound, Draft, Slot
from harness.inputs.pilot import DeliverySpec


@dataclass(frozen=True)
class PlannedDelivery:
    """One delivery the sender will make: which event, from when, and what the faults made it."""

    position: int  # order in which the sender takes deliveries off the plan
    event_index: int  # index into the replayed events
    event_id: str
    at_s: float  # earliest send time, seconds after the run starts
    tags: tuple[str, ...] = ()
    lost: bool = False  # lost in transit: recorded as an attempt, never reaches the workflow
    stale_signature: bool = False

    def as_dict(self) -> dict[str, Any]:
        """As saved with the run (in run.json's plan)."""
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    """A drill's deliveries in sending order, and the events no delivery will bring."""

    deliveries: tuple[PlannedDelivery, ...]
    never_delivered: frozenset[str] = field(default_factory=frozenset)  # dropped for good

    def as_dict(self) -> dict[str, Any]:
        """As saved with the run: the deliveries, and the never-delivered ids sorted."""
        return {
            "deliveries": [d.as_dict() for d in self.deliveries],
            "never_delivered": sorted(self.never_delivered),
        }


def _base_times(count: int, spec: DeliverySpec, offsets: Sequence[float] | None) -> list[float]:
    if spec.time_scale is not None and offsets is not None:
        first = min(offsets, default=0.0)
        return [max(0.0, (o - first) * spec.time_scale) for o in offsets[:count]]
    if spec.rate is not None:
        return [i / spec.rate for i in range(count)]
    if spec.burst is not None:
        return [(i // spec.burst.size) * spec.burst.pause_s for i in range(count)]
    return [0.0] * count


def _chosen(event_ids: Sequence[str], spec: DeliverySpec) -> list[int]:
    """The captured events sent, as indexes, in the order the scenario names them."""
    chosen = list(range(len(event_ids))) if spec.events is None else list(spec.events)
    for index in chosen:
        if index >= len(event_ids):
            raise ValueError(
                f"delivery.events: event {index} does not exist; the fixtures hold "
                f"{len(event_ids)} events (0-{len(event_ids) - 1})"
            )
    return chosen if spec.limit is None else chosen[: spec.limit]


def _bound(spec: DeliverySpec) -> dict[str, dict[int, Bound]]:
    """Each family's faults bound to a plan position (``delivery.faults``), by position."""
    names = delivery_faults.position_faults()
    out: dict[str, dict[int, Bound]] = {}
    for fault in spec.faults:
        out.setdefault(names[fault.fault].name, {})[fault.position] = fault
    return out


def _sending_order(count: int, spec: DeliverySpec, bound: dict, rng: random.Random) -> list[int]:
    """Places in the selection, in the order they are sent, as the families arrange them."""
    order = list(range(count))
    for family in REGISTRY.values():
        if family.arrange is not None:
            family.arrange(order, spec.family(family.name), bound.get(family.name, {}), rng)
    return order


def _shape(slot: Slot, spec: DeliverySpec, bound: dict, draws: dict[str, float]) -> None:
    """One place of the plan, through each family's step in the registry's order."""
    for family in REGISTRY.values():
        if family.step is not None:
            mine = bound.get(family.name, {}).get(slot.slot)
            family.step(slot, spec.family(family.name), mine, draws[family.name])


def plan_deliveries(
    event_ids: Sequence[str],
    spec: DeliverySpec,
    seed: int,
    captured_offsets: Sequence[float] | None = None,
) -> Plan:
    """Build the delivery plan for one drill."""
    rng = random.Random(seed)
    chosen = _chosen(event_ids, spec)
    count = len(chosen)
    offsets = None if captured_offsets is None else [captured_offsets[i] for i in chosen]
    times = _base_times(count, spec, offsets)
    bound = _bound(spec)
    order = _sending_order(count, spec, bound, rng)
    stepping = [f for f in REGISTRY.values() if f.step is not None]
    # A family of its own stream draws apart, so adding one changes no existing plan.
    own = {f.name: random.Random(f"{seed}/{f.name}") for f in stepping if not f.shared_draw}

    drafts: list[Draft] = []
    never: set[str] = set()
    for position, picked in enumerate(order):
        # Every draw happens for every place, so adding one fault kind to a
        # scenario does not shift the random choices of the others.
        draws = {f.name: (rng if f.shared_draw else own[f.name]).random() for f in stepping}
        slot = Slot(
            position, chosen[picked], times[position], ["reordered"] if picked != position else []
        )
        _shape(slot, spec, bound, draws)
        drafts += slot.drafts()
        if slot.never:
            never.add(event_ids[slot.event_index])

    # "Never delivered" must be true of the plan as a whole: a duplicate, or a
    # second capture of the same event, may still bring a dropped event in.
    never -= {event_ids[d.event_index] for d in drafts if not d.lost}
    return Plan(deliveries=_numbered(event_ids, drafts), never_delivered=frozenset(never))


def _numbered(event_ids: Sequence[str], drafts: list[Draft]) -> tuple[PlannedDelivery, ...]:
    """The drafts in sending order, numbered; refused if the plan would outlast a drill."""
    last = max((d.at_s for d in drafts), default=0.0)
    if last > MAX_PLAN_S:
        # Each number may be in range and the whole still last for days.
        raise ValueError(
            f"delivery: the last planned send is {last:,.0f} s into the run, past the "
            f"{MAX_PLAN_S:,.0f} s a drill may take (raise rate, lower time_scale or send fewer)"
        )
    drafts.sort(key=lambda d: (d.at_s, d.order))
    return tuple(
        PlannedDelivery(
            position=pos,
            event_index=d.event_index,
            event_id=event_ids[d.event_index],
            at_s=round(d.at_s, 6),
            tags=tuple(d.tags),
            lost=d.lost,
            stale_signature=d.stale,
        )
        for pos, d in enumerate(drafts)
    )
