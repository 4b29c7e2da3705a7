"""The hunt on poll pilots: the page faults as a family, on standing stages (fresh when scheduled).

Quick tests use fake drills (test_hunt.FakeDrills); the slow ones hunt the
reference sync jobs on real processes, a few schedules each.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_kit import assert_replay_breaks
from test_hunt import FakeDrills, fake

from harness.inputs.delivery_faults.page import PageFault
from harness.inputs.fixtures import load_fixtures
from harness.inputs.pilot import Pilot, ScenarioSpec, load_pilot
from harness.search.hunt import (
    canonical,
    describe_fault,
    draw_chunk,
    fault_space,
    hunt,
    scenario_for,
    schedule_from_scenario,
)
from harness.search.space import FaultSpace, PartnerFault
from harness.search.translate import plan_for

REPO = Path(__file__).resolve().parent.parent


def sync_pilot(name: str = "sync-naive") -> Pilot:
    return load_pilot(REPO / f"pilots/{name}.toml")


def space_of(pilot: Pilot) -> FaultSpace:
    return fault_space(pilot, load_fixtures(pilot.resolve(pilot.spec.webhook.fixtures)))


# ---------------------------------------------------------------- quick


def test_a_poll_space_draws_page_and_partner_faults_only() -> None:
    space = space_of(sync_pilot())
    assert space.families == ("partner", "page") and not space.restarts
    # Ten records at four a page; the job waits a second for a page.
    assert space.pages == 3 and space.source_timeout_s == 1.0
    assert space.role("source") == "source" and space.role("crm") == "partner"
    drawn = [f for s in draw_chunk(space, 1) for f in s]
    kinds = {f.kind for f in drawn if isinstance(f, PageFault)}
    assert kinds == {"repeat", "change", "error", "slow", "empty"}
    assert all(isinstance(f, PageFault | PartnerFault) or "Rate" in type(f).__name__ for f in drawn)
    # A change after the last page would change nothing the pass still reads.
    assert all(
        f.page < space.pages for f in drawn if isinstance(f, PageFault) and f.kind == "change"
    )


def test_page_faults_are_written_as_the_poll_table_and_read_back() -> None:
    space = space_of(sync_pilot())
    schedule = canonical(
        (
            PageFault("repeat"),
            PageFault("change", 2),
            PageFault("error", 2, 429),
            PageFault("error", 3, 503),  # a scenario has room for one error page: dropped
            PageFault("slow", 1),
            PageFault("empty", 2),
        ),
        space,
    )
    assert len(schedule) == 5
    scenario = scenario_for(space, schedule)
    poll = scenario.poll
    assert poll.repeat_at_boundary and poll.change_between_pages == 2
    assert poll.error_at_page is not None and poll.error_at_page.retry_after_s == 1.0
    assert poll.slow_page is not None and poll.slow_page.delay_s == 1.3  # past the 1 s wait
    assert schedule_from_scenario(space, scenario) == schedule
    again = ScenarioSpec.model_validate(scenario.model_dump(mode="json"))
    assert schedule_from_scenario(space, again) == schedule


def test_each_page_fault_is_one_sentence_of_the_story() -> None:
    pilot = sync_pilot()
    captured = load_fixtures(pilot.resolve(pilot.spec.webhook.fixtures))
    space = fault_space(pilot, captured)
    told = {}
    for fault in (
        PageFault("repeat"),
        PageFault("change", 1),
        PageFault("error", 2, 429),
        PageFault("slow", 3),
        PageFault("empty", 2),
    ):
        plan = plan_for(scenario_for(space, (fault,)), captured)
        told[fault.kind] = describe_fault(space, fault, captured, plan)
    assert "page-boundary repeat" in told["repeat"]
    assert told["change"].startswith("right after page 1 is served, its last record changes")
    assert told["error"] == "page 2 answers 429 with Retry-After 1 s the first time it is asked for"
    assert "1.3 s late" in told["slow"] and "1 s wait for a page" in told["slow"]
    assert told["empty"] == "page 2 comes back empty although more records follow"


def test_a_scheduled_poll_hunt_runs_fresh_drills_side_by_side_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def repeat(scenario: ScenarioSpec, _call: int) -> bool:
        return scenario.poll.repeat_at_boundary

    fake(monkeypatch, FakeDrills(repeat))
    # A job on its own schedule (no trigger) would page between drills too: it cannot stand.
    pilot = sync_pilot()
    assert pilot.spec.poll is not None
    poll = pilot.spec.poll.model_copy(update={"trigger": None})
    scheduled = pilot.model_copy(update={"spec": pilot.spec.model_copy(update={"poll": poll})})
    found = hunt(scheduled, budget_s=30, seed=1, reports=tmp_path, replays=1, workers=2)
    assert found.schedule == (PageFault("repeat"),)
    assert not found.standing and "its own schedule" in found.standing_fallback
    assert found.workers == 2 and "2 side by side" in found.story[0]
    assert any("Standing stages were left" in line for line in found.story)
    assert any("page-boundary repeat" in line for line in found.story)
    assert found.counterexample is not None
    assert "repeat_at_boundary = true" in found.counterexample.read_text()


# ---------------------------------------------------------------- real processes


@pytest.mark.timeout(170)
@pytest.mark.slow
def test_the_naive_sync_job_is_found_shrunk_and_its_counterexample_replays(
    tmp_path: Path,
) -> None:
    pilot = sync_pilot()
    found = hunt(
        pilot, budget_s=60, seed=1, reports=tmp_path, replays=1, workers=2, max_schedules=8
    )
    assert found.schedule is not None and 1 <= len(found.schedule) <= 2, found.story
    assert found.result is not None and not found.flaky
    # On standing stages: each drill's records and page faults served by the stage's source.
    assert found.standing and not found.standing_fallback, found.story
    assert found.counterexample is not None
    assert_replay_breaks(pilot.path, found.counterexample, tmp_path / "replay", cwd=REPO)


@pytest.mark.timeout(170)
@pytest.mark.slow
def test_the_fixed_sync_job_survives_a_short_hunt(tmp_path: Path) -> None:
    found = hunt(
        sync_pilot("sync-fixed"),
        budget_s=90,
        seed=1,
        reports=tmp_path,
        workers=2,
        max_schedules=8,
        families=("page",),
    )
    assert found.schedule is None, found.story
    assert found.status.tried >= 8
