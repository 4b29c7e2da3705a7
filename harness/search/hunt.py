"""Hunt: search fault schedules for the smallest one that breaks an invariant.

A schedule is a short list of faults from the pilot's fault space
(``harness.search.space``: duplicates and redeliveries up to the provider's
retry horizon, delayed deliveries, the capture's own quirks, toxics on
partner links, partner errors, throttling, slow and lost answers, forgotten
idempotency keys, workflow restarts). Each runs as a real drill; when one
breaks an invariant, Hypothesis shrinks it to the fewest, simplest faults
that still break one.

How it runs, fast and reproducibly:

    explore  Hypothesis draws a chunk of schedules with a seed derived from the
             hunt's; they run in that order, side by side on standing stages
             (``harness.drill.standing``: workflow, partners and links started
             once, partners reset and events salted per drill). The first
             failure in draw order wins, so the same seed finds the same one.
    shrink   Hypothesis runs again with that chunk's seed: it draws the same
             schedules (answered from the exploration's results, no drill),
             meets the failure, and shrinks it one drill at a time.
    replay   the final schedule runs again; FLAKY means those runs disagree on
             which invariants broke, nothing else.

Reproducibility comes first, because a shrinker that sees a schedule fail and
then pass learns nothing: every fault is bound to a delivery position or a
request number (never to the clock), deliveries go one at a time, a schedule's
outcome is remembered once seen, and only a small set of events is sent,
chosen so the workflow passes with no faults at all (``clean_events``).

This module is the engine; ``harness.commands.hunt`` is the command.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter

from harness.drill import DrillResult, DrillSession
from harness.inputs.delivery_faults import CaptureFault, DeliveryFault, MoveFault
from harness.inputs.fixtures import CapturedRequest, load_fixtures
from harness.inputs.pilot import Pilot, ScenarioSpec
from harness.journal import read_meta
from harness.places import inside
from harness.search.evidence import WindowAnswers, restart_loss, window_answers
from harness.search.nofault import NoFault, check_no_fault
from harness.search.settings import (
    CHUNK,
    CORRECTNESS,
    DEFAULT_EVENTS,
    DEFAULT_MAX_FAULTS,
    DEFAULT_REPLAYS,
    DEFAULT_SHRINK_S,
    DEFAULT_WORKERS,
    FAMILIES,
    STALL,
    STALL_ONE,
)
from harness.search.space import (
    Fault,
    FaultSpace,
    PartnerFault,
    RateLimitFault,
    RestartFault,
    Schedule,
    ToxicFault,
    clean_events,
    fault_space,
    fault_strategies,
)
from harness.search.story import broken, describe_fault, restart_note, verdict_key
from harness.search.translate import (
    canonical,
    fault_to_json,
    in_flight,
    plan_for,
    scenario_for,
    scenario_toml,
    schedule_from_scenario,
)

__all__ = [
    "FAMILIES",
    "CaptureFault",
    "DeliveryFault",
    "Fault",
    "FaultSpace",
    "HuntResult",
    "HuntStatus",
    "MoveFault",
    "PartnerFault",
    "RateLimitFault",
    "RestartFault",
    "Schedule",
    "ToxicFault",
    "canonical",
    "clean_events",
    "describe_fault",
    "fault_space",
    "hunt",
    "in_flight",
    "scenario_for",
    "scenario_toml",
    "schedule_from_scenario",
    "schedules",
    "verdict_key",
]


def schedules(space: FaultSpace) -> st.SearchStrategy[Schedule]:
    """Lists of up to ``max_faults`` faults; they shrink towards fewer and simpler ones."""
    parts = fault_strategies(space)
    if not parts:
        raise ValueError("--faults: no fault family left to draw from")
    return st.lists(st.one_of(parts), max_size=space.max_faults).map(
        lambda faults: canonical(faults, space)
    )


# ---------------------------------------------------------------- what a hunt keeps


@dataclass
class Tried:
    """One schedule the hunt ran: its faults, whether the judged invariants held, and when."""

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
    reused: int = 0  # schedules not run again because their outcome was known
    best_size: int | None = None  # faults in the smallest failing schedule so far
    first_failure_s: float | None = None
    shrink_cut: bool = False  # shrinking stopped at its time limit
    shrink_stalled: bool = False  # shrinking stopped: no smaller failure in many tries
    explored: int = 0  # drills run while exploring (for schedules per minute)
    explore_s: float = 0.0  # how long exploring took
    max_schedules: int | None = None  # exploring ends after this many, budget or not

    def elapsed(self) -> float:
        """Seconds since the hunt started."""
        return time.monotonic() - self.started

    def time_left(self) -> float:
        """Seconds left in the current phase's budget; 0 once exploring and shrinking are over."""
        if self.phase == "exploring":
            return max(0.0, self.budget_s - self.elapsed())
        if self.phase == "shrinking":
            return max(0.0, self.budget_s + self.shrink_s - self.elapsed())
        return 0.0

    def per_minute(self) -> float:
        """Schedules explored a minute (0 before any exploring time has passed)."""
        return 60.0 * self.explored / self.explore_s if self.explore_s > 0 else 0.0


@dataclass
class Replay:
    """One more run of the final schedule, to see whether it breaks the same invariants again."""

    run_id: str
    broken: list[str]


@dataclass
class HuntResult:
    """What a hunt leaves: every schedule tried and the smallest failing one, with its drill."""

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
    flaky: bool = False  # the final schedule's runs disagreed on what broke
    hypothesis_notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    counterexample: Path | None = None
    story: list[str] = field(default_factory=list)
    workers: int = 1
    standing: bool = False
    stage_restarts: int = 0
    # Why the hunt left its standing stages for fresh services ("" when it did not).
    standing_fallback: str = ""
    # The empty schedule on fresh services: the evidence for "fails with no fault".
    no_fault: DrillResult | None = None

    @property
    def found(self) -> bool:
        """Some schedule broke a judged invariant."""
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
    """A hunt id that sorts by start time: `<UTC stamp>-<pilot>-<4 hex>`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{pilot}-{secrets.token_hex(2)}"


def chunk_seed(seed: int, chunk: int) -> int:
    """The Hypothesis seed of a hunt's chunk number ``chunk``: fixed by the hunt's seed."""
    return (seed * 1_000_003 + chunk) % 2**32


@contextlib.contextmanager
def _quiet_hypothesis(notes: list[str]) -> Iterator[None]:
    """Hypothesis's own messages go into the hunt's notes, not onto the terminal."""
    with with_reporter(lambda value: notes.append(str(value))):
        yield


def _settings(count: int, phases: Sequence[Phase]) -> settings:
    # Both passes over a chunk use the same settings but for their phases, so
    # Hypothesis draws the same schedules in the same order.
    return settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=list(phases),
        derandomize=False,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
    )


def draw_chunk(space: FaultSpace, seed: int, count: int = CHUNK) -> list[Schedule]:
    """The schedules Hypothesis draws first with this seed, in order, without running any."""
    drawn: list[Schedule] = []

    @hypothesis_seed(seed)
    @_settings(count, [Phase.generate])
    @given(schedules(space))
    def collect(schedule: Schedule) -> None:
        drawn.append(schedule)

    with _quiet_hypothesis([]):
        collect()
    return drawn


class _Hunt:
    """One hunt's state while it runs: what passed, what failed, the smallest failure."""

    def __init__(
        self,
        pilot: Pilot,
        space: FaultSpace,
        session: DrillSession,
        status: HuntStatus,
        judged: Sequence[str],
        notify: Callable[[HuntStatus], None],
    ) -> None:
        self.pilot, self.space, self.session = pilot, space, session
        self.status, self.judged, self.notify = status, tuple(judged), notify
        self.tried: list[Tried] = []
        self.passed: set[Schedule] = set()
        self.failed: dict[Schedule, DrillResult] = {}
        self.best: list[tuple[Schedule, DrillResult]] = []  # the latest is the smallest so far
        self.runs = 0
        self.since_better = 0  # shrink drills run since the smallest failure last got smaller

    def name(self) -> str:
        self.runs += 1
        return f"hunt-{self.runs}"

    def breaks(self, result: DrillResult) -> bool:
        return bool(verdict_key(result.results, self.judged))

    def record(self, schedule: Schedule, result: DrillResult, phase: str) -> bool:
        bad = self.breaks(result)
        self.tried.append(
            Tried(
                faults=[fault_to_json(f) for f in schedule],
                ok=not bad,
                broken=list(verdict_key(result.results, self.judged)),
                run_id=result.run_id,
                seconds=round(result.duration_s, 3),
                phase=phase,
            )
        )
        if phase == "replay":
            return bad
        self.status.tried += 1
        if not bad:
            self.passed.add(schedule)
        else:
            self.status.failures += 1
            if self.status.first_failure_s is None:
                self.status.first_failure_s = self.status.elapsed()
            self.failed[schedule] = result
        self.notify(self.status)
        return bad

    # -------------------------------------------------------------- explore

    def more(self, budget_s: float, started: int = 0) -> bool:
        """Time and schedules left to explore (``started``: taken but not yet recorded)."""
        status = self.status
        cap = status.max_schedules
        return (cap is None or status.tried + started < cap) and status.elapsed() < budget_s

    def _taker(self, budget_s: float) -> Callable[[], bool]:
        """``more`` for one batch: each yes is a schedule taken."""
        started = [0]

        def take() -> bool:
            if not self.more(budget_s, started[0]):
                return False
            started[0] += 1
            return True

        return take

    def explore(self, seed: int, budget_s: float) -> tuple[int, Schedule] | None:
        """Chunks of drawn schedules, side by side, until one fails or the budget is spent."""
        status = self.status
        chunk, empty = 0, 0
        while self.more(budget_s) and empty < 3:
            drawn = draw_chunk(self.space, chunk_seed(seed, chunk))
            todo = [s for s in dict.fromkeys(drawn) if s not in self.passed]
            empty = 0 if todo else empty + 1
            names: dict[int, Schedule] = {}
            jobs: list[tuple[str, ScenarioSpec]] = []
            for schedule in todo:
                names[len(jobs)] = schedule
                jobs.append((self.name(), scenario_for(self.space, schedule)))
            done = self.session.run_batch(
                self.pilot, jobs, failed=self.breaks, more=self._taker(budget_s)
            )
            for index in sorted(done):
                self.record(names[index], done[index], "exploring")
            status.explored += len(done)
            failing = [i for i in sorted(done) if self.breaks(done[i])]
            if failing:
                return chunk, names[failing[0]]
            chunk += 1
        return None

    # -------------------------------------------------------------- shrink

    def prune(self, target: Schedule, deadline: float) -> None:
        """Each single fault of ``target``, then each pair, side by side: the first
        that still fails (in that order) is the smallest failure so far.

        Hypothesis deletes faults one drill at a time, and a schedule whose
        other faults each cost seconds (a late copy, a restart) can use up the
        shrink budget before it gets there; this pass costs one or two rounds
        of drills on the stages.
        """
        status = self.status
        candidates: dict[Schedule, None] = {}
        for size in (1, 2):
            if size < len(target):
                for faults in itertools.combinations(target, size):
                    candidates[canonical(faults, self.space)] = None
        todo = [c for c in candidates if c not in self.passed and c not in self.failed]
        jobs = [(self.name(), scenario_for(self.space, c)) for c in todo]
        done = self.session.run_batch(
            self.pilot, jobs, failed=self.breaks, more=lambda: status.elapsed() < deadline
        )
        for index in sorted(done):
            if self.record(todo[index], done[index], "shrinking"):
                self._better(todo[index])

    def shrink(self, seed: int, target: Schedule, deadline: float, notes: list[str]) -> None:
        """Hypothesis again with the chunk's seed: it meets ``target`` and shrinks it."""
        status = self.status
        met = [False]

        def check(schedule: Schedule) -> None:
            if schedule in self.failed:
                met[0] = True
                self._better(schedule)
                raise ScheduleBroke(schedule, self.failed[schedule], self.judged)
            if schedule in self.passed:
                status.reused += 1
                return
            if not met[0]:
                # Still redrawing what exploring already answered: nothing new runs
                # until the failure comes round again.
                return
            if status.elapsed() > deadline:
                status.shrink_cut = True
                return
            if self.since_better >= (STALL_ONE if status.best_size == 1 else STALL):
                # Many tries without a smaller failure: what is left is rewording
                # parameters of a schedule that is already small.
                status.shrink_stalled = True
                return
            self.since_better += 1
            try:
                result = self.session.run(
                    self.pilot, self.name(), scenario_for(self.space, schedule)
                )
            except Exception as exc:
                raise _CannotRun(exc) from exc
            if self.record(schedule, result, "shrinking"):
                self._better(schedule)
                raise ScheduleBroke(schedule, result, self.judged)

        @hypothesis_seed(seed)
        @_settings(CHUNK, [Phase.generate, Phase.shrink])
        @given(schedules(self.space))
        def search(schedule: Schedule) -> None:
            check(schedule)

        with _quiet_hypothesis(notes):
            try:
                search()
            except (ScheduleBroke, Flaky):
                # Either way the smallest failure seen is in self.best; a Flaky
                # here is Hypothesis's view, not the final schedule's (see replay).
                pass
        if not met[0]:
            notes.append("the shrink pass did not meet the exploration's failure again")
            self._better(target)

    def _better(self, schedule: Schedule) -> None:
        if not self.best or _smaller(schedule, self.best[-1][0]):
            self.best.append((schedule, self.failed[schedule]))
            self.status.best_size = len(schedule)
            self.since_better = 0


def _smaller(a: Schedule, b: Schedule) -> bool:
    return (len(a), json.dumps([fault_to_json(f) for f in a])) < (
        len(b),
        json.dumps([fault_to_json(f) for f in b]),
    )


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
    families: Sequence[str] | None = None,
    on_update: Callable[[HuntStatus], None] | None = None,
    workers: int = DEFAULT_WORKERS,
    standing: bool = True,
    max_schedules: int | None = None,
) -> HuntResult:
    """Search the pilot's fault space for the smallest schedule that breaks an invariant.

    ``standing`` runs drills on standing stages, ``workers`` of them side by
    side; without it every drill starts its own services, one at a time.
    ``max_schedules`` ends exploring after that many schedules, budget or not.
    """
    captured = load_fixtures(pilot.resolve(pilot.spec.webhook.fixtures))
    # The pilot's [hunt] families unless the caller chose (--faults).
    chosen = pilot.spec.hunt.families if families is None else families
    space = fault_space(pilot, captured, events, max_faults, chosen)
    seed = secrets.randbelow(2**31) if seed is None else seed
    hunt_id = new_hunt_id(pilot.name)
    hunt_dir = inside(reports, "hunts", hunt_id)
    hunt_dir.mkdir(parents=True, exist_ok=True)
    status = HuntStatus(started=time.monotonic(), budget_s=budget_s, shrink_s=shrink_s)
    notify = on_update or (lambda _s: None)
    stages = max(1, workers) if standing else 0
    result = HuntResult(
        hunt_id=hunt_id,
        hunt_dir=hunt_dir,
        pilot=pilot.name,
        seed=seed,
        space=space,
        status=status,
        tried=[],
        judged=tuple(judged),
        workers=max(1, stages),
        standing=standing,
    )
    with DrillSession(hunt_dir, standing=stages) as session:
        state = _Hunt(pilot, space, session, status, judged, notify)
        status.max_schedules = max_schedules
        result.tried = state.tried
        notify(status)
        _no_fault_first(state, result, captured)
        found = (0, ()) if () in state.failed else state.explore(seed, budget_s)
        status.explore_s = status.elapsed()
        if found is not None:
            _shrink(state, result, seed, found, budget_s + shrink_s)
            status.phase = "replaying"
            notify(status)
            _replay(state, result, replays)
        result.stage_restarts = session.stage_restarts
        result.standing = bool(session.standing)
        result.workers = max(1, session.standing or session.workers)
    status.phase = "done"
    result.duration_s = round(status.elapsed(), 3)
    notify(status)
    _save(result, pilot, captured)
    return result


def _shrink(
    state: _Hunt, result: HuntResult, seed: int, found: tuple[int, Schedule], deadline: float
) -> None:
    """From the first failure found to the smallest, into ``result``."""
    chunk, target = found
    state.status.phase = "shrinking"
    state.status.best_size = len(target)
    state.notify(state.status)
    try:
        if target:
            state.prune(target, deadline)
            state.shrink(chunk_seed(seed, chunk), target, deadline, result.hypothesis_notes)
        else:
            state._better(target)  # nothing is smaller than no fault
    except _CannotRun as exc:
        raise exc.error from None
    result.schedule, result.result = state.best[-1]


def _no_fault_first(state: _Hunt, result: HuntResult, captured: Sequence[CapturedRequest]) -> None:
    """The empty schedule, fresh and on a standing stage, before anything is drawn.

    The fresh drill's outcome is the empty schedule's; a standing stage that
    disagrees with it (or salting that cannot follow the entity keys) sends
    every later drill to fresh services, and the story says why. When the
    fresh drill fails, the workflow breaks with no fault, and that is what
    the hunt reports, with this drill as the evidence.
    """
    seen: NoFault = check_no_fault(
        state.session, state.pilot, state.space, captured, state.judged, state.name()
    )
    for run in seen.standing:
        state.tried.append(
            Tried(
                faults=[],
                ok=not state.breaks(run),
                broken=list(verdict_key(run.results, state.judged)),
                run_id=run.run_id,
                seconds=round(run.duration_s, 3),
                phase="check",
            )
        )
    state.record((), seen.fresh, "exploring")
    result.no_fault = seen.fresh
    result.standing_fallback = seen.fallback
    if state.breaks(seen.fresh) and state.session.standing:
        # The claim rests on fresh drills: its replays are fresh too.
        state.session.stop_standing()


def _replay(state: _Hunt, result: HuntResult, replays: int) -> None:
    """Run the final schedule again, side by side; FLAKY when its runs disagree."""
    assert result.schedule is not None and result.result is not None
    scenario = scenario_for(result.space, result.schedule)
    jobs = [(state.name(), scenario) for _ in range(replays)]
    done = state.session.run_batch(state.pilot, jobs, failed=lambda _r: False, more=lambda: True)
    for index in sorted(done):
        again = done[index]
        state.record(result.schedule, again, "replay")
        result.replays.append(Replay(again.run_id, list(verdict_key(again.results, result.judged))))
    result.flaky = len(outcomes_seen(result)) > 1


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
    how = (
        f"{result.workers} standing stage{'s' if result.workers != 1 else ''}"
        if result.standing
        else "a fresh stage per schedule"
        + (f", {result.workers} side by side" if result.workers > 1 else "")
    )
    fallback = (
        [f"Standing stages were left for fresh ones: {result.standing_fallback}."]
        if result.standing_fallback
        else []
    )
    lines = [
        f"Hunt {result.hunt_id} on {pilot.name}: {status.tried} schedules tried in "
        f"{result.duration_s:.1f} s (seed {result.seed}, {len(result.space.events)} events, "
        f"up to {result.space.max_faults} faults), {status.failures} broke an invariant; "
        f"{status.per_minute():.0f} schedules a minute while exploring, on {how}.",
        *fallback,
    ]
    if result.schedule is None or result.result is None:
        cap = status.max_schedules
        limit = (
            f"in the {cap} schedules allowed"
            if cap is not None and status.tried >= cap
            else f"within the {status.budget_s:.0f} s budget"
        )
        lines.append(f"No schedule broke an invariant {limit} ({status.tried} tried).")
        return lines
    if not result.schedule:
        lines.append(
            "The workflow breaks an invariant with no fault injected on this event set, "
            f"on fresh services (run {result.result.run_id}): fix that first "
            "(or choose other events)."
        )
    else:
        n = len(result.schedule)
        lines.append(f"Smallest schedule found: {n} fault{'s' if n != 1 else ''}.")
        for i, told in enumerate(_told(result, pilot, captured), 1):
            lines.append(f"  {i}. {told}")
    lines.append("What went wrong:")
    for inv in broken(result.result.results, result.judged):
        lines.append(f"  {inv.name}: {inv.summary}")
        for example in inv.examples[:3]:
            lines.append(f"    e.g. {example}")
    if result.schedule and all(isinstance(f, RestartFault) for f in result.schedule):
        lines.append(restart_note(restart_loss(result.result.run_dir)))
    if status.shrink_cut and len(result.schedule) > 1:
        # One fault is the smallest failure there is: the empty schedule held.
        lines.append(
            f"Shrinking stopped at its {status.shrink_s:.0f} s limit after the budget: "
            "a smaller schedule may exist."
        )
    seen = outcomes_seen(result)
    if result.flaky:
        told = "; ".join(f"{label}: {n}x" for label, n in seen.items())
        lines.append(f"FLAKY: the final schedule's runs disagreed on what broke ({told}).")
    elif result.replays:
        times = "once" if len(result.replays) == 1 else f"{len(result.replays)} times"
        lines.append(f"Replayed {times}: the same violation each time.")
    return lines


def _told(result: HuntResult, pilot: Pilot, captured: Sequence[CapturedRequest]) -> list[str]:
    """A sentence per fault of the final schedule, as its run measured it."""
    assert result.schedule is not None
    plan = plan_for(scenario_for(result.space, result.schedule), captured)
    run_dir = result.result.run_dir if result.result is not None else None
    meta = read_meta(run_dir) if run_dir is not None and (run_dir / "run.json").is_file() else {}
    told = []
    for fault in result.schedule:
        seen: WindowAnswers | None = None
        if (
            run_dir is not None
            and isinstance(fault, ToxicFault)
            and fault.kind == "timeout"
            and result.space.role(fault.link) == "partner"  # a partner's journal says
        ):
            link = pilot.spec.links.get(fault.link)
            if link is not None:
                seen = window_answers(run_dir, meta, fault.link, link.to, fault.kind)
        told.append(describe_fault(result.space, fault, captured, plan, seen))
    return told


def _save(result: HuntResult, pilot: Pilot, captured: Sequence[CapturedRequest]) -> None:
    result.story = _story(result, pilot, captured)
    if result.schedule is not None:
        name = f"hunt-{result.hunt_id.rsplit('-', 1)[-1]}"
        told = "; ".join(_told(result, pilot, captured))
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
        "workers": result.workers,
        "standing": result.standing,
        "stage_restarts": result.stage_restarts,
        "standing_fallback": result.standing_fallback or None,
        "no_fault_run_id": result.no_fault.run_id if result.no_fault else None,
        "schedules_per_minute": round(status.per_minute(), 1),
        "schedules_tried": status.tried,
        "max_schedules": status.max_schedules,
        "schedules_reused": status.reused,
        "failures_found": status.failures,
        "first_failure_s": (
            None if status.first_failure_s is None else round(status.first_failure_s, 3)
        ),
        "shrink_cut": status.shrink_cut,
        "shrink_stalled": status.shrink_stalled,
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
