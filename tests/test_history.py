"""Production history: exports read by the pilot's mapping, imported beside the drills.

Most tests call the import on the sample exports in tests/data/history/ (an
n8n executions answer and a mapped CSV, each with one malformed row). One
test runs the commands a user would: `chaoslab history import` (failing on
the bad row, then with --skip-bad) and `chaoslab review`, and reads which
evidence the review says each figure came from.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.history import HistoryError
from harness.history import columns as history_columns
from harness.history import store as history_store
from harness.history.evidence import production_evidence
from harness.history.store import import_history, production_imports, sha256_of
from harness.inputs.history import HistorySpec
from harness.inputs.pilot import PilotError, parse_pilot
from harness.journal import JournalWriter, load_run
from harness.report import production as pe
from harness.report import whatif as wi
from harness.report.analysis import load_runs, pilot_summary
from harness.report.review import review_inputs
from tests.cli_kit import Ran, chaoslab
from tests.pilot_tree import pilot_tree

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "history"
N8N = DATA / "n8n_executions.json"
ORDERS = DATA / "orders.csv"
CSV_SPEC = HistorySpec.model_validate(
    tomllib.loads((DATA / "orders-history.toml").read_text())["history"]
)
N8N_SPEC = HistorySpec(format="n8n")
PILOT = REPO / "pilots" / "order-sync.toml"


def _import(spec: HistorySpec, export: Path, reports: Path, **kw: Any) -> Any:
    return import_history("order-sync", PILOT, spec, export, reports, **kw)


def _spec(**changes: Any) -> HistorySpec:
    return HistorySpec.model_validate({**CSV_SPEC.model_dump(exclude_none=True), **changes})


# ---------------------------------------------------------------- n8n's executions export


def test_n8n_export_stops_at_the_malformed_row_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(HistoryError) as caught:
        _import(N8N_SPEC, N8N, tmp_path)
    assert str(caught.value) == f'{N8N}:4: startedAt: not an ISO 8601 time, got "yesterday"'
    assert production_imports(tmp_path, "order-sync") == []
    assert not (tmp_path / "history").exists()


def test_n8n_skip_bad_imports_the_rest_as_production_evidence(tmp_path: Path) -> None:
    skipped: list[str] = []
    result = _import(N8N_SPEC, N8N, tmp_path, skip_bad=True, on_skip=skipped.append)
    assert skipped == [f'{N8N}:4: startedAt: not an ISO 8601 time, got "yesterday"']
    # 8 records: the manual test run is not production, the bad one is skipped.
    assert (result.rows_read, result.not_production, result.executions) == (8, 1, 6)
    # 1001 ok; 1002 failed then its retry 1005 succeeded; 1006 crashed; 1007 says only
    # finished=true (older n8n); 1008 is still waiting.
    assert (result.transactions, result.succeeded, result.in_flight) == (4, 3, 1)
    run = load_run(result.run_dir)
    retry = run.attempts.set_index("delivery_id").loc["1005"]
    assert (retry["event_id"], retry["attempt"], retry["fault_tags"]) == (
        "1002",
        2,
        "production,retry",
    )
    outcomes = dict(zip(run.outcomes["event_id"], run.outcomes["outcome"], strict=True))
    assert outcomes == {
        "1001": "processed",
        "1002": "processed",
        "1006": "dead_lettered",
        "1007": "processed",
    }
    meta = run.meta
    assert meta["evidence"] == "production" and meta["status"] == "finished"
    assert meta["source"]["sha256"] == sha256_of(N8N)
    assert meta["rows"] == {"read": 8, "executions": 6, "not_production": 1, "skipped_bad": 1}
    assert meta["skipped"] == skipped
    assert meta["span"]["from"] == "2026-10-01T08:00:00+00:00"
    assert meta["span"]["until"] == "2026-10-05T13:00:00+00:00"
    assert meta["mapping"]["format"] == "n8n"
    assert meta["mapping"]["columns"]["retry_of"] == "retryOf"


def test_n8n_jsonl_export_names_the_bad_line(tmp_path: Path) -> None:
    items = json.loads(N8N.read_text())["data"]
    lines = [json.dumps(items[0]), "{not json", json.dumps(items[1])]
    export = tmp_path / "executions.jsonl"
    export.write_text("\n".join(lines) + "\n")
    with pytest.raises(HistoryError, match=r"executions\.jsonl:2: not valid JSON \("):
        _import(N8N_SPEC, export, tmp_path / "reports")
    result = _import(N8N_SPEC, export, tmp_path / "reports", skip_bad=True)
    assert result.executions == 2 and len(result.skipped) == 1


def test_n8n_export_of_several_workflows_asks_which_one(tmp_path: Path) -> None:
    doc = json.loads(N8N.read_text())
    doc["data"] = [r for r in doc["data"] if r["id"] != "1004"]
    doc["data"][0]["workflowId"] = "other"
    export = tmp_path / "two.json"
    export.write_text(json.dumps(doc))
    with pytest.raises(HistoryError, match=r"holds executions of 2 workflows \(other, wf7\)"):
        _import(N8N_SPEC, export, tmp_path / "r")
    only = HistorySpec(format="n8n", workflow="wf7")
    assert _import(only, export, tmp_path / "r").not_production == 2  # manual + other


# ---------------------------------------------------------------- a mapped CSV


def test_mapped_csv_names_the_bad_row_then_imports_the_rest(tmp_path: Path) -> None:
    with pytest.raises(HistoryError) as caught:
        _import(CSV_SPEC, ORDERS, tmp_path)
    assert str(caught.value) == (
        f'{ORDERS}:7: result: unknown status "oops" (known: success: ok; failed: error, '
        "timeout; add it to [history] status_values)"
    )
    result = _import(CSV_SPEC, ORDERS, tmp_path, skip_bad=True)
    assert result.executions == 7 and result.skipped == [str(caught.value)]
    ev = production_evidence(production_imports(tmp_path, "order-sync"), slo_ms=2000)
    assert ev is not None
    # o-3 applied its shipment twice (two successful executions): a duplicate, not a success.
    assert (ev.transactions, ev.succeeded, ev.dead_lettered, ev.duplicates) == (5, 3, 1, 1)
    assert (ev.retried, ev.executions_ended) == (2, 7)
    # o-2 failed at 09:00:00 and succeeded at 09:05:02: five minutes end to end.
    assert ev.p95_ms == 302_000.0
    assert ev.good == 2  # o-1 and o-6; o-2 took longer than the 2 s SLO
    effects = load_run(result.run_dir).effects
    assert sorted(effects["business_key"]) == ["o-1", "o-2", "o-3", "o-3", "o-6"]
    assert set(effects["partner"]) == {"logistics"}


@pytest.mark.parametrize(
    ("text", "changes", "error"),
    [
        (
            'o-1,r1,2026-10-01 08:00:00,,"ok,1,,,\n',
            {},
            "orders.csv:2: unreadable CSV (unexpected end of data)",
        ),
        (
            "o-1,r1,2026-10-01 08:00:00,,ok,1,,\n",
            {},
            "orders.csv:2: has 8 fields, the header has 9",
        ),
        (
            ",r1,2026-10-01 08:00:00,,ok,1,,,\n",
            {},
            "orders.csv:2: order_id: missing (the event id)",
        ),
        (
            "o-1,r1,2026-10-01 08:00:00,2026-10-01 07:00:00,ok,1,,,\n",
            {},
            'orders.csv:2: ended: "2026-10-01 07:00:00" is before started',
        ),
        (
            "o-1,r1,1790841600,,ok,0,,,\n",
            {"time_format": "epoch_s"},
            'orders.csv:2: try: must be a whole number ≥ 1, got "0"',
        ),
        (
            "o-1,r1,2026-10-01T08:00:00Z,,ok,1,,,\n",
            {"time_format": "epoch_ms"},
            'orders.csv:2: started: not milliseconds since 1970, got "2026-10-01T08:00:00Z"',
        ),
        (
            # A misspelt column is the mapping's mistake: said once, even with --skip-bad.
            "o-1,r1,2026-10-01 08:00:00,,ok,1,,,\n",
            {
                "columns": {
                    "event_id": "order_id",
                    "started_at": "started",
                    "status": "result",
                    "error": "err",
                }
            },
            'orders.csv: [history] columns.error = "err": no such column in the export '
            '(its columns: "order_id", "run", "started", "ended", "result", "try", '
            '"error_message", "effect", "key")',
        ),
    ],
)
def test_each_bad_row_is_one_line_naming_file_row_and_column(
    tmp_path: Path, text: str, changes: dict[str, Any], error: str
) -> None:
    export = tmp_path / "orders.csv"
    export.write_text(ORDERS.read_text().splitlines()[0] + "\n" + text)
    for skip_bad in (False, True):
        with pytest.raises(HistoryError) as caught:
            _import(_spec(**changes), export, tmp_path / "r", skip_bad=skip_bad)
        if not skip_bad:
            assert str(caught.value) == f"{tmp_path}/{error}"
            assert "\n" not in str(caught.value)
    # With --skip-bad every row is bad, or the mapping is: nothing imported, nothing written.
    assert not any(p.is_file() for p in (tmp_path / "r").rglob("*"))


def test_parquet_export_with_timestamps_and_durations(tmp_path: Path) -> None:
    export = tmp_path / "runs.parquet"
    started = pa.array([1_790_841_600_000, 1_790_845_200_000], pa.timestamp("ms", tz="UTC"))
    pq.write_table(
        pa.table(
            {
                "order_id": ["o-1", "o-2"],
                "started": started,
                "ms": [800.0, 1500.0],
                "result": ["ok", "error"],
            }
        ),
        export,
    )
    spec = HistorySpec(
        format="parquet",
        columns={
            "event_id": "order_id",
            "started_at": "started",
            "duration_ms": "ms",
            "status": "result",
        },
        status_values={"success": ["ok"], "failed": ["error"]},
    )
    result = _import(spec, export, tmp_path / "r")
    attempts = load_run(result.run_dir).attempts
    assert list(attempts["latency_ms"]) == pytest.approx([800.0, 1500.0])
    assert list(attempts["sent_at"]) == [0.0, 3600.0]
    assert (result.transactions, result.succeeded) == (2, 1)


# ---------------------------------------------------------------- imports side by side


def test_reimporting_the_same_file_changes_nothing_and_a_new_mapping_replaces_it(
    tmp_path: Path,
) -> None:
    first = _import(CSV_SPEC, ORDERS, tmp_path, skip_bad=True)
    stamp = (first.run_dir / "run.json").stat().st_mtime_ns
    again = _import(CSV_SPEC, ORDERS, tmp_path, skip_bad=True)
    assert again.already and again.run_dir == first.run_dir
    assert (first.run_dir / "run.json").stat().st_mtime_ns == stamp
    # "oops" now means failed: the same file under a new mapping replaces the old import.
    remapped = _spec(status_values={"success": ["ok"], "failed": ["error", "timeout", "oops"]})
    third = _import(remapped, ORDERS, tmp_path)
    assert third.replaced == [first.run_dir] and not first.run_dir.exists()
    assert production_imports(tmp_path, "order-sync") == [third.run_dir]
    assert third.executions == 8


def test_a_failed_import_leaves_earlier_imports_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = _import(CSV_SPEC, ORDERS, tmp_path, skip_bad=True)
    before = {p.name: p.read_bytes() for p in earlier.run_dir.iterdir()}
    with pytest.raises(HistoryError):  # a bad row: stops before writing anything
        _import(N8N_SPEC, N8N, tmp_path)

    def disk_full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    # A failure halfway through writing the new import's tables.
    monkeypatch.setattr(history_store, "_write_tables", disk_full)
    with pytest.raises(OSError):
        _import(N8N_SPEC, N8N, tmp_path, skip_bad=True)
    root = tmp_path / "history" / "order-sync"
    assert [p.name for p in root.iterdir()] == [earlier.run_dir.name]  # no scratch left
    assert {p.name: p.read_bytes() for p in earlier.run_dir.iterdir()} == before


def test_of_two_concurrent_imports_of_one_file_one_wins_and_the_other_is_already_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tables = history_store._write_tables
    rival: list[Any] = []
    calls = 0

    def race(*args: Any) -> None:
        # The rival import runs start to finish while this one is writing its scratch
        # copy: the moment two `chaoslab history import`s of one file collide.
        nonlocal calls
        calls += 1
        if calls == 1:
            rival.append(_import(CSV_SPEC, ORDERS, tmp_path, skip_bad=True))
        write_tables(*args)

    monkeypatch.setattr(history_store, "_write_tables", race)
    late = _import(CSV_SPEC, ORDERS, tmp_path, skip_bad=True)
    (winner,) = rival
    assert not winner.already and late.already  # was: OSError [Errno 39] Directory not empty
    assert late.run_dir == winner.run_dir
    root = tmp_path / "history" / "order-sync"
    assert [p.name for p in root.iterdir()] == [winner.run_dir.name]  # no scratch left
    assert production_imports(tmp_path, "order-sync") == [winner.run_dir]


def test_a_killed_imports_scratch_folder_is_cleared_by_the_next_import(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # reaped: its pid names no process now
    root = tmp_path / "history" / "order-sync"
    stale = root / f".production-0123456789ab-00000000.{gone.pid}.tmp"
    stale.mkdir(parents=True)
    (stale / "attempts.parquet").write_bytes(b"half")
    result = _import(CSV_SPEC, ORDERS, tmp_path, skip_bad=True)
    assert [p.name for p in root.iterdir()] == [result.run_dir.name]


def test_overlapping_exports_count_each_execution_once(tmp_path: Path) -> None:
    _import(N8N_SPEC, N8N, tmp_path, skip_bad=True)
    doc = json.loads(N8N.read_text())
    doc["data"] = [r for r in doc["data"] if r["id"] != "1004"] + [
        {
            **doc["data"][0],
            "id": "1009",
            "startedAt": "2026-10-09T08:00:00Z",
            "stoppedAt": "2026-10-09T08:00:01Z",
        }
    ]
    later = tmp_path / "later.json"
    later.write_text(json.dumps(doc))
    _import(N8N_SPEC, later, tmp_path)
    ev = production_evidence(production_imports(tmp_path, "order-sync"))
    assert ev is not None and ev.executions == 7 and ev.transactions == 5
    assert len(ev.sources) == 2


# ---------------------------------------------------------------- the pilot file


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ({"format": "n8n", "formt": "csv"}, "[history] formt: unknown key (misspelt?)"),
        (
            {"format": "csv", "columns": {"evnt_id": "x"}, "status_values": {"success": ["ok"]}},
            "[history] columns.evnt_id: unknown key (misspelt?)",
        ),
        (
            {
                "format": "csv",
                "columns": {"event_id": "x", "started_at": "s"},
                "status_values": {"success": ["ok"]},
            },
            "[history]: columns.status: required (the export's column for it)",
        ),
        ({"format": "xls"}, "[history] format: Input should be 'csv', 'jsonl', 'parquet' or"),
        ({"format": "n8n", "timezone": "Mars/Olympus"}, "[history] timezone: not a time zone"),
    ],
)
def test_history_table_mistakes_are_one_line_naming_the_key(
    table: dict[str, Any], error: str
) -> None:
    data = tomllib.loads(PILOT.read_text())
    data["history"] = table
    with pytest.raises(PilotError) as caught:
        parse_pilot(data, PILOT)
    assert str(caught.value).startswith(f"{PILOT}: {error}"), str(caught.value)


# ---------------------------------------------------------------- in the review


def _drill_run(reports: Path, pilot_file: Path) -> None:
    """A small finished drill: four orders under a partner timeout, one retried."""
    run_dir = reports / "runs" / "drill-1"
    with JournalWriter(run_dir, "drill-1") as journal:
        journal.write_meta(
            {
                "pilot": {"name": "order-sync", "path": str(pilot_file)},
                "scenario": "partner-timeout",
                "started_at": 100.0,
                "status": "finished",
                "slo": {"p95_latency_ms": 2000.0, "success_rate": 0.99},
                "partner_requests": 5,
            }
        )
        for i in range(4):
            event = f"evt_{i}"
            journal.expected(
                {
                    "event_id": event,
                    "entity_id": f"o{i}",
                    "entity_version": 1,
                    "expected_effect": "logistics:shipment.created",
                    "dropped": False,
                }
            )
            if i == 1:
                journal.attempt(
                    {
                        "event_id": event,
                        "scenario": "partner-timeout",
                        "attempt": 1,
                        "sent_at": 0.2,
                        "finished_at": 1.2,
                        "error_class": "timeout",
                    }
                )
            journal.attempt(
                {
                    "event_id": event,
                    "scenario": "partner-timeout",
                    "attempt": 2 if i == 1 else 1,
                    "sent_at": 1.5 if i == 1 else 0.1 * i,
                    "finished_at": 1.6 if i == 1 else 0.1 * i + 0.05,
                    "status": 200,
                    "error_class": "",
                }
            )
            journal.effect(
                {
                    "at": 1.55 if i == 1 else 0.1 * i + 0.02,
                    "kind": "logistics:shipment.created",
                    "business_key": f"o{i}",
                    "entity_version": 1,
                    "event_id": event,
                }
            )
            journal.outcome({"event_id": event, "outcome": "processed", "detail": ""})


def test_the_summary_takes_money_from_production_and_labels_every_source(
    tmp_path: Path,
) -> None:
    _drill_run(tmp_path, PILOT)
    _import(CSV_SPEC, ORDERS, tmp_path, skip_bad=True)
    inputs = review_inputs(pilot_file=PILOT, reports=tmp_path)
    assert len(inputs.history_dirs) == 1
    # Four drilled events are too few for any verdict; judge them anyway.
    judged = {**inputs.thresholds, "min_txns": 1}
    drills = pilot_summary(load_runs(inputs.run_dirs), inputs.economics, judged, slo=inputs.slo)
    summary, cfg = pe.with_production(drills, inputs, inputs.economics)
    label = "production, 7 executions, 2026-10-01..2026-10-04"
    assert summary["evidence"] == {"drills": "drills, 1 run", "production": label}
    for figure in ("volume_per_month", "success_rate", "retries_per_txn", "latency_p95_ms"):
        assert summary["sources"][figure] == label
    for figure in ("attainment_under_chaos", "dead_letters_under_faults", "invariants"):
        assert summary["sources"][figure] == "drills, 1 run"
    # 5 transactions over 3.2 days, not the pilot file's forecast of 2,000 a month.
    assert cfg.volume_per_month == pytest.approx(5 / (3 + 5 / 24) * 365.25 / 12)
    assert summary["economics_basis"]["success_rate"] == pytest.approx(3 / 5)
    assert summary["measured"]["transactions"] == 4  # the drills' own figures stay
    assert all(r.endswith(")") for r in summary["reasons"])
    assert any(r.startswith("In production 40 % of 5 transactions") for r in summary["reasons"])
    grid = pe.sensitivity(summary, cfg, judged)
    assert grid[grid["current"]]["decision"].tolist() == [summary["decision"]]
    # The what-if sliders start from the same evidence: production's rate at its volume.
    base = wi.WhatIf.from_summary(summary, cfg)
    here = wi.what_if(base)
    assert here.scenario.failure_rate == pytest.approx(2 / 5)  # production's, not the drills' 0
    assert here.decision == summary["decision"]
    assert here.economics.roi_12m == pytest.approx(summary["economics"]["roi_12m"])
    # ... and move the failure rate as the grid does.
    cell = grid[
        (grid["failure_rate"] == 0.01)
        & (grid["volume_per_month"] == grid["volume_per_month"].max())
    ].iloc[0]
    there = wi.what_if(base, failure_rate=0.01, volume_per_month=cell["volume_per_month"])
    assert there.decision == cell["decision"]
    assert there.economics.roi_12m == pytest.approx(cell["roi_12m"])
    table = pe.evidence_table(summary)
    assert table.set_index("figure").loc["success rate", "source"] == label


def test_without_production_every_figure_says_it_comes_from_the_drills(tmp_path: Path) -> None:
    _drill_run(tmp_path, PILOT)
    inputs = review_inputs(pilot_file=PILOT, reports=tmp_path)
    drills = pilot_summary(
        load_runs(inputs.run_dirs), inputs.economics, inputs.thresholds, slo=inputs.slo
    )
    summary, cfg = pe.with_production(drills, inputs, inputs.economics)
    assert cfg is inputs.economics and summary["decision"] == drills["decision"]
    assert summary["sources"]["volume_per_month"].startswith("pilot file [economics]")
    assert summary["sources"]["success_rate"] == "drills, 1 run"
    assert pe.production_sentence(summary).startswith("No production history was imported")


def _chaoslab(*args: str, cwd: Path) -> Ran:
    # In-process: what is checked is what the commands say and their exit codes.
    return chaoslab(*args, cwd=cwd, env={"COLUMNS": "60"})


@pytest.mark.slow
def test_import_then_review_says_which_evidence_each_figure_came_from(tmp_path: Path) -> None:
    pilots = pilot_tree(tmp_path)
    pilot = pilots / "order-sync.toml"
    # Four drilled events may judge here, so the reasons show both kinds of evidence.
    text = pilot.read_text().replace("min_txns = 300", "min_txns = 4")
    assert "min_txns = 4" in text
    # The reference pilot reads a CSV log; this one exports from n8n.
    text = re.sub(r"(?ms)^\[history\]\n.*?(?=^\[|\Z)", "", text)
    # The drill analysis has nothing to say about production; one notebook is enough here.
    review_table = '\n[review]\nnotebooks = ["pilot_review"]\n'
    pilot.write_text(text + '\n[history]\nformat = "n8n"\n' + review_table)
    export = tmp_path / "executions.json"
    shutil.copy(N8N, export)
    reports = tmp_path / "reports"
    _drill_run(reports, pilot)

    failed = _chaoslab(
        "history", "import", str(pilot), str(export), "--reports", str(reports), cwd=tmp_path
    )
    assert failed.returncode == 2
    assert failed.stderr.strip() == (
        f'chaoslab: {export}:4: startedAt: not an ISO 8601 time, got "yesterday"'
    )
    assert not (reports / "history").exists()

    done = _chaoslab(
        "history",
        "import",
        str(pilot),
        str(export),
        "--reports",
        str(reports),
        "--skip-bad",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stderr.strip()
        == f'skipped {export}:4: startedAt: not an ISO 8601 time, got "yesterday"'
    )
    assert done.stdout.startswith(
        "imported 6 production executions of order-sync from executions.json: 4 transactions "
        "ended (75 % succeeded), 1 in flight"
    )
    assert "1 bad row skipped (listed above)" in done.stdout

    review = _chaoslab("review", str(pilot), "--reports", str(reports), cwd=tmp_path)
    assert review.returncode == 0, review.stderr
    label = "production, 6 executions, 2026-10-01..2026-10-05"
    assert f"Production history: 4 transactions ({label})" in review.stdout
    summary = json.loads((reports / "order-sync" / "pilot_review.json").read_text())
    assert summary["decision"] in ("PROMOTE", "REFACTOR", "RETIRE")
    # Each reason names its evidence; production's attainment is judged beside the drills'.
    assert "In production 50 % of 4 transactions were good" in review.stdout
    assert all(r.endswith(")") for r in summary["reasons"])
    assert summary["sources"]["volume_per_month"] == label
    assert summary["sources"]["success_rate"] == label
    assert summary["sources"]["attainment_under_chaos"] == "drills, 1 run"
    assert summary["production"]["transactions"] == 4
    page = (reports / "order-sync" / "pilot_review.html").read_text()
    assert "Which evidence says what?" in page and label in page
    assert "drill analysis:" not in review.stdout  # only the notebooks the pilot named


def test_the_reference_production_log_is_what_its_generator_makes(tmp_path: Path) -> None:
    made = tmp_path / "production.csv"
    subprocess.run(
        [sys.executable, str(REPO / "fixtures/order-sync/make_production.py"), "--out", str(made)],
        check=True,
        timeout=60,
    )
    assert made.read_bytes() == (REPO / "fixtures/order-sync/production.csv").read_bytes()
    # And the reference pilot's [history] table reads all of it.
    spec = tomllib.loads(PILOT.read_text())["history"]
    result = _import(HistorySpec.model_validate(spec), made, tmp_path / "r")
    assert result.skipped == [] and result.executions == 1693


# ---------------------------------------------------------------- streaming in batches


def _tables(run_dir: Path) -> dict[str, pa.Table]:
    return {t: pq.read_table(run_dir / f"{t}.parquet") for t in ("attempts", "outcomes", "effects")}


@pytest.mark.parametrize("spec,export", [(N8N_SPEC, N8N), (CSV_SPEC, ORDERS)], ids=["n8n", "csv"])
def test_batch_boundaries_change_nothing(
    spec: HistorySpec, export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Retry chains and attempt numbers span batches when each row is a batch of its own.
    whole = _import(spec, export, tmp_path / "whole", skip_bad=True)
    monkeypatch.setattr(history_columns, "BATCH_ROWS", 1)
    split = _import(spec, export, tmp_path / "split", skip_bad=True)
    assert (split.executions, split.transactions, split.succeeded, split.skipped) == (
        whole.executions,
        whole.transactions,
        whole.succeeded,
        whole.skipped,
    )
    for name, table in _tables(whole.run_dir).items():
        assert _tables(split.run_dir)[name].equals(table), name


def test_a_repeated_execution_id_is_a_bad_row_even_batches_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_columns, "BATCH_ROWS", 2)
    lines = [line for line in ORDERS.read_text().splitlines() if ",oops," not in line]
    assert lines[2].split(",")[1] == "r2"
    export = tmp_path / "orders.csv"
    export.write_text("\n".join([*lines, lines[2].replace(" 09:", " 10:")]) + "\n")
    with pytest.raises(HistoryError) as stopped:
        _import(CSV_SPEC, export, tmp_path / "reports")
    assert str(stopped.value) == f'{export}:{len(lines) + 1}: execution id "r2" repeats row 3'
    assert not (tmp_path / "reports" / "history").exists()
    kept = _import(CSV_SPEC, export, tmp_path / "reports", skip_bad=True)
    assert kept.skipped == [str(stopped.value)]
    attempts = pq.read_table(kept.run_dir / "attempts.parquet").to_pylist()
    r2 = [a for a in attempts if a["delivery_id"] == "r2"]
    assert len(r2) == 1 and r2[0]["sent_at"] == 3600.0  # the first r2, an hour after r1
