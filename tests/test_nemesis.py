"""The workflow nemesis: SIGKILL and restart the workflow mid-drill, its state folder kept.

On real processes: a workflow that dedupes in memory forgets across the
restart, so a redelivery after it ships a second parcel; the hardened
workflow's SQLite inbox survives the same restart and nothing breaks. The
bookkeeping (when, which restart, in which order) is tested on a fake restart.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from harness.drill import run_drill
from harness.drill.nemesis import Nemesis
from harness.inputs.pilot import Pilot, PilotError, Restart, load_pilot
from harness.journal import load_run
from tests.pilot_tree import pilot_tree

REPO = Path(__file__).resolve().parents[1]


def with_workflow(pilot: Pilot, command: list[str]) -> Pilot:
    workflow = pilot.spec.workflow.model_copy(update={"command": command})
    return pilot.model_copy(update={"spec": pilot.spec.model_copy(update={"workflow": workflow})})


@pytest.fixture(scope="module")
def forgetful() -> Pilot:
    # Two paid orders; killed after the second is answered; then the first is redelivered.
    return load_pilot(REPO / "benchmarks/zoo/no-key-memory-dedupe.toml")


def restarts_in(run_dir: Path) -> list[dict[str, object]]:
    meta = json.loads((run_dir / "run.json").read_text())
    found: list[dict[str, object]] = meta["workflow_restarts"]
    return found


@pytest.mark.slow
async def test_a_restart_loses_an_in_memory_dedupe(forgetful: Pilot, tmp_path: Path) -> None:
    drill = await run_drill(forgetful, "defect", reports=tmp_path)
    once = next(r for r in drill.results if r.name == "exactly_once")
    assert not once.ok and once.counts["duplicated"] == 1
    [restart] = restarts_in(drill.run_dir)
    assert restart["after_delivery"] == 1
    assert restart["pid_before"] != restart["pid_after"]
    assert 0 < float(restart["killed_at"]) < float(restart["ready_at"])  # type: ignore[arg-type]
    # The redelivery went out after the new process was ready.
    attempts = load_run(drill.run_dir).table("attempts")
    redelivered = attempts[attempts["fault_tags"].str.contains("duplicate")]
    assert float(redelivered["sent_at"].min()) >= float(restart["ready_at"])  # type: ignore[arg-type]


@pytest.mark.slow
async def test_a_durable_inbox_survives_the_same_restart(forgetful: Pilot, tmp_path: Path) -> None:
    hardened = with_workflow(forgetful, ["python", "-m", "workflows.hardened"])
    drill = await run_drill(hardened, "defect", reports=tmp_path)
    assert drill.ok, [r.summary for r in drill.results if not r.ok]
    [restart] = restarts_in(drill.run_dir)
    assert restart["pid_before"] != restart["pid_after"]
    # The redelivery was recognised by the new process, from the inbox on disk.
    outcomes = load_run(drill.run_dir).table("outcomes")
    assert (outcomes["outcome"] == "duplicate").sum() == 1


class Recorder:
    """A fake workflow restart and sender: what happened, in order."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.in_flight = 0
        self.pid = 100

    async def restart(self) -> tuple[int, int]:
        self.log.append(f"restart (in flight {self.in_flight})")
        self.pid += 1
        return self.pid - 1, self.pid

    async def before_dispatch(self, position: int) -> None:
        self.log.append(f"dispatch {position}")


async def test_position_restarts_wait_for_answers_then_come_before_the_next_delivery() -> None:
    fake = Recorder()
    nemesis = Nemesis(
        [Restart(after_delivery=2), Restart(after_delivery=0)],
        fake.restart,
        lambda: fake.in_flight,
        fake,
    )
    record = nemesis.recorder(lambda row: fake.log.append(f"answered {row['n']}"))
    await nemesis.before_dispatch(0)
    fake.in_flight = 1
    waiting = asyncio.create_task(nemesis.before_dispatch(1))
    await asyncio.sleep(0)
    assert fake.log == ["dispatch 0"]  # delivery 0 is still in flight: no restart yet
    fake.in_flight = 0
    record({"n": 0})
    await waiting
    await nemesis.before_dispatch(2)
    await nemesis.after_sending()
    assert fake.log == [
        "dispatch 0", "answered 0", "restart (in flight 0)", "dispatch 1", "dispatch 2",
        "restart (in flight 0)",
    ]  # fmt: skip
    assert [r["after_delivery"] for r in nemesis.history()] == [0, 2]
    pids = [(r["pid_before"], r["pid_after"]) for r in nemesis.history()]
    assert pids == [(100, 101), (101, 102)]


async def test_a_timed_restart_still_due_when_sending_ends_happens_then() -> None:
    fake = Recorder()
    nemesis = Nemesis([Restart(at_s=3600)], fake.restart, lambda: 0, fake)
    clock = asyncio.create_task(nemesis.run_clock())
    await nemesis.after_sending()
    await asyncio.wait_for(clock, 5)
    assert fake.log == ["restart (in flight 0)"]
    assert nemesis.history()[0]["at_s"] == 3600


def test_restarts_need_a_workflow_the_drill_starts(tmp_path: Path) -> None:
    text = (REPO / "pilots/order-sync.toml").read_text()
    command = 'command = ["python", "-m", "workflows.hardened"]'
    text = text.replace(command, 'url = "http://127.0.0.1:9"')
    text = text.replace('cwd = ".."', f'cwd = "{REPO}"')
    text = text.replace('"../fixtures/', f'"{REPO}/fixtures/')
    text = text.replace('"partners/', f'"{REPO}/pilots/partners/')
    pilot = tmp_path / "by-url.toml"
    pilot.write_text(text + "\n[scenarios.kill]\nworkflow = { restarts = [{ at_s = 1 }] }\n")
    reached_by_url = r"\[scenarios.kill\] workflow.restarts: the workflow is reached by url"
    with pytest.raises(PilotError, match=reached_by_url):
        load_pilot(pilot)


def test_a_restart_names_one_moment(tmp_path: Path) -> None:
    pilot = pilot_tree(tmp_path) / "p.toml"
    pilot.write_text(
        'extends = "order-sync.toml"\n'
        "[scenarios.kill]\nworkflow = { restarts = [{ after_delivery = 1, at_s = 2 }] }\n"
    )
    one_moment = r"\[scenarios.kill\] workflow.restarts\[0\]: give exactly"
    with pytest.raises(PilotError, match=one_moment):
        load_pilot(pilot)


async def test_a_delivery_dispatched_alongside_waits_for_the_restart() -> None:
    fake = Recorder()
    nemesis = Nemesis([Restart(after_delivery=0)], fake.restart, lambda: fake.in_flight, fake)
    fake.in_flight = 1  # delivery 0 still in flight
    first = asyncio.create_task(nemesis.before_dispatch(1))
    second = asyncio.create_task(nemesis.before_dispatch(2))
    await asyncio.sleep(0)
    assert fake.log == []  # neither goes out before the restart
    fake.in_flight = 0
    nemesis.attempt_ended()
    await asyncio.gather(first, second)
    assert fake.log == ["restart (in flight 0)", "dispatch 1", "dispatch 2"]
