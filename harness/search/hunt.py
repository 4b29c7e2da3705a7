"""Hunt: search fault schedules for the smallest one that breaks an invariant.

A schedule is a short list of faults drawn from the pilot's fault space:
deliveries duplicated, dropped and redelivered, or swapped with the next one;
toxics (latency past the caller's timeout, a held connection, a reset) on a
link while given deliveries are in flight; partner errors, throttling and slow
answers bound to partner request numbers. Hypothesis draws schedules, each one
runs as a real drill (``run_drill``), and when one breaks an invariant
Hypothesis shrinks it to the fewest, smallest faults that still break one.

Reproducibility comes first, because a shrinker that sees a schedule fail and
then pass learns nothing: every fault is bound to a delivery position or a
request number (never to the clock), deliveries go one at a time, and only a
small set of events is sent. The set is chosen so the workflow passes with no
faults at all: the reference capture holds a repeated event and an update
that arrives before its create, and with those in the set the "smallest
schedule" would be the empty one (see ``clean_events``).

This module is the engine; ``harness.search.hunt_cli`` is the command.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import tomli_w
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter

from harness.checks.invariants import InvariantResult
from harness.drill import DrillResult, DrillSession
from harness.inputs.expectations import ExpectationRule, expect_for
from harness.inputs.fixtures import CapturedRequest, load_fixtures
from harness.inputs.pilot import Pilot, ScenarioSpec
from harness.plan.schedule import Plan, plan_deliveries
from harness.search.settings import (
    CORRECTNESS,
    DEFAULT_EVENTS,
    DEFAULT_MAX_FAULTS,
    DEFAULT_PARTNER_TIMEOUT_S,
    DEFAULT_REPLAYS,
    DEFAULT_SHRINK_S,
    DELAYS_S,
    FAMILIES,
    MAX_SPAN,
    OVER_TIMEOUT_MS,
)

DeliveryKind = Literal["duplicate", "drop", "swap"]
ToxicKind = Literal["latency", "timeout", "reset_peer"]
PartnerKind = Literal["error", "error_after_effect", "throttle", "slow"]
Stream = Literal["downstream", "upstream"]


# ---------------------------------------------------------------- the fault space


@dataclass(frozen=True)
class DeliveryFault:
    """A fault on one delivery; ``position`` is the place in the hunt's event list."""

    kind: DeliveryKind
    position: int
    delay_s: float = 0.0  # duplicate: when the copy follows; drop: when it is redelivered


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
    """A partner misbehaviour on /v1 requests number first_request .. +count-1."""

    kind: PartnerKind
    first_request: int
    count: int
    status: int = 0  # for error kinds; throttle is 429, slow has none


Fault = DeliveryFault | ToxicFault | PartnerFault
Schedule = tuple[Fault, ...]


@dataclass(frozen=True)
class FaultSpace:
    """What the hunt may vary for one pilot."""

    events: tuple[int, ...]  # captured events sent, as fixture lines, in this order
    links: tuple[str, ...]  # link names from the pilot
    timeouts_ms: dict[str, int]  # per link: the timeout of whoever waits on it
    max_faults: int = DEFAULT_MAX_FAULTS
    families: tuple[str, ...] = FAMILIES  # which kinds of fault are drawn

    @property
    def requests(self) -> int:
        """Partner request numbers drawn from 1..this (about one call per event)."""
        return max(1, len(self.events))


def clean_events(
    events: Sequence[CapturedRequest],
    rules: Sequence[ExpectationRule],
    partners: Sequence[str],
    count: int = DEFAULT_EVENTS,
) -> list[int]:
    """The first ``count`` captured events that make a fault-free day.

    Leaves out a repeated event id, an update whose entity has no create in
    the set yet, and an update that is not newer than one already taken: the
    capture's own quirks would otherwise break a naive workflow with no fault
    injected, and the hunt is about the faults it injects.
    """
    chosen: list[int] = []
    seen: set[str] = set()
    created: set[str] = set()
    newest: dict[str, int] = {}
    for index, event in enumerate(events):
        if len(chosen) >= count:
            break
        if event.event_id in seen:
            continue
        want = expect_for(event, rules, partners)
        key, version = f"{want.partner}:{want.key}", want.version or 0
        creates = want.times == "once"
        if not creates and (key not in created or version <= newest.get(key, -1)):
            continue
        chosen.append(index)
        seen.add(event.event_id)
        if creates:
            created.add(key)
        newest[key] = max(newest.get(key, -1), version)
    return chosen


def fault_space(
    pilot: Pilot,
    events: Sequence[CapturedRequest],
    count: int = DEFAULT_EVENTS,
    max_faults: int = DEFAULT_MAX_FAULTS,
    families: Sequence[str] = FAMILIES,
) -> FaultSpace:
    spec = pilot.spec
    chosen = clean_events(events, spec.expectations, sorted(spec.partners), count)
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
    return FaultSpace(
        events=tuple(chosen),
        # Toxics go on links to partners only; see ``_toxic_fault``.
        links=tuple(name for name, link in spec.links.items() if link.to != "workflow"),
        timeouts_ms=timeouts,
        max_faults=max_faults,
        families=tuple(f for f in FAMILIES if f in families),
    )


@st.composite
def _delivery_fault(draw: st.DrawFn, space: FaultSpace) -> DeliveryFault:
    n = len(space.events)
    # Earlier kinds are simpler: the shrinker moves towards a plain duplicate.
    kind: DeliveryKind = draw(
        st.sampled_from(("duplicate", "drop", "swap") if n > 1 else ("duplicate", "drop"))
    )
    if kind == "swap":
        return DeliveryFault("swap", draw(st.integers(0, n - 2)))
    return DeliveryFault(kind, draw(st.integers(0, n - 1)), draw(st.sampled_from(DELAYS_S)))


@st.composite
def _partner_fault(draw: st.DrawFn, space: FaultSpace) -> PartnerFault:
    kind: PartnerKind = draw(st.sampled_from(("error", "error_after_effect", "throttle", "slow")))
    first = draw(st.integers(1, space.requests))
    count = draw(st.integers(1, MAX_SPAN))
    status = {"error": 503, "error_after_effect": 500, "throttle": 429, "slow": 0}[kind]
    if kind == "error":
        status = draw(st.sampled_from((503, 500)))
    return PartnerFault(kind, first, count, status)


@st.composite
def _toxic_fault(draw: st.DrawFn, space: FaultSpace) -> ToxicFault:
    link = draw(st.sampled_from(space.links))
    kind: ToxicKind = draw(st.sampled_from(("latency", "timeout", "reset_peer")))
    # Downstream is where "it happened but the caller never heard" lives; a
    # reset can also lose the request on its way up.
    stream: Stream = "downstream"
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


def in_flight(fault: ToxicFault, plan: Plan) -> list[int]:
    """Plan positions of the deliveries in flight while a toxic window is on."""
    # On before `first` is dispatched, off once `last` has finished (or when sending
    # ends); with one delivery at a time that is exactly first..last.
    return [d.position for d in plan.deliveries if fault.first <= d.position <= fault.last]


def _group(fault: Fault) -> tuple[int, int]:
    if isinstance(fault, DeliveryFault):
        return (0, fault.position)  # the plan applies them by position anyway
    if isinstance(fault, ToxicFault):
        return (1, 0)
    # Bursts keep their order among themselves: the first that matches a request wins.
    return (3, 0) if fault.kind == "slow" else (2, 0)


def canonical(schedule: Sequence[Fault]) -> Schedule:
    """One form per distinct schedule, in the order its scenario lists the faults.

    Equal faults count once, and a position keeps one delivery fault (the plan
    keeps one too); the sort is stable, so a scenario reads back the same.
    """
    out: list[Fault] = []
    taken: set[int] = set()
    for fault in schedule:
        if fault in out:
            continue
        if isinstance(fault, DeliveryFault):
            if fault.position in taken:
                continue
            taken.add(fault.position)
        out.append(fault)
    return tuple(sorted(out, key=_group))


def schedules(space: FaultSpace) -> st.SearchStrategy[Schedule]:
    """Lists of up to ``max_faults`` faults; they shrink towards fewer and simpler ones."""
    parts: list[st.SearchStrategy[Fault]] = []
    if "delivery" in space.families:
        parts.append(_delivery_fault(space))
    if "partner" in space.families:
        parts.append(_partner_fault(space))
    if "toxic" in space.families and space.links and len(space.events) > 1:
        parts.append(_toxic_fault(space))
    if not parts:
        raise ValueError("--faults: no fault family left to draw from")
    return st.lists(st.one_of(parts), max_size=space.max_faults).map(canonical)


# ---------------------------------------------------------------- schedule ⇄ scenario


def scenario_for(
    space: FaultSpace, schedule: Sequence[Fault], description: str = ""
) -> ScenarioSpec:
    """The drill scenario that applies a schedule: sequential, small, position-bound."""
    delivery: dict[str, Any] = {"concurrency": 1, "events": list(space.events), "faults": []}
    toxics: list[dict[str, Any]] = []
    bursts: list[dict[str, Any]] = []
    slow: list[dict[str, Any]] = []
    for fault in schedule:
        if isinstance(fault, DeliveryFault):
            entry: dict[str, Any] = {"position": fault.position, "fault": fault.kind}
            if fault.kind != "swap":
                entry["delay_s"] = fault.delay_s
            delivery["faults"].append(entry)
        elif isinstance(fault, ToxicFault):
            toxics.append(_toxic_window(space, fault))
        elif fault.kind == "slow":
            slow.append(
                {
                    "delay_ms": _partner_timeout_ms(space) + OVER_TIMEOUT_MS,
                    "from_request": fault.first_request,
                    "count": fault.count,
                }
            )
        else:
            burst: dict[str, Any] = {
                "status": fault.status,
                "from_request": fault.first_request,
                "count": fault.count,
            }
            if fault.kind == "error_after_effect":
                burst["after_effect"] = True
            bursts.append(burst)
    partner: dict[str, Any] = {}
    if bursts:
        partner["bursts"] = bursts
    if slow:
        partner["slow"] = slow
    return ScenarioSpec.model_validate(
        {"description": description, "delivery": delivery, "toxics": toxics, "partner": partner}
    )


def _partner_timeout_ms(space: FaultSpace) -> int:
    waits = [space.timeouts_ms[name] for name in space.links]
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


def schedule_from_scenario(space: FaultSpace, scenario: ScenarioSpec) -> Schedule:
    """Read a hunt scenario back as a schedule (the inverse of ``scenario_for``)."""
    faults: list[Fault] = []
    for pf in scenario.delivery.faults:
        if pf.fault == "stale_signature":
            raise ValueError("stale_signature is not in the hunt's fault space")
        delay = 0.0 if pf.fault == "swap" else pf.delay_s
        faults.append(DeliveryFault(pf.fault, pf.position, delay))
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
    for burst in scenario.partner.get("bursts", []):
        status = int(burst["status"])
        kind: PartnerKind = (
            "error_after_effect"
            if burst.get("after_effect")
            else ("throttle" if status == 429 else "error")
        )
        faults.append(PartnerFault(kind, int(burst["from_request"]), int(burst["count"]), status))
    for item in scenario.partner.get("slow", []):
        faults.append(PartnerFault("slow", int(item["from_request"]), int(item["count"])))
    return tuple(faults)


def scenario_toml(name: str, scenario: ScenarioSpec, header: Sequence[str] = ()) -> str:
    """A ``[scenarios.<name>]`` table that can be pasted into a pilot file."""
    body = scenario.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    # A replay is sequential whatever the default concurrency becomes.
    body.setdefault("delivery", {})["concurrency"] = scenario.delivery.concurrency
    text = tomli_w.dumps({"scenarios": {name: body}})
    comments = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header)
    return comments + ("\n" if comments else "") + text


def fault_to_json(fault: Fault) -> dict[str, Any]:
    kind = {DeliveryFault: "delivery", ToxicFault: "toxic", PartnerFault: "partner"}[type(fault)]
    return {"on": kind, **asdict(fault)}


# ---------------------------------------------------------------- the story


def plan_for(scenario: ScenarioSpec, events: Sequence[CapturedRequest]) -> Plan:
    return plan_deliveries([e.event_id for e in events], scenario.delivery, scenario.seed)


def _event_label(event: CapturedRequest) -> str:
    return f"{event.event_id} ({event.event_type} for {event.entity_id} v{event.entity_version})"


def describe_fault(
    space: FaultSpace, fault: Fault, events: Sequence[CapturedRequest], plan: Plan
) -> str:
    """One sentence a person can follow, naming the events concerned."""
    if isinstance(fault, DeliveryFault):
        event = events[space.events[fault.position]]
        where = "right after the original" if fault.delay_s == 0 else "after the other events"
        if fault.kind == "duplicate":
            label = _event_label(event)
            return f"event #{fault.position} {label} is delivered twice, the copy {where}"
        if fault.kind == "drop":
            again = "at once" if fault.delay_s == 0 else "after the other events"
            return (
                f"the first delivery of event #{fault.position} {_event_label(event)} is lost; "
                f"the provider sends it again {again}"
            )
        other = events[space.events[fault.position + 1]]
        return (
            f"events #{fault.position} and #{fault.position + 1} arrive swapped: "
            f"{_event_label(other)} before {_event_label(event)}"
        )
    if isinstance(fault, ToxicFault):
        covered = in_flight(fault, plan)
        names = (
            ", ".join(f"{pos} ({plan.deliveries[pos].event_id})" for pos in covered)
            or "no delivery"
        )
        span = (
            f"delivery {fault.first} is queued until delivery {fault.last + 1} is"
            if fault.last + 1 < len(plan.deliveries)
            else f"delivery {fault.first} is queued until sending ends"
        )
        what = {
            "latency": f"answers are delayed {space.timeouts_ms[fault.link] + OVER_TIMEOUT_MS} ms "
            f"(the caller waits {space.timeouts_ms[fault.link]} ms)",
            "timeout": "answers are held and never arrive",
            "reset_peer": "connections are reset",
        }[fault.kind]
        direction = "on the way back" if fault.stream == "downstream" else "on the way in"
        return (
            f"on the {fault.link} link, {what} {direction}, from when {span}: "
            f"while deliveries {names} are in flight"
        )
    one = fault.count == 1
    numbers = (
        f"request {fault.first_request}"
        if fault.count == 1
        else f"requests {fault.first_request}-{fault.first_request + fault.count - 1}"
    )
    return {
        "error": f"partner {numbers} {'fails' if one else 'fail'} with {fault.status} "
        "(nothing is applied)",
        "error_after_effect": f"partner {numbers} {'applies' if one else 'apply'} the change, "
        f"then {'answers' if one else 'answer'} {fault.status}",
        "throttle": f"partner {numbers} {'is' if one else 'are'} throttled with 429",
        "slow": f"partner {numbers} {'applies' if one else 'apply'} the change but "
        f"{'answers' if one else 'answer'} {_partner_timeout_ms(space) + OVER_TIMEOUT_MS} ms "
        "late, past the workflow's timeout",
    }[fault.kind]


def broken(results: Sequence[InvariantResult], judged: Sequence[str]) -> list[InvariantResult]:
    return [r for r in results if not r.ok and r.name in judged]


def verdict_key(results: Sequence[InvariantResult], judged: Sequence[str]) -> tuple[str, ...]:
    """What a run showed, for comparing replays: the judged invariants it broke."""
    return tuple(r.name for r in broken(results, judged))


# ---------------------------------------------------------------- running drills


# ---------------------------------------------------------------- the hunt


@dataclass
class Tried:
    faults: list[dict[str, Any]]
    ok: bool
    broken: list[str]
    run_id: str
    seconds: float
    phase: str


@dataclass
class HuntStatus:
    """What a progress display shows; updated by the hunt as it goes."""

    started: float
    budget_s: float
    shrink_s: float
    phase: str = "exploring"  # exploring, shrinking, replaying, done
    tried: int = 0  # drills run for drawn schedules
    failures: int = 0  # of those, how many broke an invariant
    reused: int = 0  # schedules not run again because they had passed already
    best_size: int | None = None  # faults in the smallest failing schedule so far
    first_failure_s: float | None = None
    shrink_cut: bool = False  # shrinking stopped at its time limit

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def time_left(self) -> float:
        if self.phase == "exploring":
            return max(0.0, self.budget_s - self.elapsed())
        if self.phase == "shrinking":
            return max(0.0, self.budget_s + self.shrink_s - self.elapsed())
        return 0.0


@dataclass
class Replay:
    run_id: str
    broken: list[str]


@dataclass
class HuntResult:
    hunt_id: str
    hunt_dir: Path
    pilot: str
    seed: int
    space: FaultSpace
    status: HuntStatus
    tried: list[Tried]
    judged: tuple[str, ...] = CORRECTNESS
    schedule: Schedule | None = None  # the smallest failing one, if any
    result: DrillResult | None = None  # its drill
    replays: list[Replay] = field(default_factory=list)
    flaky: bool = False  # Hypothesis or the replays saw it fail and then not
    hypothesis_notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    counterexample: Path | None = None
    story: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.schedule is not None


class ScheduleBroke(Exception):
    """Raised in the Hypothesis body when a schedule breaks an invariant."""

    def __init__(self, schedule: Schedule, result: DrillResult, judged: Sequence[str]) -> None:
        super().__init__(", ".join(verdict_key(result.results, judged)))
        self.schedule = schedule
        self.result = result


class _CannotRun(BaseException):
    """Carries a drill's own error through Hypothesis, which only catches Exception."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def new_hunt_id(pilot: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{pilot}-{secrets.token_hex(2)}"


@contextlib.contextmanager
def _quiet_hypothesis(notes: list[str]) -> Iterator[None]:
    """Hypothesis's own messages go into the hunt's notes, not onto the terminal."""
    with with_reporter(lambda value: notes.append(str(value))):
        yield


def hunt(
    pilot: Pilot,
    *,
    budget_s: float = 60.0,
    seed: int | None = None,
    reports: Path = Path("reports"),
    events: int = DEFAULT_EVENTS,
    max_faults: int = DEFAULT_MAX_FAULTS,
    shrink_s: float = DEFAULT_SHRINK_S,
    replays: int = DEFAULT_REPLAYS,
    judged: Sequence[str] = CORRECTNESS,
    families: Sequence[str] = FAMILIES,
    on_update: Callable[[HuntStatus], None] | None = None,
) -> HuntResult:
    """Search the pilot's fault space for the smallest schedule that breaks an invariant."""
    captured = load_fixtures(pilot.resolve(pilot.spec.webhook.fixtures))
    space = fault_space(pilot, captured, events, max_faults, families)
    seed = secrets.randbelow(2**31) if seed is None else seed
    hunt_id = new_hunt_id(pilot.name)
    hunt_dir = reports / "hunts" / hunt_id
    hunt_dir.mkdir(parents=True, exist_ok=True)
    status = HuntStatus(started=time.monotonic(), budget_s=budget_s, shrink_s=shrink_s)
    tried: list[Tried] = []
    passed: set[Schedule] = set()
    best: list[tuple[Schedule, DrillResult]] = []  # the latest failure is the smallest so far
    failed: set[Schedule] = set()
    notify = on_update or (lambda _s: None)

    with DrillSession(hunt_dir) as runner:

        def run(schedule: Schedule, phase: str) -> DrillResult:
            t = time.monotonic()
            try:
                result = runner.run(pilot, f"hunt-{len(tried) + 1}", scenario_for(space, schedule))
            except Exception as exc:
                # A drill that cannot run (a workflow that does not start, a
                # proxy that went away) is not a counterexample: stop the hunt
                # rather than let Hypothesis shrink it.
                raise _CannotRun(exc) from exc
            tried.append(
                Tried(
                    faults=[fault_to_json(f) for f in schedule],
                    ok=not verdict_key(result.results, judged),
                    broken=list(verdict_key(result.results, judged)),
                    run_id=result.run_id,
                    seconds=round(time.monotonic() - t, 3),
                    phase=phase,
                )
            )
            return result

        def check(schedule: Schedule) -> None:
            elapsed = status.elapsed()
            if not best and elapsed > budget_s:
                # Budget spent: the remaining examples pass without a drill,
                # which ends Hypothesis's generation phase within milliseconds.
                return
            if best and elapsed > budget_s + shrink_s and schedule not in failed:
                # Shrink time spent: only schedules seen failing are run again
                # (Hypothesis replays its smallest to report it); the rest are let go.
                status.shrink_cut = True
                return
            if schedule in passed:
                status.reused += 1
                return
            result = run(schedule, status.phase)
            status.tried += 1
            if not verdict_key(result.results, judged):
                passed.add(schedule)
                notify(status)
                return
            status.failures += 1
            if status.first_failure_s is None:
                status.first_failure_s = status.elapsed()
            best.append((schedule, result))
            failed.add(schedule)
            status.phase = "shrinking"
            status.best_size = len(schedule)
            notify(status)
            raise ScheduleBroke(schedule, result, judged)

        phases = [Phase.explicit, Phase.generate, Phase.shrink]
        config = settings(
            # Far above what the budget allows; the clock is what stops the hunt.
            max_examples=int(budget_s / 0.5) + 20,
            deadline=None,
            database=None,
            phases=phases,
            derandomize=False,
            report_multiple_bugs=False,
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
            print_blob=False,
        )

        @hypothesis_seed(seed)
        @config
        @given(schedules(space))
        def search(schedule: Schedule) -> None:
            check(schedule)

        result = HuntResult(
            hunt_id=hunt_id,
            hunt_dir=hunt_dir,
            pilot=pilot.name,
            seed=seed,
            space=space,
            status=status,
            tried=tried,
            judged=tuple(judged),
        )
        notify(status)
        try:
            with _quiet_hypothesis(result.hypothesis_notes):
                search()
        except _CannotRun as exc:
            raise exc.error from None
        except ScheduleBroke as exc:
            result.schedule, result.result = exc.schedule, exc.result
        except Flaky:
            # Hypothesis saw the smallest schedule fail, then pass when it ran it again.
            result.flaky = True
            if best:
                result.schedule, result.result = best[-1]

        if result.schedule is not None and result.result is not None:
            status.phase = "replaying"
            notify(status)
            expected = verdict_key(result.result.results, judged)
            for _ in range(replays):
                try:
                    again = run(result.schedule, "replay")
                except _CannotRun as exc:
                    raise exc.error from None
                result.replays.append(
                    Replay(again.run_id, list(verdict_key(again.results, judged)))
                )
                if verdict_key(again.results, judged) != expected:
                    result.flaky = True
    status.phase = "done"
    result.duration_s = round(status.elapsed(), 3)
    notify(status)
    _save(result, pilot, captured)
    return result


def outcomes_seen(result: HuntResult) -> dict[str, int]:
    """How often each outcome came up for the final schedule (its first run and the replays)."""
    seen: dict[str, int] = {}
    runs = ([verdict_key(result.result.results, result.judged)] if result.result else []) + [
        tuple(r.broken) for r in result.replays
    ]
    for key in runs:
        label = ", ".join(key) if key else "all invariants held"
        seen[label] = seen.get(label, 0) + 1
    return seen


def _story(result: HuntResult, pilot: Pilot, captured: Sequence[CapturedRequest]) -> list[str]:
    status = result.status
    lines = [
        f"Hunt {result.hunt_id} on {pilot.name}: {status.tried} schedules tried in "
        f"{result.duration_s:.1f} s (seed {result.seed}, {len(result.space.events)} events, "
        f"up to {result.space.max_faults} faults), {status.failures} broke an invariant."
    ]
    if result.schedule is None or result.result is None:
        lines.append(
            f"No schedule broke an invariant within the {status.budget_s:.0f} s budget "
            f"({status.tried} tried)."
        )
        return lines
    scenario = scenario_for(result.space, result.schedule)
    plan = plan_for(scenario, captured)
    if not result.schedule:
        lines.append(
            "The workflow breaks an invariant with no fault injected on this event set: "
            "fix that first (or choose other events)."
        )
    else:
        n = len(result.schedule)
        lines.append(f"Smallest schedule found: {n} fault{'s' if n != 1 else ''}.")
        for i, fault in enumerate(result.schedule, 1):
            lines.append(f"  {i}. {describe_fault(result.space, fault, captured, plan)}")
    lines.append("What went wrong:")
    for inv in broken(result.result.results, result.judged):
        lines.append(f"  {inv.name}: {inv.summary}")
        for example in inv.examples[:3]:
            lines.append(f"    e.g. {example}")
    if status.shrink_cut:
        lines.append(
            f"Shrinking stopped at its {status.shrink_s:.0f} s limit after the budget: "
            "a smaller schedule may exist."
        )
    seen = outcomes_seen(result)
    if result.flaky:
        told = "; ".join(f"{label}: {n}x" for label, n in seen.items())
        lines.append(f"FLAKY: the same schedule gave different outcomes ({told}).")
    elif result.replays:
        times = "once" if len(result.replays) == 1 else f"{len(result.replays)} times"
        lines.append(f"Replayed {times}: the same violation each time.")
    return lines


def _save(result: HuntResult, pilot: Pilot, captured: Sequence[CapturedRequest]) -> None:
    result.story = _story(result, pilot, captured)
    if result.schedule is not None:
        name = f"hunt-{result.hunt_id.rsplit('-', 1)[-1]}"
        plan = plan_for(scenario_for(result.space, result.schedule), captured)
        told = "; ".join(describe_fault(result.space, f, captured, plan) for f in result.schedule)
        scenario = scenario_for(
            result.space,
            result.schedule,
            description=f"Found by chaoslab hunt {result.hunt_id}: {told or 'no fault at all'}",
        )
        path = result.hunt_dir / "counterexample.toml"
        header = [
            f"Counterexample from `chaoslab hunt {pilot.path.name} --seed {result.seed}`.",
            "Paste this table into the pilot file, or replay it as it is:",
            f"  chaoslab drill {pilot.path} --scenario-file {path}",
            "",
            *result.story,
        ]
        path.write_text(scenario_toml(name, scenario, header), encoding="utf-8")
        result.counterexample = path
    status = result.status
    data = {
        "hunt_id": result.hunt_id,
        "pilot": {"name": pilot.name, "path": str(pilot.path)},
        "seed": result.seed,
        "budget_s": status.budget_s,
        "shrink_s": status.shrink_s,
        "duration_s": result.duration_s,
        "events": list(result.space.events),
        "links": dict(result.space.timeouts_ms),
        "max_faults": result.space.max_faults,
        "fault_families": list(result.space.families),
        "invariants_judged": list(result.judged),
        "schedules_tried": status.tried,
        "schedules_reused": status.reused,
        "failures_found": status.failures,
        "first_failure_s": (
            None if status.first_failure_s is None else round(status.first_failure_s, 3)
        ),
        "shrink_cut": status.shrink_cut,
        "found": result.found,
        "counterexample": {
            "faults": [fault_to_json(f) for f in result.schedule],
            "size": len(result.schedule),
            "run_id": result.result.run_id if result.result else None,
            "broken": list(verdict_key(result.result.results, result.judged))
            if result.result
            else [],
            "file": str(result.counterexample) if result.counterexample else None,
        }
        if result.schedule is not None
        else None,
        "replays": [asdict(r) for r in result.replays],
        "outcomes": outcomes_seen(result),
        "flaky": result.flaky,
        "hypothesis": result.hypothesis_notes,
        "story": result.story,
        "tried": [asdict(t) for t in result.tried],
    }
    (result.hunt_dir / "hunt.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
