"""Schedules ⇄ drill scenarios: what a hunt runs, and the file it saves.

A schedule's faults name events of the hunt's own set; a scenario names plan
slots. Moves and the capture's quirks are written as the order of
``delivery.events`` (the plan sends them in that order, one at a time), the
rest as position-bound delivery faults, toxic windows by delivery position,
partner faults by request number and workflow restarts by delivery position.
``schedule_from_scenario`` reads such a scenario back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import tomli_w

from harness.inputs.delivery_faults import (
    REGISTRY,
    CaptureFault,
    DeliveryFault,
    FamilyFault,
    MoveFault,
    family_of,
    hunt_kinds,
    listing_key,
)
from harness.inputs.fixtures import CapturedRequest
from harness.inputs.pilot import ScenarioSpec
from harness.plan.schedule import Plan, plan_deliveries
from harness.search.settings import DEFAULT_PARTNER_TIMEOUT_S, OVER_TIMEOUT_MS
from harness.search.space import (
    Fault,
    FaultSpace,
    PartnerFault,
    PartnerKind,
    RateLimitFault,
    RestartFault,
    Schedule,
    ToxicFault,
)

_PARTNER_GROUP = {"slow": 5, "lost_answer": 6, "forget_keys": 7}


def _group(fault: Fault) -> tuple[int, ...]:
    if isinstance(fault, FamilyFault):
        return listing_key(fault)
    if isinstance(fault, ToxicFault):
        return (3, 0)
    if isinstance(fault, RestartFault):
        return (8, fault.after_delivery)
    if isinstance(fault, RateLimitFault):
        return (4, -1)
    # Bursts keep their order among themselves: the first that matches a request wins.
    return (_PARTNER_GROUP.get(fault.kind, 4), 0)


# ---------------------------------------------------------------- event order


def event_order(space: FaultSpace, schedule: Sequence[Fault]) -> list[int]:
    """Fixture lines in sending order: the base set, moved events, and quirks let in.

    A moved event goes right after the base place of its ``after`` event; a
    quirk goes before the first base event captured after it.
    """
    keyed: list[tuple[tuple[int, int, int], int]] = []
    moves = {f.position: f.after for f in schedule if isinstance(f, MoveFault)}
    for position, line in enumerate(space.events):
        after = moves.get(position)
        keyed.append(((after, 1, position) if after is not None else (position, 0, 0), line))
    for line in sorted({f.line for f in schedule if isinstance(f, CaptureFault)}):
        anchor = next((p for p, base in enumerate(space.events) if base > line), len(space.events))
        keyed.append(((anchor, -1, line), line))
    return [line for _key, line in sorted(keyed)]


def moves_in(space: FaultSpace, order: Sequence[int]) -> list[MoveFault]:
    """The moves that give ``order`` (the inverse of ``event_order`` for the base set).

    An event is moved when a later one of the set comes before it; it goes
    after the latest of the set that does.
    """
    position_of = {line: p for p, line in enumerate(space.events)}
    moves: list[MoveFault] = []
    latest = -1
    for line in order:
        position = position_of.get(line)
        if position is None:
            continue
        if latest > position:
            moves.append(MoveFault(position, latest))
        latest = max(latest, position)
    return sorted(moves, key=lambda m: m.position)


def canonical(schedule: Sequence[Fault], space: FaultSpace | None = None) -> Schedule:
    """One form per distinct schedule, in the order its scenario lists the faults.

    Equal faults count once, a position keeps one delivery fault (the plan
    keeps one too), a partner one rate limit and beside it provider-side
    faults only, forgotten keys only beside answers that were received, and
    moves are written the way the order they make reads back; the sort is
    stable, so a scenario reads back the same.
    """
    out: list[Fault] = []
    taken: set[int] = set()
    kept: set[str] = set()  # a family's faults a scenario has room for one of
    for fault in schedule:
        if fault in out:
            continue
        if isinstance(fault, FamilyFault) and (only := fault.exclusive()) is not None:
            if only in kept:
                continue
            kept.add(only)
        if isinstance(fault, RateLimitFault) and any(isinstance(f, RateLimitFault) for f in out):
            continue  # a partner has one rate limit
        if isinstance(fault, DeliveryFault):
            if fault.position in taken:
                continue
            taken.add(fault.position)
        out.append(fault)
    if any(isinstance(f, RateLimitFault) for f in out):
        # A rate limit probes how the workflow waits, judged from the partner's
        # journal of the waits it asked for. Beside it only faults on the
        # provider's side: a held or reset answer, a lost answer or a killed
        # workflow would hold it to waits it was never told (or told a process
        # that died), and with a limit an injected 429/503 carries the limit's
        # RateLimit headers, asking a wait it never meant. Every delivery fault
        # family's fault is on the provider's side.
        out = [f for f in out if isinstance(f, RateLimitFault | FamilyFault)]
    if any(isinstance(f, PartnerFault) and f.kind == "forget_keys" for f in out):
        out = [f for f in out if _beside_forgotten_keys(f)]
    if space is not None and any(isinstance(f, MoveFault) for f in out):
        moves = moves_in(space, event_order(space, out))
        out = [f for f in out if not isinstance(f, MoveFault)] + list(moves)
    return tuple(sorted(out, key=_group))


def _beside_forgotten_keys(fault: Fault) -> bool:
    """Whether a fault may share a schedule with a partner that forgets its keys.

    Forgetting keys asks whether a workflow leans on the partner's idempotency
    to absorb redeliveries. Beside an answer that never came (lost, held,
    reset, an error after the effect, a workflow killed mid-call) no client
    can know its first call landed, so a retry's second effect would be the
    partner's doing, not a defect: the hunt would cry wolf on a correct
    workflow. Answers that say "not done" (429, 503) stay.
    """
    if isinstance(fault, PartnerFault):
        return fault.kind in ("forget_keys", "error", "throttle")
    return isinstance(fault, FamilyFault)


# ---------------------------------------------------------------- to a scenario


def partner_timeout_ms(space: FaultSpace) -> int:
    """The longest wait a caller gives a partner over the links, in ms (a default without links)."""
    waits = [space.timeouts_ms[name] for name in space.links if space.role(name) == "partner"]
    return max(waits, default=round(DEFAULT_PARTNER_TIMEOUT_S * 1000))


def _toxic_window(space: FaultSpace, fault: ToxicFault) -> dict[str, Any]:
    attributes: dict[str, int]
    if fault.kind == "latency":
        attributes = {"latency": space.timeouts_ms[fault.link] + OVER_TIMEOUT_MS}
    else:
        # timeout 0: hold the data (timeout) or reset at once (reset_peer) until switched off.
        attributes = {"timeout": 0}
    return {
        "link": fault.link,
        "type": fault.kind,
        "stream": fault.stream,
        "attributes": attributes,
        "from_delivery": fault.first,
        "until_delivery": fault.last,
    }


def _partner(space: FaultSpace, faults: Sequence[PartnerFault]) -> dict[str, Any]:
    out: dict[str, list[dict[str, Any]]] = {}
    for fault in faults:
        window = {"from_request": fault.first_request, "count": fault.count}
        if fault.kind == "slow":
            delay = partner_timeout_ms(space) + OVER_TIMEOUT_MS
            out.setdefault("slow", []).append({"delay_ms": delay, **window})
        elif fault.kind == "lost_answer":
            out.setdefault("lost_answers", []).append(window)
        elif fault.kind == "forget_keys":
            out.setdefault("forget_keys", []).append({"requests": [fault.first_request]})
        else:
            burst: dict[str, Any] = {"status": fault.status, **window}
            if fault.kind == "error_after_effect":
                burst["after_effect"] = True
            out.setdefault("bursts", []).append(burst)
    return out


def scenario_for(
    space: FaultSpace, schedule: Sequence[Fault], description: str = ""
) -> ScenarioSpec:
    """The drill scenario that applies a schedule: sequential, small, position-bound."""
    order = event_order(space, schedule)
    slot_of = {line: slot for slot, line in enumerate(order)}
    delivery: dict[str, Any] = {"concurrency": 1, "events": order, "faults": []}
    if space.pace_per_s is not None:
        # A queue's consumer takes messages on its own time: paced, a window
        # bound to deliveries covers their consumption, not only their publish.
        delivery["rate"] = space.pace_per_s
    for fault in schedule:
        if isinstance(fault, DeliveryFault):
            delivery["faults"].append(
                {
                    "position": slot_of[space.events[fault.position]],
                    "fault": fault.kind,
                    "delay_s": fault.delay_s,
                }
            )
    delivery["faults"].sort(key=lambda f: f["position"])
    body: dict[str, Any] = {
        "description": description,
        "delivery": delivery,
        "toxics": [_toxic_window(space, f) for f in schedule if isinstance(f, ToxicFault)],
        "partner": _partner(space, [f for f in schedule if isinstance(f, PartnerFault)]),
    }
    for fault in schedule:
        if isinstance(fault, RateLimitFault):
            body["partner"]["rate_limit"] = {
                "capacity": fault.capacity,
                "refill_per_s": fault.refill_per_s,
            }
    for fault in schedule:
        writes = family_of(fault).writes if isinstance(fault, FamilyFault) else None
        for table, fields in (writes(space, fault) if writes else {}).items():
            body.setdefault(table, {}).update(fields)
    restarts = [
        {"after_delivery": f.after_delivery} for f in schedule if isinstance(f, RestartFault)
    ]
    if restarts:
        body["workflow"] = {"restarts": restarts}
    return ScenarioSpec.model_validate(body)


# ---------------------------------------------------------------- back from a scenario


def _partner_back(partner: dict[str, Any]) -> list[PartnerFault]:
    faults: list[PartnerFault] = []
    for burst in partner.get("bursts", []):
        status = int(burst["status"])
        kind: PartnerKind = (
            "error_after_effect"
            if burst.get("after_effect")
            else ("throttle" if status == 429 else "error")
        )
        faults.append(PartnerFault(kind, int(burst["from_request"]), int(burst["count"]), status))
    for item in partner.get("slow", []):
        faults.append(PartnerFault("slow", int(item["from_request"]), int(item["count"])))
    for item in partner.get("lost_answers", []):
        faults.append(PartnerFault("lost_answer", int(item["from_request"]), int(item["count"])))
    for item in partner.get("forget_keys", []):
        for number in item.get("requests", []):
            faults.append(PartnerFault("forget_keys", int(number), 1))
    return faults


def schedule_from_scenario(space: FaultSpace, scenario: ScenarioSpec) -> Schedule:
    """Read a hunt scenario back as a schedule (the inverse of ``scenario_for``)."""
    order = list(scenario.delivery.events or space.events)
    base = set(space.events)
    faults: list[Fault] = []
    for line in order:
        if line not in base:
            if line not in space.quirks:
                raise ValueError(f"event line {line} is neither in the hunt's set nor a quirk")
            faults.append(CaptureFault(line))
    faults.extend(moves_in(space, order))
    for pf in scenario.delivery.faults:
        if pf.fault not in hunt_kinds():
            raise ValueError(f"{pf.fault} is not in the hunt's fault space")
        line = order[pf.position]
        if line not in base:
            raise ValueError(f"a {pf.fault} of a quirk is not in the hunt's fault space")
        faults.append(DeliveryFault(pf.fault, space.events.index(line), pf.delay_s))
    for window in scenario.toxics:
        if window.type not in ("latency", "timeout", "reset_peer"):
            raise ValueError(f"toxic type {window.type!r} is not in the hunt's fault space")
        faults.append(
            ToxicFault(
                window.link,
                window.type,  # type: ignore[arg-type]
                window.stream,
                window.from_delivery or 0,
                window.until_delivery if window.until_delivery is not None else 0,
            )
        )
    faults.extend(_partner_back(scenario.partner))
    for family in REGISTRY.values():
        if family.reads is not None:
            faults.extend(family.reads(space, scenario))
    limit = scenario.partner.get("rate_limit")
    if limit:
        faults.append(RateLimitFault(int(limit["capacity"]), float(limit["refill_per_s"])))
    for restart in scenario.workflow.restarts:
        if restart.after_delivery is None:
            raise ValueError("a restart at a time is not in the hunt's fault space")
        faults.append(RestartFault(restart.after_delivery))
    return canonical(faults, space)


def scenario_toml(name: str, scenario: ScenarioSpec, header: Sequence[str] = ()) -> str:
    """A ``[scenarios.<name>]`` table that can be pasted into a pilot file."""
    body = scenario.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    # A replay is sequential whatever the default concurrency becomes.
    body.setdefault("delivery", {})["concurrency"] = scenario.delivery.concurrency
    text = tomli_w.dumps({"scenarios": {name: body}})
    comments = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header)
    return comments + ("\n" if comments else "") + text


# The hunt family of each fault not a delivery fault family's (those name their own).
_ON = {
    ToxicFault: "toxic",
    PartnerFault: "partner",
    RateLimitFault: "partner",
    RestartFault: "workflow",
}


def fault_to_json(fault: Fault) -> dict[str, Any]:
    """A fault as a hunt's JSON keeps it: its hunt family ("on"), then its fields."""
    on = family_of(fault).hunt if isinstance(fault, FamilyFault) else _ON[type(fault)]
    return {"on": on, **asdict(fault)}


def plan_for(scenario: ScenarioSpec, events: Sequence[CapturedRequest]) -> Plan:
    """The delivery plan a drawn scenario gives, the same one its drill will send."""
    return plan_deliveries([e.event_id for e in events], scenario.delivery, scenario.seed)


def in_flight(fault: ToxicFault, plan: Plan) -> list[int]:
    """Plan positions of the deliveries in flight while a toxic window is on."""
    # On before `first` is dispatched, off once `last` has finished (or when sending
    # ends); with one delivery at a time that is exactly first..last.
    return [d.position for d in plan.deliveries if fault.first <= d.position <= fault.last]
