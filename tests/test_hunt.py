"""The hunt: its fault space, the schedule ⇄ scenario round trip, and real hunts.

The unit tests need no processes. The slow ones hunt the reference pilots for
real, on standing stages: the naive workflow must yield a small
counterexample that replays the same way every time as a normal drill; the
hardened one must survive a short hunt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tomllib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, find, given, settings
from typer.testing import CliRunner

from harness.checks.result import InvariantResult
from harness.cli import app
from harness.drill import DrillError, DrillResult, run_drill
from harness.inputs.fixtures import load_fixtures
from harness.inputs.pilot import Pilot, ScenarioSpec, load_pilot, load_scenario_file
from harness.plan.schedule import plan_deliveries
from harness.replay.sender import SendStats
from harness.runtime.faultproxy import open_fault_proxy
from harness.search.hunt import (
    DeliveryFault,
    FaultSpace,
    PartnerFault,
    Schedule,
    ToxicFault,
    canonical,
    clean_events,
    fault_space,
    hunt,
    scenario_for,
    scenario_toml,
    schedule_from_scenario,
    schedules,
)
from harness.search.settings import parse_duration
from harness.search.story import verdict_key

REPO = Path(__file__).resolve().parent.parent
NAIVE = REPO / "pilots/order-sync-naive.toml"
HARDENED = REPO / "pilots/order-sync.toml"


@pytest.fixture(scope="module")
def naive() -> Pilot:
    return load_pilot(NAIVE)


@pytest.fixture(scope="module")
def hardened() -> Pilot:
    return load_pilot(HARDENED)


@pytest.fixture(scope="module")
def space(naive: Pilot) -> FaultSpace:
    return fault_space(naive, load_fixtures(naive.resolve(naive.spec.webhook.fixtures)))


# ---------------------------------------------------------------- unit


def test_clean_events_leave_out_the_captures_own_quirks(naive: Pilot) -> None:
    captured = load_fixtures(naive.resolve(naive.spec.webhook.fixtures))
    chosen = clean_events(captured, naive.spec.expectations, sorted(naive.spec.partners), 10)
    assert len(chosen) == 10
    assert chosen == sorted(chosen)
    picked = [captured[i] for i in chosen]
    # The capture repeats one event id (lines 2 and 3): only one of them is sent.
    assert len({e.event_id for e in picked}) == len(picked)
    created: set[str] = set()
    newest: dict[str, int] = {}
    kinds: Counter[str] = Counter()
    for event in picked:
        if event.event_type == "payment_intent.succeeded":  # order-sync's create rule
            created.add(event.entity_id)
            kinds["create"] += 1
        else:
            assert event.entity_id in created, "an update before its create"
            assert event.entity_version > newest[event.entity_id], "an update older than one sent"
            kinds["update"] += 1
        newest[event.entity_id] = event.entity_version
    assert kinds["create"] >= 5 and kinds["update"] >= 1
    # Without the filter the same window would include the repeated capture.
    assert 3 not in chosen
    assert chosen == [0, 1, 2, 4, 5, 6, 7, 8, 9, 10]


def test_fault_space_uses_the_pilots_timeouts(space: FaultSpace) -> None:
    # order-sync: [links.partner] timeout_s = 0.5 for the workflow, 2 s provider window.
    assert space.timeouts_ms == {"partner": 500, "webhook": 2000}
    # Toxics only on links to the partner (see harness.search.hunt._toxic_fault).
    assert space.links == ("partner",)
    scenario = scenario_for(
        space,
        (
            ToxicFault("partner", "latency", "downstream", 2, 3),
            PartnerFault("slow", 4, 1),
        ),
    )
    (window,) = scenario.toxics
    assert window.attributes["latency"] > 500
    assert (window.from_delivery, window.until_delivery) == (2, 3)
    assert window.from_s is None and window.until_s is None
    assert scenario.partner["slow"][0]["delay_ms"] > 500
    assert scenario.delivery.concurrency == 1
    assert scenario.delivery.rate is None
    assert scenario.delivery.events == list(space.events)


def test_canonical_keeps_one_delivery_fault_per_position() -> None:
    a = DeliveryFault("duplicate", 2, 0.0)
    b = DeliveryFault("drop", 2, 0.5)
    c = PartnerFault("error", 1, 2, 503)
    assert canonical([a, c, b, c]) == (a, c)


def test_duration_parsing() -> None:
    assert parse_duration("60s") == 60
    assert parse_duration("2m") == 120
    assert parse_duration(" 90 ") == 90
    assert parse_duration("250ms") == pytest.approx(0.25)
    for bad in ("soon", "-5s", "0", "nan"):
        with pytest.raises(ValueError, match="--budget"):
            parse_duration(bad)


def test_the_simplest_nonempty_schedule_is_one_plain_duplicate(space: FaultSpace) -> None:
    # What the shrinker converges to when any fault at all breaks a workflow.
    smallest = find(
        schedules(space),
        lambda s: len(s) >= 1,
        settings=settings(database=None, max_examples=200),
    )
    assert smallest == (DeliveryFault("duplicate", 0, 0.0),)


# Module-level so @given can draw from it; loading a pilot reads no sockets.
NAIVE_PILOT = load_pilot(NAIVE)
SPACE = fault_space(
    NAIVE_PILOT, load_fixtures(NAIVE_PILOT.resolve(NAIVE_PILOT.spec.webhook.fixtures))
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules(SPACE))
def test_schedule_toml_round_trip(
    schedule: Schedule, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pilot, space = NAIVE_PILOT, SPACE
    scenario = scenario_for(space, schedule, description="round trip")
    text = scenario_toml("hunt-x", scenario, ["a comment", "", "another"])
    path = tmp_path_factory.mktemp("rt") / "counterexample.toml"
    path.write_text(text, encoding="utf-8")
    loaded = load_scenario_file(path, pilot)
    assert list(loaded) == ["hunt-x"]
    # The file sets no expect of its own, so a pasted table follows the pilot's default.
    assert loaded["hunt-x"] == scenario.model_copy(update={"expect": pilot.spec.expect})
    assert schedule_from_scenario(space, loaded["hunt-x"]) == schedule
    # Every delivery fault lands on its own plan slot, and the plan only sends the chosen events.
    plan = plan_deliveries([f"e{i}" for i in range(46)], loaded["hunt-x"].delivery, 1)
    assert {d.event_index for d in plan.deliveries} <= set(space.events) | set(space.quirks)


def test_counterexample_file_is_a_scenarios_table(space: FaultSpace) -> None:
    text = scenario_toml(
        "hunt-ab12", scenario_for(space, (DeliveryFault("drop", 1, 0.5),)), ["story"]
    )
    assert text.startswith("# story\n")
    data = tomllib.loads(text)
    assert set(data) == {"scenarios"}
    delivery = data["scenarios"]["hunt-ab12"]["delivery"]
    assert delivery["concurrency"] == 1
    assert delivery["faults"] == [{"position": 1, "fault": "drop", "delay_s": 0.5}]


def test_bad_budget_is_one_line_exit_2() -> None:
    result = CliRunner().invoke(app, ["hunt", str(NAIVE), "--budget", "soon"])
    assert result.exit_code == 2
    assert "--budget: expected a duration" in result.output
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- real hunts


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_naive_hunt_finds_a_small_failure_that_replays(tmp_path: Path) -> None:
    # One real hunt, through the command a user types; what the engine found is
    # read back from the hunt.json it saved. Two stages side by side: enough to
    # test the parallel path, cheap on a 2-core CI.
    runner = CliRunner()
    hunted = runner.invoke(
        app,
        [
            *("hunt", str(NAIVE), "--budget", "30s", "--shrink-budget", "30s", "--seed", "11"),
            *("--replays", "2", "--workers", "2", "--reports", str(tmp_path), "--quiet"),
        ],
    )
    assert hunted.exit_code == 1, hunted.output
    assert "What went wrong" in hunted.output
    (log,) = tmp_path.glob("hunts/*/hunt.json")
    saved = json.loads(log.read_text())
    assert saved["found"] is True and not saved["flaky"], saved["story"]
    assert 1 <= saved["counterexample"]["size"] <= 2, saved["story"]
    first = saved["counterexample"]["broken"]
    assert set(first) & set(saved["invariants_judged"]), saved["story"]
    assert saved["first_failure_s"] is not None and saved["first_failure_s"] < 30
    assert saved["standing"] and saved["workers"] >= 2
    assert saved["seed"] == 11
    assert saved["schedules_tried"] >= 2
    assert saved["failures_found"] >= 1
    assert saved["schedules_per_minute"] > 0
    assert any(first[0] in line for line in saved["story"])

    # The saved file replays as a normal drill (fresh services, no salt) to the
    # same violation, 3 times out of 3: twice in this process on one fault
    # proxy, once as the user would, through `chaoslab drill --scenario-file`.
    counterexample = Path(saved["counterexample"]["file"])
    naive = load_pilot(NAIVE)
    ((name, scenario),) = load_scenario_file(counterexample, naive).items()

    async def replay() -> list[list[str]]:
        seen = []
        async with open_fault_proxy() as proxy:
            for _ in range(2):
                run = await run_drill(
                    naive, name, scenario=scenario, reports=tmp_path, fault_proxy=proxy
                )
                seen.append(list(verdict_key(run.results, saved["invariants_judged"])))
        return seen

    assert asyncio.run(replay()) == [first] * 2
    replayed = runner.invoke(
        app,
        [
            *("drill", str(NAIVE), "--scenario-file", str(counterexample)),
            *("--reports", str(tmp_path), "--quiet"),
        ],
    )
    assert replayed.exit_code == 1, replayed.output
    assert "FAIL" in replayed.output


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_hardened_survives_a_short_hunt(hardened: Pilot, tmp_path: Path) -> None:
    # Driven by a count of schedules, not the clock: the budget only bounds a stuck run.
    found = hunt(
        hardened, budget_s=120, seed=5, reports=tmp_path, shrink_s=10, replays=1, workers=2,
        max_schedules=8,
    )  # fmt: skip
    assert not found.found, found.story
    assert found.status.tried == 8
    assert found.story[-1] == "No schedule broke an invariant in the 8 schedules allowed (8 tried)."
    saved = json.loads((found.hunt_dir / "hunt.json").read_text())
    assert saved["found"] is False and saved["counterexample"] is None
    # Besides the schedules, the no-fault check ran twice on a standing stage.
    assert [t["phase"] for t in saved["tried"]].count("check") == 2
    assert len([t for t in saved["tried"] if t["phase"] != "check"]) == found.status.tried
    assert not (found.hunt_dir / "counterexample.toml").exists()


# ---------------------------------------------------------------- the engine, with fake drills


class FakeDrills:
    """Stands in for run_drill: breaks exactly_once when the rule says so, no processes."""

    def __init__(self, breaks: Callable[[ScenarioSpec, int], bool]) -> None:
        self.breaks = breaks
        self.calls: list[ScenarioSpec] = []

    async def __call__(
        self, pilot: Pilot, name: str, *, scenario: ScenarioSpec, reports: Path, **_: object
    ) -> DrillResult:
        self.calls.append(scenario)
        bad = self.breaks(scenario, len(self.calls))
        results = [
            InvariantResult("exactly_once", not bad, {"duplicated": int(bad)}, [], "fake"),
            InvariantResult("slo", False, {}, [], "the SLO is not judged by default"),
        ]
        return DrillResult(
            run_id=f"fake-{len(self.calls)}",
            run_dir=reports,
            pilot=pilot.name,
            scenario=name,
            seed=scenario.seed,
            results=results,
            stats=SendStats(),
            duration_s=0.0,
        )


@contextlib.asynccontextmanager
async def no_proxy() -> AsyncIterator[object]:
    yield object()  # the fake drills never use it


def fake(monkeypatch: pytest.MonkeyPatch, drills: FakeDrills) -> None:
    monkeypatch.setattr("harness.drill.run.run_drill", drills)
    monkeypatch.setattr("harness.drill.session.open_fault_proxy", no_proxy)


def dup_at_or_after(position: int) -> Callable[[ScenarioSpec, int], bool]:
    def rule(scenario: ScenarioSpec, _call: int) -> bool:
        return any(
            f.fault == "duplicate" and f.position >= position for f in scenario.delivery.faults
        )

    return rule


def test_engine_shrinks_to_the_one_fault_that_matters(
    naive: Pilot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drills = FakeDrills(dup_at_or_after(3))
    fake(monkeypatch, drills)
    found = hunt(naive, budget_s=30, seed=1, reports=tmp_path, replays=2, standing=False)
    assert found.schedule == (DeliveryFault("duplicate", 3, 0.0),)
    assert not found.flaky
    assert [r.broken for r in found.replays] == [["exactly_once"], ["exactly_once"]]
    # The unjudged SLO failure never counted as a counterexample.
    assert drills.calls[0].delivery.faults == []
    saved = json.loads((found.hunt_dir / "hunt.json").read_text())
    assert saved["tried"][0]["ok"] is True
    assert saved["counterexample"]["faults"] == [
        {"on": "delivery", "kind": "duplicate", "position": 3, "delay_s": 0.0}
    ]
    text = (found.hunt_dir / "counterexample.toml").read_text()
    assert "is delivered twice" in text and "exactly_once: fake" in text


def test_engine_reports_a_flaky_counterexample_with_both_outcomes(
    naive: Pilot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: Counter[str] = Counter()

    def once(scenario: ScenarioSpec, _call: int) -> bool:
        # Breaks the first time a schedule with a duplicate runs, never again.
        key = scenario.model_dump_json()
        seen[key] += 1
        return dup_at_or_after(0)(scenario, 0) and seen[key] == 1

    fake(monkeypatch, FakeDrills(once))
    found = hunt(naive, budget_s=30, seed=1, reports=tmp_path, replays=2, standing=False)
    assert found.found and found.flaky
    flaky = next(line for line in found.story if line.startswith("FLAKY"))
    assert "exactly_once: 1x" in flaky and "all invariants held: " in flaky
    saved = json.loads((found.hunt_dir / "hunt.json").read_text())
    assert saved["flaky"] is True
    assert saved["outcomes"]["exactly_once"] == 1


def test_engine_stops_on_a_drill_that_cannot_run(
    naive: Pilot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    async def broken_drill(*args: object, **kwargs: object) -> DrillResult:
        calls.append(1)
        raise DrillError("workflow did not start")

    monkeypatch.setattr("harness.drill.run.run_drill", broken_drill)
    monkeypatch.setattr("harness.drill.session.open_fault_proxy", no_proxy)
    with pytest.raises(DrillError, match="did not start"):
        hunt(naive, budget_s=30, seed=1, reports=tmp_path, standing=False)
    assert calls == [1]  # not shrunk as if it were a counterexample


def test_engine_says_when_the_workflow_breaks_with_no_fault(
    naive: Pilot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake(monkeypatch, FakeDrills(lambda _s, _n: True))
    found = hunt(naive, budget_s=30, seed=1, reports=tmp_path, replays=1, standing=False)
    assert found.schedule == ()
    assert any("with no fault injected" in line for line in found.story)
