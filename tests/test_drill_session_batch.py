"""Side-by-side drills keep the list order's first failure (no processes: fake drills)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

import pytest

from harness.drill import DrillResult, DrillSession
from harness.inputs.pilot import Pilot, ScenarioSpec, load_pilot
from harness.replay.sender import SendStats

REPO = Path(__file__).resolve().parent.parent


def _result(name: str, ok: bool) -> DrillResult:
    return DrillResult(
        run_id=name,
        run_dir=Path("."),
        pilot="p",
        scenario=name,
        seed=1,
        results=[],
        stats=SendStats(),
        duration_s=0.0,
        expect="pass" if ok else "violation",  # the fake's verdict rides here
    )


@pytest.mark.parametrize("stages", [1, 3])
def test_the_first_failure_in_list_order_wins(
    stages: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    # Job 5 fails fast, job 3 fails slowly: a sequential run would stop at 3.
    delays = {0: 0.03, 1: 0.01, 2: 0.02, 3: 0.08, 4: 0.01, 5: 0.0, 6: 0.05, 7: 0.0}

    async def drill(
        self: DrillSession, slot: int, pilot: Pilot, name: str, scenario: ScenarioSpec | None
    ) -> DrillResult:
        index = int(name)
        started.append(index)
        await asyncio.sleep(delays[index])
        return _result(name, ok=index not in (3, 5))

    monkeypatch.setattr(DrillSession, "_drill", drill)
    pilot = load_pilot(REPO / "pilots/order-sync.toml")
    jobs = [(str(i), ScenarioSpec()) for i in range(8)]
    with DrillSession(tmp_path, standing=stages) as session:
        done = session.run_batch(
            pilot, jobs, failed=lambda r: r.expect == "violation", more=lambda: True
        )
    failing = sorted(i for i, r in done.items() if r.expect == "violation")
    assert failing[0] == 3
    assert set(range(4)) <= set(done)  # everything before the first failure ran
    if stages == 1:
        assert started == [0, 1, 2, 3]
    else:
        assert 7 not in started  # nothing was started past a known failure once seen


def test_more_stops_taking_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def drill(
        self: DrillSession, slot: int, pilot: Pilot, name: str, scenario: ScenarioSpec | None
    ) -> DrillResult:
        return _result(name, ok=True)

    monkeypatch.setattr(DrillSession, "_drill", drill)
    pilot = load_pilot(REPO / "pilots/order-sync.toml")
    budget = iter([True, True, False])
    with DrillSession(tmp_path, standing=1) as session:
        done = session.run_batch(
            pilot,
            [(str(i), ScenarioSpec()) for i in range(5)],
            failed=lambda r: False,
            more=lambda: next(budget, False),
        )
    assert sorted(done) == [0, 1]


class FakeStage:
    """Stands in for a standing stage: counts how many were opened and closed."""

    opened: ClassVar[list[FakeStage]] = []

    def __init__(self, pilot: Pilot, runs_root: Path, proxy: object, name: str) -> None:
        self.pilot, self.name, self.alive, self.closed = pilot, name, True, False

    async def open(self) -> FakeStage:
        FakeStage.opened.append(self)
        return self

    async def close(self) -> None:
        self.closed = True

    async def healthy(self) -> bool:
        return self.alive


def test_a_stage_that_broke_is_replaced_and_the_drill_runs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeStage.opened = []
    calls: list[str] = []

    async def run_drill(
        pilot: Pilot, name: str, *, standing: FakeStage, **_: object
    ) -> DrillResult:
        calls.append(standing.name)
        if name == "crash" and len(calls) == 1:
            raise RuntimeError("workflow went away")
        if name == "dies":
            standing.alive = standing.name != "stage-2"  # the workflow died in this drill
        run_dir = tmp_path / name
        run_dir.mkdir(exist_ok=True)
        return _result(name, ok=True)

    monkeypatch.setattr("harness.drill.session.StandingStage", FakeStage)
    monkeypatch.setattr("harness.drill.run.run_drill", run_drill)

    async def no_proxy(self: DrillSession) -> object:
        return object()

    monkeypatch.setattr(DrillSession, "_fault_proxy", no_proxy)
    pilot = load_pilot(REPO / "pilots/order-sync.toml")
    with DrillSession(tmp_path, standing=1) as session:
        session.run(pilot, "crash", ScenarioSpec())
        assert calls == ["stage-1", "stage-2"]  # not a finding: once more on a fresh stage
        session.run(pilot, "dies", ScenarioSpec())
        assert calls[2:] == ["stage-2", "stage-3"]
        assert session.stage_restarts == 2
    assert [s.closed for s in FakeStage.opened] == [True, True, True]
