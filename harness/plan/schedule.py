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

from harness.inputs.bounds import MAX_PLAN_S
from harness.inputs.pilot import DeliverySpec


@dataclass(frozen=True)
class PlannedDelivery:
    position: int  # order in which the sender takes deliveries off the plan
    event_index: int  # index into the replayed events
    event_id: str
    at_s: float  # earliest send time, seconds after the run starts
    tags: tuple[str, ...] = ()
    lost: bool = False  # lost in transit: recorded as an attempt, never reaches the workflow
    stale_signature: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    deliveries: tuple[PlannedDelivery, ...]
    never_delivered: frozenset[str] = field(default_factory=frozenset)  # dropped for good

    def as_dict(self) -> dict[str, Any]:
        return {
            "deliveries": [d.as_dict() for d in self.deliveries],
            "never_delivered": sorted(self.never_delivered),
        }


@dataclass
class _Draft:
    event_index: int
    at_s: float
    order: float  # tie-break among equal times, keeps the reorder result stable
    tags: list[str]
    lost: bool = False
    stale: bool = False


def _base_times(count: int, spec: DeliverySpec, offsets: Sequence[float] | None) -> list[float]:
    if spec.time_scale is not None and offsets is not None:
        first = min(offsets, default=0.0)
        return [max(0.0, (o - first) * spec.time_scale) for o in offsets[:count]]
    if spec.rate is not None:
        return [i / spec.rate for i in range(count)]
    if spec.burst is not None:
        return [(i // spec.burst.size) * spec.burst.pause_s for i in range(count)]
    return [0.0] * count


def plan_deliveries(
    event_ids: Sequence[str],
    spec: DeliverySpec,
    seed: int,
    captured_offsets: Sequence[float] | None = None,
) -> Plan:
    """Build the delivery plan for one drill."""
    rng = random.Random(seed)
    chosen = list(range(len(event_ids))) if spec.events is None else list(spec.events)
    for index in chosen:
        if index >= len(event_ids):
            raise ValueError(
                f"delivery.events: event {index} does not exist; the fixtures hold "
                f"{len(event_ids)} events (0-{len(event_ids) - 1})"
            )
    if spec.limit is not None:
        chosen = chosen[: spec.limit]
    count = len(chosen)
    offsets = None if captured_offsets is None else [captured_offsets[i] for i in chosen]
    times = _base_times(count, spec, offsets)
    order = list(range(count))

    if spec.reorder is not None:
        window = spec.reorder.window
        for start in range(0, count, window):
            chunk = order[start : start + window]
            rng.shuffle(chunk)
            order[start : start + window] = chunk

    explicit = {f.position: f for f in spec.faults}
    for position, swap in sorted(explicit.items()):
        if swap.fault == "swap" and position + 1 < count:
            order[position], order[position + 1] = order[position + 1], order[position]

    drafts: list[_Draft] = []
    never: set[str] = set()
    for slot, picked in enumerate(order):
        tags = ["reordered"] if picked != slot else []
        index = chosen[picked]  # from a place in the selection to the captured event
        at = times[slot]
        fault = explicit.get(slot)
        # Every draw happens for every slot, so adding one fault kind to a
        # scenario does not shift the random choices of the others.
        dup_draw, drop_draw, stale_draw = rng.random(), rng.random(), rng.random()

        stale = (
            spec.stale_signature is not None and stale_draw < spec.stale_signature.probability
        ) or (fault is not None and fault.fault == "stale_signature")
        dropped = (spec.drop is not None and drop_draw < spec.drop.probability) or (
            fault is not None and fault.fault == "drop"
        )
        duplicated = (spec.duplicate is not None and dup_draw < spec.duplicate.probability) or (
            fault is not None and fault.fault == "duplicate"
        )
        own_tags = tags + (["stale_signature"] if stale else [])

        if dropped:
            drafts.append(_Draft(index, at, slot, [*own_tags, "dropped"], lost=True, stale=stale))
            if fault is not None and fault.fault == "drop":
                redeliver: float | None = fault.delay_s
            else:
                redeliver = spec.drop.redeliver_after_s if spec.drop is not None else None
            if redeliver is None:
                never.add(event_ids[index])
            else:
                drafts.append(_Draft(index, at + redeliver, slot + 0.5, [*tags, "redelivery"]))
        else:
            drafts.append(_Draft(index, at, slot, own_tags, stale=stale))

        if duplicated:
            if fault is not None and fault.fault == "duplicate":
                delay = fault.delay_s
            else:
                delay = spec.duplicate.delay_s if spec.duplicate is not None else 0.0
            drafts.append(_Draft(index, at + delay, slot + 0.25, [*tags, "duplicate"]))

    # "Never delivered" must be true of the plan as a whole: a duplicate, or a
    # second capture of the same event, may still bring a dropped event in.
    never -= {event_ids[d.event_index] for d in drafts if not d.lost}
    last = max((d.at_s for d in drafts), default=0.0)
    if last > MAX_PLAN_S:
        # Each number may be in range and the whole still last for days.
        raise ValueError(
            f"delivery: the last planned send is {last:,.0f} s into the run, past the "
            f"{MAX_PLAN_S:,.0f} s a drill may take (raise rate, lower time_scale or send fewer)"
        )
    drafts.sort(key=lambda d: (d.at_s, d.order))
    deliveries = tuple(
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
    return Plan(deliveries=deliveries, never_delivered=frozenset(never))
