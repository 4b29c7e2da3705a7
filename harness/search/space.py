"""The hunt's fault space: what a schedule may hold, and how Hypothesis draws it.

A schedule is a short list of faults, each bound to a delivery position or a
partner request number (never to the clock), so the same schedule does the
same thing every run:

    delivery  an event delivered twice (the copy right after, or late, up to
              the provider's whole retry horizon), or lost and sent again
    move      an event delivered later, right after a later one (a delayed
              delivery; a neighbour swap is the smallest move)
    capture   one of the capture's own quirks (a repeated event, an update
              before its create) let into the event set, where it was captured
    toxic     a link to a partner slow past its caller's timeout, holding
              answers, or resetting connections while given deliveries are in flight;
              the workflow's link to its queue broker swallowing its acks then cut
              (the broker redelivers what it never saw acknowledged), or reset;
              a link to one of its services ([services.NAME]) reset or held, then closed
    partner   partner calls failing (before or after the effect), throttled,
              answered too late, answered never (lost after the effect), the
              partner forgetting its idempotency keys, or a rate limit that
              answers 429 with Retry-After (the one time-bound partner fault:
              how a workflow waits is what it tests)
    workflow  the workflow process killed (SIGKILL) right after a delivery
              and started again with its state folder

Positions name events of the hunt's own set (``FaultSpace.events``), so a
fault keeps its meaning while the shrinker deletes the others; the scenario
translation (``harness.search.translate``) turns them into plan slots.
Every strategy shrinks towards fewer faults, earlier kinds and smaller
numbers, so the shrinker ends on the plainest schedule that still breaks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hypothesis import strategies as st
from pydantic import ValidationError

from harness.inputs.bounds import MAX_DELAY_S
from harness.inputs.delivery_faults import (
    FamilyFault,
    hunt_families,
    hunt_kinds,
    position_strategy,
)
from harness.inputs.expectations import ExpectationRule, expect_for
from harness.inputs.fixtures import CapturedRequest
from harness.inputs.pilot import Pilot, ScenarioSpec
from harness.search.settings import (
    DEFAULT_EVENTS,
    DEFAULT_MAX_FAULTS,
    DEFAULT_PARTNER_TIMEOUT_S,
    FAMILIES,
    MAX_SPAN,
    RATE_LIMIT_REFILLS,
    late_delays,
)

ToxicKind = Literal["latency", "timeout", "reset_peer"]
# Queue pilots publish this many messages a second in a hunt: slow enough that
# the consumer has taken (and acked) a message before the next is published, so
# a window from delivery a to b covers their consumption and replays the same.
QUEUE_PACE_PER_S = 5.0


def poll_families() -> set[str]:
    """What a [poll] pilot's hunt draws: the partner's faults, and the families that
    bend the source itself (they write scenario tables of their own, not plan faults).

    Its records are pulled by the workflow, not delivered: faults on the delivery
    plan, toxic windows and restarts bound to deliveries mean nothing there.
    """
    outside_plan = {
        name
        for name, members in hunt_families().items()
        if all(f.writes is not None for f in members)
    }
    return {"partner", *outside_plan}


PartnerKind = Literal[
    "error", "error_after_effect", "throttle", "slow", "lost_answer", "forget_keys"
]
Stream = Literal["downstream", "upstream"]


@dataclass(frozen=True)
class ToxicFault:
    """A toxic on a link while the deliveries at plan positions first..last are in flight."""

    link: str
    kind: ToxicKind
    stream: Stream
    first: int
    last: int


@dataclass(frozen=True)
class PartnerFault:
    """A partner misbehaviour on API requests number first_request .. +count-1."""

    kind: PartnerKind
    first_request: int
    count: int
    status: int = 0  # for error kinds; throttle is 429, the others have none


@dataclass(frozen=True)
class RateLimitFault:
    """The partner allows ``capacity`` calls at once, then ``refill_per_s`` a second;
    past that it answers 429 with Retry-After."""

    capacity: int
    refill_per_s: float


@dataclass(frozen=True)
class RestartFault:
    """The workflow is killed and started again right after plan delivery ``after_delivery``."""

    after_delivery: int


# A delivery fault family's fault is a FamilyFault (DeliveryFault, MoveFault,
# CaptureFault ...): a new family's needs no change here.
Fault = FamilyFault | ToxicFault | PartnerFault | RateLimitFault | RestartFault
Schedule = tuple[Fault, ...]


@dataclass(frozen=True)
class FaultSpace:
    """What the hunt may vary for one pilot."""

    events: tuple[int, ...]  # captured events sent, as fixture lines, in this order
    links: tuple[str, ...]  # link names from the pilot (to partners)
    timeouts_ms: dict[str, int]  # per link: the timeout of whoever waits on it
    max_faults: int = DEFAULT_MAX_FAULTS
    families: tuple[str, ...] = FAMILIES  # which kinds of fault are drawn
    quirks: tuple[int, ...] = ()  # fixture lines the capture family may let in
    delays_s: tuple[float, ...] = (0.0, 0.5)  # where a copy or a redelivery may land
    partner_kinds: tuple[PartnerKind, ...] = ("error", "error_after_effect", "throttle", "slow")
    restarts: bool = False  # the workflow can be restarted (a command, and the drill supports it)
    # Pairs (position, later position) of events about the same entity: the
    # moves that put an update before its create, or an older update last.
    related: tuple[tuple[int, int], ...] = ()
    # What each link leads to: "partner", "queue" (the workflow's broker
    # connection) or "service:<kind>" (its own database ...); absent: partner.
    roles: dict[str, str] = field(default_factory=dict)
    # Queue pilots: messages published this many a second, so a toxic window
    # bound to deliveries also covers the consumer taking them (None: at once).
    pace_per_s: float | None = None
    ack_wait_s: float | None = None  # the queue consumer's redelivery delay
    # [poll] pilots: pages one clean pass over the set takes (0: no poll source),
    # and how long the workflow waits for a page (its source link's timeout_s).
    pages: int = 0
    source_timeout_s: float = DEFAULT_PARTNER_TIMEOUT_S
    source: str = "webhook"  # how the events reach the workflow: "webhook", "queue" or "poll"

    def role(self, link: str) -> str:
        """What ``link`` leads to (a partner unless the space says otherwise)."""
        return self.roles.get(link, "partner")

    @property
    def requests(self) -> int:
        """Partner request numbers drawn from 1..this (about one call per event)."""
        return max(1, len(self.events))


def _chosen_and_quirks(
    events: Sequence[CapturedRequest],
    rules: Sequence[ExpectationRule],
    partners: Sequence[str],
    count: int,
) -> tuple[list[int], list[int]]:
    chosen: list[int] = []
    skipped: list[tuple[int, str]] = []  # (line, entity key) of the capture's quirks
    seen: set[str] = set()
    created: set[str] = set()
    newest: dict[str, int] = {}
    # Quirks are looked for a little past the last event chosen too: a stale
    # update often comes right after the newer one it lost the race to.
    for index, event in enumerate(events[: 2 * count + 2]):
        want = expect_for(event, rules, partners)
        key, version = f"{want.partner}:{want.key}", want.version or 0
        creates = want.times == "once"
        if event.event_id in seen or (
            not creates and (key not in created or version <= newest.get(key, -1))
        ):
            skipped.append((index, key))
            continue
        if len(chosen) >= count:
            continue
        chosen.append(index)
        seen.add(event.event_id)
        if creates:
            created.add(key)
        newest[key] = max(newest.get(key, -1), version)
    # Only quirks about entities the set creates: an update for an entity it
    # never creates would wait for ever in any workflow, a finding about the
    # event set rather than the workflow.
    return chosen, [line for line, key in skipped if key in created]


def clean_events(
    events: Sequence[CapturedRequest],
    rules: Sequence[ExpectationRule],
    partners: Sequence[str],
    count: int = DEFAULT_EVENTS,
) -> list[int]:
    """The first ``count`` captured events that make a fault-free day.

    Leaves out a repeated event id, an update whose entity has no create in
    the set yet, and an update that is not newer than one already taken: with
    them in the base set the empty schedule would already break a naive
    workflow. They are not lost to the hunt: the capture family lets each one
    in as a fault of its own (see ``quirks``).
    """
    return _chosen_and_quirks(events, rules, partners, count)[0]


def quirks(
    events: Sequence[CapturedRequest],
    rules: Sequence[ExpectationRule],
    partners: Sequence[str],
    count: int = DEFAULT_EVENTS,
) -> list[int]:
    """The captured lines ``clean_events`` left out among those it looked at."""
    return _chosen_and_quirks(events, rules, partners, count)[1]


def _accepts(scenario: dict[str, Any]) -> bool:
    """Whether this build's scenarios (and so its drills) know a fault."""
    try:
        ScenarioSpec.model_validate(scenario)
    except (ValidationError, ValueError):
        return False
    return True


def supported_partner_kinds() -> tuple[PartnerKind, ...]:
    """The partner fault kinds this build's scenarios accept, so the hunt draws only those."""
    kinds: list[PartnerKind] = ["error", "error_after_effect", "throttle", "slow"]
    if _accepts({"partner": {"lost_answers": [{"from_request": 1, "count": 1}]}}):
        kinds.append("lost_answer")
    if _accepts({"partner": {"forget_keys": [{"requests": [1]}]}}):
        kinds.append("forget_keys")
    return tuple(kinds)


def restarts_supported(pilot: Pilot) -> bool:
    """Whether the hunt may restart the workflow: the lab starts it, and scenarios know restarts.

    Not for queue pilots yet: the restart nemesis counts the webhook sender's
    deliveries in flight, which a queue's publisher does not give it.
    A [poll] pilot neither: its records are pulled, not delivered.
    """
    if pilot.spec.queue is not None or pilot.spec.poll is not None:
        return False
    return pilot.spec.workflow.command is not None and _accepts(
        {"workflow": {"restarts": [{"after_delivery": 0}]}}
    )


def related_pairs(
    chosen: Sequence[int],
    events: Sequence[CapturedRequest],
    rules: Sequence[ExpectationRule],
    partners: Sequence[str],
) -> tuple[tuple[int, int], ...]:
    """(position, later position) of set events whose expectations name the same entity."""
    keys = []
    for line in chosen:
        want = expect_for(events[line], rules, partners)
        keys.append(f"{want.partner}:{want.key}" if want.key else "")
    return tuple(
        (a, b)
        for a in range(len(keys))
        for b in range(a + 1, len(keys))
        if keys[a] and keys[a] == keys[b]
    )


def fault_space(
    pilot: Pilot,
    events: Sequence[CapturedRequest],
    count: int = DEFAULT_EVENTS,
    max_faults: int = DEFAULT_MAX_FAULTS,
    families: Sequence[str] = FAMILIES,
) -> FaultSpace:
    """What the hunt may draw from for this pilot: events, links, partners and fault families.

    Raises ValueError naming the pilot when its fixtures hold no event the hunt can send.
    """
    spec = pilot.spec
    partners = sorted(spec.partners)
    chosen, left_out = _chosen_and_quirks(events, spec.expectations, partners, count)
    if not chosen:
        raise ValueError(f"{pilot.path}: the fixtures hold no events the hunt can send")
    # A link's caller waits link.timeout_s when the pilot declares it; the
    # webhook link's caller is the provider.
    timeouts = {
        name: round(
            1000
            * (
                spec.webhook.timeout_s
                if link.to == "workflow"
                else (link.timeout_s or DEFAULT_PARTNER_TIMEOUT_S)
            )
        )
        for name, link in spec.links.items()
    }
    roles = {
        name: link.to if link.to in ("queue", "source") else "partner"
        for name, link in spec.links.items()
        if link.to != "workflow"  # toxics never go on the webhook link; see ``_toxic_fault``
    }
    # A service is reached through a link of its own name ([services.NAME]).
    roles.update({name: f"service:{service.kind}" for name, service in spec.services.items()})
    queue, poll = spec.queue, spec.poll
    source_timeout_s = DEFAULT_PARTNER_TIMEOUT_S
    if poll is not None:
        families = [f for f in families if f in poll_families()]
        waits = [timeouts[n] for n, link in spec.links.items() if link.to == "source"]
        source_timeout_s = max(waits, default=round(1000 * source_timeout_s)) / 1000
    return FaultSpace(
        events=tuple(chosen),
        links=tuple(roles),
        timeouts_ms=timeouts,
        max_faults=max_faults,
        families=tuple(f for f in FAMILIES if f in families),
        quirks=tuple(left_out),
        # Capped: a scenario's delays may not pass bounds.MAX_DELAY_S.
        delays_s=late_delays(min(sum(spec.webhook.retry_schedule_s), MAX_DELAY_S)),
        partner_kinds=supported_partner_kinds(),
        restarts=restarts_supported(pilot),
        related=related_pairs(chosen, events, spec.expectations, partners),
        roles=roles,
        pace_per_s=QUEUE_PACE_PER_S if queue is not None else None,
        ack_wait_s=queue.ack_wait_s if queue is not None else None,
        pages=math.ceil(len(chosen) / poll.page_size) if poll is not None else 0,
        source_timeout_s=source_timeout_s,
        source="queue" if queue is not None else "poll" if poll is not None else "webhook",
    )


# ---------------------------------------------------------------- strategies


@st.composite
def _partner_fault(draw: st.DrawFn, space: FaultSpace) -> PartnerFault:
    kind: PartnerKind = draw(st.sampled_from(space.partner_kinds))
    first = draw(st.integers(1, space.requests))
    count = 1 if kind == "forget_keys" else draw(st.integers(1, MAX_SPAN))
    status = {"error": 503, "error_after_effect": 500, "throttle": 429}.get(kind, 0)
    if kind == "error":
        status = draw(st.sampled_from((503, 500)))
    return PartnerFault(kind, first, count, status)


@st.composite
def _toxic_fault(draw: st.DrawFn, space: FaultSpace) -> ToxicFault:
    link = draw(st.sampled_from(space.links))
    role = space.role(link)
    kinds: tuple[ToxicKind, ...] = ("latency", "timeout", "reset_peer")
    if role != "partner":
        # Latency is judged against the caller's timeout, which only a partner
        # link declares; a broker or database connection is cut or reset.
        kinds = ("timeout", "reset_peer")
    kind: ToxicKind = draw(st.sampled_from(kinds))
    # Downstream is where "it happened but the caller never heard" lives; a
    # reset can also lose the request on its way up. On the broker link the
    # lost thing is the consumer's ack, which travels up.
    stream: Stream = "upstream" if role == "queue" else "downstream"
    if kind == "reset_peer":
        stream = draw(st.sampled_from(("downstream", "upstream")))
    # The timeline switches a window on as delivery `first` is queued, which
    # with one delivery at a time is while delivery first-1 is still in
    # flight, and off as delivery last+1 is queued (see ``in_flight``). A
    # partner call comes well after its delivery starts, so on a partner link
    # that is the same every run; on the webhook link the switch would race the
    # delivery's own request, so the hunt leaves that link alone (duplicate
    # and drop model the provider's side instead). `first` starts at 1 because
    # a window that starts at 0 would be switched off as delivery 0 starts.
    n = len(space.events)
    first = draw(st.integers(1, n - 1))
    last = min(n - 1, first + draw(st.integers(0, MAX_SPAN - 1)))
    return ToxicFault(link, kind, stream, first, last)


@st.composite
def _rate_limit_fault(draw: st.DrawFn, space: FaultSpace) -> RateLimitFault:
    return RateLimitFault(draw(st.integers(1, 3)), draw(st.sampled_from(RATE_LIMIT_REFILLS)))


@st.composite
def _restart_fault(draw: st.DrawFn, space: FaultSpace) -> RestartFault:
    return RestartFault(draw(st.integers(0, len(space.events) - 1)))


def _delivery_strategies(space: FaultSpace, hunt_family: str) -> list[st.SearchStrategy[Fault]]:
    """The registry's delivery fault families a hunt family draws, in the registry's order."""
    parts: list[st.SearchStrategy[Fault]] = []
    kinds = [f for f in hunt_families().get(hunt_family, []) if f.strategy is None]
    if kinds:
        # Position faults are drawn together: which kind, then where, then when.
        parts.append(st.composite(position_strategy(hunt_kinds()))(space))
    for family in hunt_families().get(hunt_family, []):
        if family.strategy is not None and family.available(space):
            parts.append(st.composite(family.strategy)(space))
    return parts


def fault_strategies(space: FaultSpace) -> list[st.SearchStrategy[Fault]]:
    """One strategy per family the space allows, simplest family first."""
    n = len(space.events)
    parts: list[st.SearchStrategy[Fault]] = []
    for family in FAMILIES:
        if family not in space.families:
            continue
        parts += _delivery_strategies(space, family)
        if family == "partner":
            parts.append(_partner_fault(space))
            parts.append(_rate_limit_fault(space))
        elif family == "toxic" and space.links and n > 1:
            parts.append(_toxic_fault(space))
        elif family == "workflow" and space.restarts:
            parts.append(_restart_fault(space))
    return parts
