"""Recovery of killed drills from hand-made run folders (no processes needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.drill import recover_stale_runs, trace_id_for
from harness.journal import JournalWriter, list_runs, load_run, read_meta

DEAD_PID = 2**22 + 12345  # above Linux's pid_max: never a live process


def killed_run(root: Path, name: str, *, journaled: bool) -> Path:
    run_dir = root / name
    trace = trace_id_for(name, "evt_1")
    # One line of a partner's ledger, as the simulator writes it.
    ledger = {
        "at": 1000.5,
        "partner": "logistics",
        "route": "create",
        "effect": "shipment.created",
        "entity": "shipment",
        "key": "ord_1",
        "version": 1,
        "idempotency_key": "",
        "traceparent": f"00-{trace}-0000000000000001-01",
        "id": "shipment_000001",
    }
    request = {
        "at": 1000.4,
        "partner": "logistics",
        "method": "POST",
        "path": "/v1/x",
        "status": 201,
    }
    journal = JournalWriter(run_dir, name)
    meta = {
        "status": "running",
        "pid": DEAD_PID,
        "started_at": 999.0,
        "clock_origin": 1000.0,
        "event_ids": ["evt_1"],
        "effects_journaled": journaled,
    }
    journal.write_meta(meta)
    journal.attempt({"event_id": "evt_1", "attempt": 1, "status": 200, "sent_at": 0.1})
    if journaled:
        journal.effect(
            {
                "at": 0.5,
                "partner": "logistics",
                "kind": "logistics:shipment.created",
                "business_key": "ord_1",
                "entity_version": 1,
                "event_id": "evt_1",
            }
        )
    (run_dir / "ledger-logistics.jsonl").write_text(json.dumps(ledger) + "\n")
    (run_dir / "requests-logistics.jsonl").write_text(json.dumps(request) + "\n")
    # Killed before close(): the files stay jsonl; only the descriptors go.
    for fd in journal._fds.values():
        os.close(fd)
    return run_dir


@pytest.mark.parametrize("journaled", [False, True])
def test_effects_are_taken_from_the_ledger_exactly_once(tmp_path: Path, journaled: bool) -> None:
    run_dir = killed_run(tmp_path, "run-a", journaled=journaled)
    assert recover_stale_runs(tmp_path) == [run_dir]
    run = load_run(run_dir)
    assert len(run.effects) == 1
    assert run.effects["event_id"].tolist() == ["evt_1"]
    assert run.effects["at"].tolist() == [pytest.approx(0.5)]
    assert run.effects["kind"].tolist() == ["logistics:shipment.created"]
    # Requests are taken with the effects, or not at all when the drill had taken both.
    assert len(run.requests) == (0 if journaled else 1)
    assert len(run.attempts) == 1
    meta = read_meta(run_dir)
    assert meta["status"] == "killed" and meta["recovered"] is True
    # A second pass has nothing left to do.
    assert recover_stale_runs(tmp_path) == []


def test_a_damaged_run_json_is_skipped_not_fatal(tmp_path: Path) -> None:
    good = killed_run(tmp_path, "run-good", journaled=True)
    bad = tmp_path / "run-bad"
    bad.mkdir()
    (bad / "run.json").write_text("{not json")
    assert list_runs(tmp_path) == [good]
    assert recover_stale_runs(tmp_path) == [good]


def test_a_standing_stage_owns_its_proxies_for_a_fresh_drill_beside_it(tmp_path: Path) -> None:
    # A fresh drill starts from runs/ and clears stale proxies on the shared fault
    # proxy; a stage open in stages/ beside it must not read as a dead owner.
    from harness.drill.recovery import owner_alive
    from harness.drill.services import PROXY_PREFIX
    from harness.journal import write_meta

    runs, stages = tmp_path / "runs", tmp_path / "stages"
    for root, name, pid in (
        (stages, "stage-live", os.getpid()),
        (stages, "stage-dead", DEAD_PID),
        (runs, "run-live", os.getpid()),
    ):
        (root / name).mkdir(parents=True)
        write_meta(root / name, {"run_id": name, "status": "running", "pid": pid})
    assert owner_alive(runs, f"{PROXY_PREFIX}stage-live.partner")
    assert owner_alive(stages, f"{PROXY_PREFIX}run-live.partner")
    assert not owner_alive(runs, f"{PROXY_PREFIX}stage-dead.partner")
    assert not owner_alive(runs, f"{PROXY_PREFIX}gone.partner")


def test_finished_runs_are_passed_over_unread_and_a_spelled_out_running_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.drill import recovery
    from harness.journal import write_meta

    for name, status in (("run-done", "done"), ("run-failed", "failed")):
        (tmp_path / name).mkdir()
        write_meta(tmp_path / name, {"run_id": name, "status": status, "pid": DEAD_PID})
    # A hand-edited run.json may escape a letter; it still says "running".
    escaped = tmp_path / "run-escaped"
    escaped.mkdir()
    text = json.dumps({"run_id": "run-escaped", "status": "running", "pid": DEAD_PID})
    (escaped / "run.json").write_text(text.replace("running", "\\u0072unning"))
    read: list[str] = []

    def counting_read_meta(run_dir: Path) -> dict[str, object]:
        read.append(Path(run_dir).name)
        return read_meta(run_dir)

    monkeypatch.setattr(recovery, "read_meta", counting_read_meta)
    assert recover_stale_runs(tmp_path) == [escaped]
    assert "run-done" not in read and "run-failed" not in read
    assert read_meta(escaped)["status"] == "killed"
