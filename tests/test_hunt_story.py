"""A hunt's story says what the workflow met, as its run measured it.

The quick tests drive the hunt engine with fake drills (see test_hunt.py);
the slow ones run a real drill per case and read its records back.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pilot_tree import pilot_tree
from test_hunt import FakeDrills, dup_at_or_after, fake

from harness.drill import run_drill
from harness.inputs.fixtures import load_fixtures
from harness.inputs.pilot import Pilot, PilotError, ScenarioSpec, load_pilot
from harness.journal import read_meta
from harness.search.evidence import restart_loss, window_answers
from harness.search.hunt import (
    DeliveryFault,
    RestartFault,
    ToxicFault,
    describe_fault,
    fault_space,
    hunt,
    scenario_for,
)
from harness.search.hunt import _story as story
from harness.search.story import restart_note
from harness.search.translate import plan_for

REPO = Path(__file__).resolve().parent.parent


def drill(pilot: Pilot, scenario: ScenarioSpec, reports: Path) -> Path:
    return asyncio.run(run_drill(pilot, "story", scenario=scenario, reports=reports)).run_dir


# ---------------------------------------------------------------- quick


def test_one_fault_is_never_said_to_have_a_smaller_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    naive = load_pilot(REPO / "pilots/order-sync-naive.toml")
    fake(monkeypatch, FakeDrills(dup_at_or_after(3)))
    found = hunt(naive, budget_s=30, seed=1, reports=tmp_path, replays=1, standing=False)
    assert found.schedule == (DeliveryFault("duplicate", 3, 0.0),)
    # Even when shrinking ran out of time: the empty schedule held, so one fault is smallest.
    found.status.shrink_cut = True
    captured = load_fixtures(naive.resolve(naive.spec.webhook.fixtures))
    assert not any("smaller schedule may exist" in line for line in story(found, naive, captured))
    found.schedule = (DeliveryFault("duplicate", 3, 0.0), DeliveryFault("drop", 4, 0.0))
    assert any("smaller schedule may exist" in line for line in story(found, naive, captured))


def pilot_with_families(tmp_path: Path, families: str) -> Path:
    pilots = pilot_tree(tmp_path)
    path = pilots / "order-sync-naive.toml"
    path.write_text(path.read_text() + f"\n[hunt]\nfamilies = {families}\n")
    return path


def test_a_pilots_hunt_families_scope_what_is_drawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pilot = load_pilot(pilot_with_families(tmp_path, '["move"]'))
    assert pilot.spec.hunt.families == ["move"]
    drills = FakeDrills(lambda _s, _n: False)
    fake(monkeypatch, drills)
    found = hunt(pilot, budget_s=60, seed=2, reports=tmp_path, standing=False, max_schedules=25)
    assert not found.found and found.space.families == ("move",)
    assert found.status.tried == 25  # bounded by count: the no-fault check and 24 drawn
    first, *drawn = drills.calls
    assert not first.delivery.faults  # the no-fault check
    assert any(s.delivery.events != first.delivery.events for s in drawn)  # moves
    # Only moves: no delivery fault, toxic, partner fault or restart in any schedule.
    assert all(not s.delivery.faults for s in drills.calls)
    assert all(not s.toxics and not s.partner and not s.workflow.restarts for s in drills.calls)
    # The caller's own choice (--faults) wins over the pilot's.
    chosen = hunt(
        pilot, budget_s=60, seed=2, reports=tmp_path, standing=False, max_schedules=3,
        families=["delivery"],
    )  # fmt: skip
    assert chosen.space.families == ("delivery",)


def test_an_unknown_hunt_family_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(PilotError) as caught:
        load_pilot(pilot_with_families(tmp_path, '["delivery", "restarts"]'))
    message = str(caught.value)
    assert "\n" not in message
    assert message.endswith(
        "[hunt] families: unknown fault family 'restarts' "
        "(families: delivery, move, partner, toxic, capture, workflow, page)"
    )


# ---------------------------------------------------------------- real drills


def closing_partner(tmp_path: Path) -> Path:
    """order-sync whose logistics partner ends every connection after its answer."""
    pilots = pilot_tree(tmp_path)
    routes = (REPO / "pilots/partners/logistics.toml").read_text()
    assert routes.count("\nstatus = ") == 3
    closing = routes.replace("\nstatus = ", '\nheaders = { Connection = "close" }\nstatus = ')
    (pilots / "logistics-close.toml").write_text(closing)
    path = pilots / "order-sync.toml"
    text = path.read_text()
    assert 'file = "partners/logistics.toml"' in text
    path.write_text(
        text.replace('file = "partners/logistics.toml"', 'file = "logistics-close.toml"')
    )
    return path


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_timeout_toxic_is_told_as_the_connection_behaved(tmp_path: Path) -> None:
    told = {}
    for name, path in (
        ("keep-alive", REPO / "pilots/order-sync.toml"),
        ("close", closing_partner(tmp_path / "close")),
    ):
        pilot = load_pilot(path)
        captured = load_fixtures(pilot.resolve(pilot.spec.webhook.fixtures))
        space = fault_space(pilot, captured, count=5)
        fault = ToxicFault("partner", "timeout", "downstream", 1, 2)
        scenario = scenario_for(space, (fault,))
        # The story is told from the fault; the drill keeps the toxic on to the end, so
        # the workflow's partner calls (made after the webhook is answered, later under
        # load) fall inside its window whatever the machine's speed.
        whole_run = [w.model_copy(update={"from_delivery": None, "until_delivery": None,
                                          "from_s": 0.0, "until_s": None})
                     for w in scenario.toxics]  # fmt: skip
        scenario = scenario.model_copy(update={"toxics": whole_run})
        run_dir = drill(pilot, scenario, tmp_path / name)
        seen = window_answers(run_dir, read_meta(run_dir), "partner", "logistics", "timeout")
        assert seen is not None and seen.answered >= 1, name
        told[name] = (
            seen,
            describe_fault(space, fault, captured, plan_for(scenario, captured), seen),
        )
    held, closed = told["keep-alive"], told["close"]
    assert held[0].closed == 0
    assert "held and never arrive: each connection stayed open" in held[1]
    assert closed[0].closed == closed[0].answered
    assert "held and never arrive" not in closed[1]
    assert "each connection closed right after the answer (Connection: close)" in closed[1]
    assert "fail at once" in closed[1]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_restart_finding_says_it_comes_from_memory(tmp_path: Path) -> None:
    losses = {}
    for name, path in (
        ("memory", REPO / "benchmarks/zoo/memory-inbox.toml"),
        ("hardened", REPO / "pilots/order-sync.toml"),
    ):
        pilot = load_pilot(path)
        captured = load_fixtures(pilot.resolve(pilot.spec.webhook.fixtures))
        space = fault_space(pilot, captured, count=4)
        run_dir = drill(pilot, scenario_for(space, (RestartFault(2),)), tmp_path / name)
        losses[name] = restart_loss(run_dir)
    memory, hardened = losses["memory"], losses["hardened"]
    assert memory is not None and memory.forgotten, memory
    assert hardened is not None and not hardened.forgotten and not hardened.again, hardened
    note = restart_note(memory)
    assert "state the workflow kept in memory" in note
    assert "its outcomes no longer named" in note and memory.forgotten[0] in note
    assert "[hunt] families" in note


def test_a_failure_made_of_restarts_only_is_told_as_lost_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    naive = load_pilot(REPO / "pilots/order-sync-naive.toml")
    fake(monkeypatch, FakeDrills(lambda s, _n: bool(s.workflow.restarts)))
    found = hunt(
        naive, budget_s=60, seed=3, reports=tmp_path, replays=1, standing=False,
        families=["delivery", "workflow"], max_schedules=40,
    )  # fmt: skip
    assert found.schedule is not None and len(found.schedule) == 1
    assert isinstance(found.schedule[0], RestartFault)
    assert any(line.startswith("Every fault here is a restart") for line in found.story)
    # A schedule with any other fault is not put down to memory.
    fake(monkeypatch, FakeDrills(dup_at_or_after(3)))
    other = hunt(naive, budget_s=60, seed=1, reports=tmp_path, replays=1, standing=False)
    assert other.found and not any("is a restart" in line for line in other.story)
