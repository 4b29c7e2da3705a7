from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.journal import (
    JournalError,
    JournalWriter,
    check_row,
    columns,
    empty_frame,
    frame,
    list_runs,
    load_run,
    recover,
)

REPO = Path(__file__).resolve().parent.parent


def attempt_row(event: str, n: int = 1, status: int | None = 200) -> dict[str, object]:
    return {
        "scenario": "baseline",
        "delivery_id": f"{event}-d{n}",
        "event_id": event,
        "event_type": "payment_intent.succeeded",
        "entity_id": "ord_1",
        "entity_version": 1,
        "traceparent": "00-abc-def-01",
        "attempt": n,
        "scheduled_at": 0.0,
        "sent_at": 0.01 * n,
        "finished_at": 0.01 * n + 0.005,
        "latency_ms": 5.0,
        "status": status,
        "error_class": "" if status else "timeout",
        "fault_tags": "",
    }


def test_rows_are_on_disk_before_close(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path / "r1", "r1")
    writer.attempt(attempt_row("evt_1"))
    writer.outcome({"event_id": "evt_1", "outcome": "processed", "detail": ""})
    lines = (tmp_path / "r1" / "attempts.jsonl").read_text().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["run_id"] == "r1"
    run = load_run(tmp_path / "r1")
    assert list(run.attempts.event_id) == ["evt_1"]
    assert list(run.outcomes.outcome) == ["processed"]
    writer.close()


def test_close_compacts_to_parquet_with_schema(tmp_path: Path) -> None:
    with JournalWriter(tmp_path / "r1", "r1") as writer:
        writer.write_meta({"pilot": "order-sync", "phase": "start"})
        writer.attempt(attempt_row("evt_1", 1, None))
        writer.attempt(attempt_row("evt_1", 2, 200))
        writer.expected(
            {
                "event_id": "evt_1",
                "event_type": "payment_intent.succeeded",
                "entity_id": "ord_1",
                "entity_version": 1,
                "expected_effect": "shipment.created",
                "dropped": False,
            }
        )
        writer.write_meta({"pilot": "order-sync", "phase": "end"})
    files = sorted(p.name for p in (tmp_path / "r1").iterdir())
    assert files == [
        "attempts.parquet",
        "effects.parquet",
        "expected.parquet",
        "outcomes.parquet",
        "requests.parquet",
        "run.json",
    ]
    run = load_run(tmp_path / "r1")
    assert run.meta == {"run_id": "r1", "pilot": "order-sync", "phase": "end"}
    assert list(run.attempts.columns) == columns.names(columns.ATTEMPTS)
    assert run.attempts.status.isna().tolist() == [True, False]
    assert str(run.attempts.status.dtype) == "Int64"
    assert run.expected.dropped.tolist() == [False]
    assert run.effects.empty
    assert list(run.effects.columns) == columns.names(columns.EFFECTS)


def test_read_back_hands_over_the_tables_load_run_reads(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path / "r1", "r1")
    writer.write_meta({"pilot": "order-sync"})
    writer.attempt(attempt_row("evt_1", 1, None))
    writer.attempt(attempt_row("evt_1", 2, 200))
    writer.expected({"event_id": "evt_1", "entity_version": 3, "dropped": None, "note": "n"})
    # A row only on disk (a writer reopened after a kill) must be read back too.
    with open(tmp_path / "r1" / "outcomes.jsonl", "a") as out:
        out.write(json.dumps({"run_id": "r1", "event_id": "evt_1", "outcome": "processed"}) + "\n")
    handed = writer.read_back()
    assert (tmp_path / "r1" / "attempts.parquet").exists()
    assert not (tmp_path / "r1" / "attempts.jsonl").exists()
    loaded = load_run(tmp_path / "r1")
    assert handed.meta == loaded.meta == {"run_id": "r1", "pilot": "order-sync"}
    for table in columns.TABLES:
        pd.testing.assert_frame_equal(handed.table(table), loaded.table(table), check_exact=True)
    assert handed.outcomes.outcome.tolist() == ["processed"]
    assert handed.attempts.status.isna().tolist() == [True, False]
    # Once handed over, the tables are not kept: a second read comes from disk.
    pd.testing.assert_frame_equal(writer.read_back().attempts, loaded.attempts)


def test_dtypes_match_whether_empty_jsonl_or_parquet(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path / "r1", "r1")
    writer.attempt(attempt_row("evt_1"))
    live = load_run(tmp_path / "r1")
    writer.close()
    done = load_run(tmp_path / "r1")
    for table in columns.TABLES:
        empty = empty_frame(table)
        assert list(empty.columns) == columns.names(columns.TABLES[table])
        assert live.table(table).dtypes.equals(empty.dtypes), table
        assert done.table(table).dtypes.equals(empty.dtypes), table
    pd.testing.assert_frame_equal(live.attempts, done.attempts)


def test_torn_last_line_is_ignored_and_recover_compacts(tmp_path: Path) -> None:
    run_dir = tmp_path / "r1"
    writer = JournalWriter(run_dir, "r1")
    writer.write_meta({"pilot": "p"})
    writer.attempt(attempt_row("evt_1"))
    writer.attempt(attempt_row("evt_2"))
    with open(run_dir / "attempts.jsonl", "ab") as out:
        out.write(b'{"run_id":"r1","event_id":"evt_3","atte')
    assert list(load_run(run_dir).attempts.event_id) == ["evt_1", "evt_2"]
    counts = recover(run_dir)
    assert counts["attempts"] == 2
    assert not (run_dir / "attempts.jsonl").exists()
    run = load_run(run_dir)
    assert list(run.attempts.event_id) == ["evt_1", "evt_2"]
    assert run.meta["recovered"] is True


def test_reopening_a_torn_journal_appends_cleanly(tmp_path: Path) -> None:
    run_dir = tmp_path / "r1"
    run_dir.mkdir()
    (run_dir / "outcomes.jsonl").write_bytes(
        b'{"event_id":"a","outcome":"processed"}\n{"event_id":"b","outc'
    )
    with JournalWriter(run_dir, "r1") as writer:
        writer.outcome({"event_id": "c", "outcome": "duplicate"})
    assert list(load_run(run_dir).outcomes.event_id) == ["a", "c"]


def test_corrupt_middle_line_names_file_and_line(tmp_path: Path) -> None:
    run_dir = tmp_path / "r1"
    run_dir.mkdir()
    (run_dir / "outcomes.jsonl").write_text(
        '{"event_id":"a","outcome":"processed"}\nnot json\n{"event_id":"c"}\n'
    )
    with pytest.raises(JournalError, match=r"outcomes\.jsonl:2: not a JSON object"):
        load_run(run_dir)
    (run_dir / "outcomes.jsonl").write_text('{"event_id":"a","detail":7}\n')
    with pytest.raises(JournalError, match=r"outcomes\.jsonl:1: .*'detail' must be a string"):
        load_run(run_dir)


def test_row_checks_protect_the_schema() -> None:
    row = check_row("outcomes", {"event_id": "e"}, run_id="r9")
    assert row == {"run_id": "r9", "event_id": "e", "outcome": None, "detail": None}
    with pytest.raises(JournalError, match=r"outcomes row: unknown column 'event'"):
        check_row("outcomes", {"event": "e"})
    with pytest.raises(JournalError, match=r"'attempt' must be an integer"):
        check_row("attempts", {"attempt": "1"})
    with pytest.raises(JournalError, match=r"'attempt' must be an integer"):
        check_row("attempts", {"attempt": True})
    with pytest.raises(JournalError, match=r"'dropped' must be true or false"):
        check_row("expected", {"dropped": 0})
    assert check_row("expected", {"dropped": np.bool_(True)})["dropped"] is True
    with pytest.raises(JournalError, match=r"'status' must be an integer"):
        check_row("attempts", {"status": np.bool_(True)})
    with pytest.raises(JournalError, match=r"unknown journal table 'attempt'"):
        check_row("attempt", {})
    assert check_row("attempts", {"latency_ms": float("nan")})["latency_ms"] is None


def test_writer_rejects_bad_rows_and_writes_nothing(tmp_path: Path) -> None:
    with JournalWriter(tmp_path / "r1", "r1") as writer:
        with pytest.raises(JournalError):
            writer.effect({"kind": "shipment.created", "shipmentid": "x"})
        writer.effect({"kind": "shipment.created", "business_key": "ord_1", "at": 1})
    effects = load_run(tmp_path / "r1").effects
    assert effects.kind.tolist() == ["shipment.created"]
    assert effects["at"].tolist() == [1.0]


def test_closed_writer_refuses_rows(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path / "r1", "r1")
    writer.close()
    writer.close()
    with pytest.raises(JournalError, match="closed"):
        writer.attempt(attempt_row("evt_1"))
    with pytest.raises(JournalError, match="already closed"):
        JournalWriter(tmp_path / "r1", "r1")


def test_meta_is_replaced_atomically(tmp_path: Path) -> None:
    with JournalWriter(tmp_path / "r1", "r1") as writer:
        writer.write_meta({"phase": "start", "seed": 7})
        writer.write_meta({"phase": "end", "seed": 7, "path": tmp_path})
        leftovers = [p.name for p in (tmp_path / "r1").iterdir() if p.name.endswith(".tmp")]
        assert leftovers == []
        with pytest.raises(JournalError, match="not JSON"):
            writer.write_meta({"bad": object()})
    meta = load_run(tmp_path / "r1").meta
    assert meta["phase"] == "end"
    assert meta["path"] == str(tmp_path)


def test_meta_is_strict_json(tmp_path: Path) -> None:
    with JournalWriter(tmp_path / "r1", "r1") as writer:
        writer.write_meta(
            {"p95": float("nan"), "rows": [np.int64(3), np.float64("inf")], "ok": np.bool_(True)}
        )
    text = (tmp_path / "r1" / "run.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"run_id": "r1", "p95": None, "rows": [3, None], "ok": True}


def test_sigkilled_writer_keeps_every_row(tmp_path: Path) -> None:
    run_dir = tmp_path / "killed"
    script = textwrap.dedent(
        f"""
        import sys
        from harness.journal import JournalWriter
        w = JournalWriter({str(run_dir)!r}, "killed")
        w.write_meta({{"pilot": "p", "phase": "start"}})
        for i in range(500):
            w.attempt({{"event_id": f"evt_{{i}}", "attempt": 1, "status": 200}})
        print("written", flush=True)
        sys.stdin.read()  # hold the journal open until killed
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "written"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        if child.stdin:
            child.stdin.close()
        if child.stdout:
            child.stdout.close()
    assert len(load_run(run_dir).attempts) == 500
    assert recover(run_dir)["attempts"] == 500
    assert (run_dir / "attempts.parquet").exists()
    assert load_run(run_dir).attempts.event_id.nunique() == 500


def test_list_runs_newest_first_and_by_pilot(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for run_id, pilot, started in [
        ("a", "order-sync", "2026-11-25T10:00:00+00:00"),
        ("b", "other", 1_900_000_000.0),
        ("c", "order-sync", "2026-11-25T11:00:00+00:00"),
    ]:
        with JournalWriter(root / run_id, run_id) as writer:
            writer.write_meta({"pilot": {"name": pilot}, "started_at": started})
    (root / "not-a-run").mkdir()
    assert [p.name for p in list_runs(root)] == ["b", "c", "a"]
    assert [p.name for p in list_runs(root, pilot="order-sync")] == ["c", "a"]
    assert list_runs(tmp_path / "missing") == []


def test_frame_builds_typed_tables() -> None:
    df = frame("effects", [{"kind": "shipment.created", "entity_version": 2}])
    assert df.dtypes.equals(empty_frame("effects").dtypes)
    assert df.entity_version.tolist() == [2]
    assert df.business_key.isna().all()


def test_load_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no such run folder"):
        load_run(tmp_path / "nope")
