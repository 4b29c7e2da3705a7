"""The pilot review: notebook helpers, and both notebooks executed on a real drill.

The fast tests check the numbers and sentences the notebooks show (they
live in harness.report.analysis and harness.report.review, so no kernel is needed). The
slow ones run a small real drill of the reference pilot, execute both
notebooks through `chaoslab review` as a user would, and read the HTML.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cli_kit import Ran, chaoslab

from harness.commands.review import print_result
from harness.drill import run_drill
from harness.inputs.pilot import load_pilot
from harness.journal import JournalWriter
from harness.report import review as rv
from harness.report.analysis import (
    errors_in_windows,
    events_table,
    invariant_table,
    latency_percentiles,
    load_runs,
    pilot_summary,
    verdict_sensitivity,
)
from harness.report.economics import EconomicsConfig, Measured

REPO = Path(__file__).resolve().parent.parent
PILOT = REPO / "pilots" / "order-sync.toml"
SLO = {"p95_latency_ms": 3000.0, "success_rate": 0.99}


# ---------------------------------------------------------------- hand-made runs


def _write_run(
    root: Path,
    run_id: str,
    scenario: str,
    started: float,
    *,
    delivered_twice: bool = False,
    status: str = "finished",
    invariants: list[dict[str, Any]] | None = None,
) -> Path:
    """Four orders, one slow; optionally the first one shipped twice."""
    run_dir = root / "runs" / run_id
    with JournalWriter(run_dir, run_id) as journal:
        meta: dict[str, Any] = {
            "pilot": {"name": "order-sync", "path": str(PILOT)},
            "scenario": scenario,
            "started_at": started,
            "status": status,
            "slo": SLO,
            "partner_requests": 6,
            "toxics_applied": [
                {"link": "partner", "type": "latency", "toxic": "t", "from_s": 0.0, "until_s": 1.0}
            ],
        }
        if invariants is not None:
            meta["invariants"] = invariants
        journal.write_meta(meta)
        for i in range(4):
            journal.expected(
                {
                    "event_id": f"e{i}",
                    "event_type": "payment_intent.succeeded",
                    "entity_id": f"o{i}",
                    "entity_version": 1,
                    "expected_effect": "shipment.created",
                    "dropped": False,
                }
            )
            late = 4.0 if i == 3 else 0.0
            if i == 2:  # a timeout inside the toxic window, then a 2xx
                journal.attempt(
                    {
                        "event_id": "e2",
                        "scenario": scenario,
                        "attempt": 1,
                        "sent_at": 0.2,
                        "finished_at": 0.7,
                        "status": None,
                        "error_class": "timeout",
                    }
                )
            journal.attempt(
                {
                    "event_id": f"e{i}",
                    "scenario": scenario,
                    "attempt": 2 if i == 2 else 1,
                    "sent_at": 1.5 if i == 2 else 0.1 * i,
                    "finished_at": 1.6 if i == 2 else 0.1 * i + 0.05,
                    "status": 200,
                    "error_class": "",
                }
            )
            journal.effect(
                {
                    "at": (1.55 if i == 2 else 0.1 * i + 0.02) + late,
                    "kind": "shipment.created",
                    "business_key": f"o{i}",
                    "entity_version": 1,
                    "event_id": f"e{i}",
                }
            )
            journal.outcome({"event_id": f"e{i}", "outcome": "processed", "detail": ""})
        if delivered_twice:
            journal.effect(
                {"at": 0.5, "kind": "shipment.created", "business_key": "o0", "entity_version": 1}
            )
    return run_dir


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    _write_run(tmp_path, "r1", "baseline", 100.0)
    _write_run(tmp_path, "r2", "duplicates", 200.0, delivered_twice=True)
    _write_run(tmp_path, "r3", "baseline", 300.0, status="running")
    _write_run(tmp_path, "r0", "baseline", 350.0, status="error")
    return tmp_path


def test_select_runs_newest_first_without_runs_in_flight(reports: Path) -> None:
    found = rv.select_runs("order-sync", reports)
    assert [p.name for p in found] == ["r2", "r1"]
    assert [p.name for p in rv.select_runs("order-sync", reports, runs=1)] == ["r2"]
    assert rv.select_runs("other", reports) == []
    with pytest.raises(rv.ReviewError, match="--runs"):
        rv.select_runs("order-sync", reports, runs=0)


def test_review_inputs_take_the_pilot_file_the_runs_name(reports: Path) -> None:
    inputs = rv.review_inputs("order-sync", reports)
    assert inputs.pilot == "order-sync"
    assert inputs.pilot_file == PILOT
    assert inputs.thresholds["min_txns"] == 300  # from the pilot's [thresholds]
    assert inputs.thresholds["slo_target"] == 0.99  # the rule's default
    assert inputs.economics.build_cost == 30000
    with pytest.raises(rv.ReviewError, match=r"run `chaoslab drill .*` first"):
        rv.review_inputs("order-sync", reports / "empty")


def test_invariant_table_from_run_json_or_recomputed(reports: Path) -> None:
    recorded = [{"name": "slo", "ok": False, "summary": "slow", "examples": ["e3 took 4 s"]}]
    _write_run(reports, "r4", "baseline", 400.0, invariants=recorded)
    table = invariant_table(load_runs(reports / "runs")).set_index(["run_id", "invariant"])
    assert table.loc[("r4", "slo"), "summary"] == "slow"
    assert table.loc[("r4", "slo"), "examples"] == ["e3 took 4 s"]
    # r1 recorded nothing: checked here, every invariant.
    assert {i for r, i in table.index if r == "r1"} == {
        "exactly_once",
        "unexpected_effects",
        "all_accounted",
        "final_state",
        "slo",
        "contract",
        "retry_after_honoured",
        "call_budget",
        "dead_lettered_applied",
    }
    # A check that had nothing to judge says so in its count (r1 was never throttled).
    assert table.loc[("r1", "retry_after_honoured"), "judged"] == 0
    assert pd.isna(table.loc[("r4", "slo"), "judged"])  # recorded before it was counted
    assert not table.loc[("r2", "exactly_once"), "ok"]
    # The 4 s shipment breaks the latency SLO in every run; r2 also shipped twice.
    assert rv.invariants_sentence(table.reset_index()) == (
        "4 invariant checks failed over 3 runs: slo in 2 of 2 scenarios and exactly_once in "
        "1 of 2 scenarios."
    )


def test_errors_in_windows_counts_failures_inside_toxic_windows(reports: Path) -> None:
    rs = load_runs(reports / "runs")
    table = errors_in_windows(rs.attempts, rs.windows).set_index("scenario")
    assert table.loc["baseline", "failed"] == 1
    assert table.loc["baseline", "in_window"] == 1  # sent at 0.2 s, window 0-1 s
    assert table.loc["baseline", "attempts"] == 5
    moved = rs.windows.assign(from_s=0.5)
    assert errors_in_windows(rs.attempts, moved)["in_window"].sum() == 0
    assert rv.errors_sentence(table.reset_index()) == (
        "2 of 10 delivery attempts failed, most of them in baseline (1); in the scenarios with "
        "toxic windows, 2 of 2 failures were sent while a toxic was active."
    )


def test_sentences_for_the_drill_figures(reports: Path) -> None:
    rs = load_runs(reports / "runs")
    events = events_table(rs, 3000)
    assert rv.retry_sentence(events) == (
        "baseline saw the most redeliveries: 25 % of its events were delivered more than once "
        "(up to 2 attempts)."
    )
    lat = latency_percentiles(events, 3000)
    assert rv.latency_sentence(lat, 3000) == (
        "p95 end-to-end latency is within the 3,000 ms SLO in 0 of 2 scenarios; the slowest "
        "tail is baseline (p95 4,020 ms, p99 4,020 ms, slowest 4,020 ms)."
    )


def _summary(reports: Path, thresholds: dict[str, float]) -> dict[str, Any]:
    cfg = EconomicsConfig.of(load_pilot(PILOT).spec.economics)
    return pilot_summary(load_runs(reports / "runs"), cfg, thresholds)


def test_sensitivity_grid_agrees_with_the_verdict_at_the_pilots_own_point(reports: Path) -> None:
    cfg = EconomicsConfig.of(load_pilot(PILOT).spec.economics)
    for min_txns in (1, 100):
        summary = _summary(reports, {"min_txns": min_txns})
        m = summary["measured"]
        measured = Measured(**{k: m[k] for k in Measured.__dataclass_fields__})
        grid = verdict_sensitivity(cfg, measured, m["good"], {"min_txns": min_txns})
        here = grid[grid["current"]]
        assert len(here) == 1
        assert here.iloc[0]["decision"] == summary["decision"]
        assert here.iloc[0]["roi_12m"] == pytest.approx(summary["economics"]["roi_12m"])
    # More volume earns more; more failures cost more.
    clean = grid[grid["failure_rate"] == 0].sort_values("volume_per_month")
    assert clean["roi_12m"].is_monotonic_increasing
    big = grid[grid["volume_per_month"] == grid["volume_per_month"].max()]
    assert big.sort_values("failure_rate")["roi_12m"].is_monotonic_decreasing
    assert set(grid["decision"]) <= {"PROMOTE", "REFACTOR", "RETIRE", "NEEDS MORE EVIDENCE"}
    with pytest.raises(ValueError, match="no transactions"):
        verdict_sensitivity(cfg, Measured(transactions=0, succeeded=0), 0)


def test_sensitivity_sentence_names_the_flips() -> None:
    grid = pd.DataFrame(
        [
            (v, f, d, v == 100 and f == 0.01)
            for v, f, d in [
                (50, 0.0, "RETIRE"),
                (100, 0.0, "PROMOTE"),
                (200, 0.0, "PROMOTE"),
                (50, 0.01, "RETIRE"),
                (100, 0.01, "REFACTOR"),
                (200, 0.01, "REFACTOR"),
                (50, 0.05, "RETIRE"),
                (100, 0.05, "RETIRE"),
                (200, 0.05, "REFACTOR"),
            ]
        ],
        columns=["volume_per_month", "failure_rate", "decision", "current"],
    )
    assert rv.sensitivity_sentence(grid) == (
        "At 100 transactions a month and a 1 % failure rate the verdict is REFACTOR; it becomes "
        "PROMOTE if failures fall to 0 %, RETIRE once they reach 5 % and RETIRE at 50 a month "
        "or fewer."
    )
    lower = grid[grid["failure_rate"] > 0]
    assert "; it becomes RETIRE once failures reach 5 %" in rv.sensitivity_sentence(lower)
    same = grid.assign(decision="RETIRE")
    assert rv.sensitivity_sentence(same).endswith("it stays the same everywhere on this grid.")


def test_money_sentences_and_the_opening(reports: Path) -> None:
    summary = _summary(reports, {"min_txns": 1})
    cfg = EconomicsConfig.of(load_pilot(PILOT).spec.economics)
    assert rv.reliability_sentence(summary) == (
        "62.5 % of 8 transactions were good under chaos (at least 34.8 % with 95 % confidence, "
        "target 99 %); the weakest scenario is duplicates at 50 %; 1 duplicate side effect in all."
    )
    costs = rv.cost_breakdown(summary, cfg)
    assert costs["total"] == pytest.approx(summary["economics"]["cost_per_success"])
    assert costs["calls"] + costs["fixed"] + costs["failures"] == pytest.approx(costs["total"])
    # A duplicate parcel ($25) on 1 of 8 transactions costs more than the work by hand.
    assert "more than doing it by hand" in rv.cost_sentence(costs)
    cheap = {**costs, "total": 0.5, "manual": 2.0}
    assert rv.cost_sentence(cheap).endswith("by hand: 25 % of the manual cost.")
    flow = rv.cash_flow(summary, cfg)
    assert flow.loc[0, "cumulative"] == -cfg.build_cost
    e = summary["economics"]
    assert flow.loc[12, "cumulative"] == pytest.approx(
        -cfg.build_cost + 12 * e["monthly_net_benefit"]
    )
    never = {**summary, "economics": {**e, "payback_months": float("inf")}}
    assert "it never pays back" in rv.roi_sentence(never)
    assert f"pays back in {e['payback_months']:.1f} months" in rv.roi_sentence(
        {**summary, "economics": {**e, "payback_months": e["payback_months"]}}
    ) or not e["payback_months"] < float("inf")
    inputs = rv.review_inputs("order-sync", reports)
    opening = rv.verdict_html(summary, inputs)
    assert opening.startswith(f"<h2>Verdict: {summary['decision']}</h2><ol><li>")
    assert opening.count("<li>") == min(3, len(summary["reasons"]))
    assert "8 drilled transactions (events) over 2 runs of 2 scenarios" in opening
    assert "pilot file&#x27;s [thresholds]" in opening


def test_kernel_python3_runs_this_interpreter() -> None:
    """papermill asks for kernel "python3"; it must start the venv's own python."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = KernelSpecManager().get_kernel_spec(rv.KERNEL)
    assert spec.language == "python"
    command = KernelManager(kernel_name=rv.KERNEL).format_kernel_cmd()
    assert Path(command[0]).resolve() == Path(sys.executable).resolve()
    if (REPO / ".venv").is_dir() and os.environ.get("CI") == "true":
        assert Path(sys.executable).absolute().is_relative_to(REPO / ".venv")


# ---------------------------------------------------------------- a real drill, both notebooks


def _chaoslab(*args: str, cwd: Path) -> Ran:
    # In-process: what is checked is what `chaoslab review` says and its exit code.
    return chaoslab(*args, cwd=cwd, env={"COLUMNS": "60"})  # a narrow terminal must not wrap


@pytest.fixture(scope="module")
def drilled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real drill: the reference pilot's partner-timeout scenario, first 12 events."""
    reports = tmp_path_factory.mktemp("review")
    pilot = load_pilot(PILOT)
    spec = pilot.scenario("partner-timeout")
    small = spec.model_copy(update={"delivery": spec.delivery.model_copy(update={"limit": 12})})
    asyncio.run(run_drill(pilot, "partner-timeout", scenario=small, reports=reports))
    return reports


@pytest.fixture(scope="module")
def reviewed(drilled: Path, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """`chaoslab review` once on the real drill (two kernels): the tests that need a
    finished review read this one, rather than each paying for its own."""
    cwd = tmp_path_factory.mktemp("cwd")
    return _chaoslab("review", "order-sync", "--reports", str(drilled), cwd=cwd)


def _figures(name: str) -> int:
    source = (REPO / "notebooks" / f"{name}.py").read_text()
    return len(re.findall(r'^# %%.*tags=\[[^\]]*"figure"', source, flags=re.M))


def _text(page: str) -> str:
    """What a reader sees: no styles, scripts or tags."""
    body = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", body))


@pytest.mark.slow
@pytest.mark.xdist_group("review")
def test_review_renders_both_notebooks_on_a_real_drill(drilled: Path, reviewed: Ran) -> None:
    done = reviewed
    assert done.returncode == 0, done.stderr
    summary = json.loads((drilled / "order-sync" / "pilot_review.json").read_text())
    rs = load_runs(drilled / "runs")
    n = int((~rs.expected["dropped"].fillna(False).astype(bool)).sum())
    assert 0 < n <= 12
    assert summary["measured"]["transactions"] == n
    assert summary["decision"] in done.stdout
    assert "pilot_review.html" in done.stdout
    for name in rv.NOTEBOOKS:
        page = (drilled / "order-sync" / f"{name}.html").read_text()
        assert _figures(name) >= 4
        images = re.findall(r'<img\b[^>]*\bsrc="data:image/png;base64,', page)
        assert len(images) == _figures(name), name
        executed = json.loads((drilled / "order-sync" / f"{name}.ipynb").read_text())
        outputs = [o for c in executed["cells"] for o in c.get("outputs", [])]
        assert not [o for o in outputs if o["output_type"] == "error"]
        assert not [o for o in outputs if o.get("name") == "stderr"], name
        assert 'data-mime-type="application/vnd.jupyter.stderr"' not in page
        assert "Traceback" not in _text(page) and "Error" not in _text(page)
        assert "review_inputs(" not in page  # no code cells in the report
        assert "cdnjs" not in page  # opens offline
    review = _text((drilled / "order-sync" / "pilot_review.html").read_text())
    assert f"Verdict: {summary['decision']}" in review
    assert f"{n} drilled transactions (events) over 1 runs" in review
    # The sentences under the figures are computed from these runs, not written in.
    slo_ms = float(rs.items[0].meta["slo"]["p95_latency_ms"])  # the pilot's own SLO
    events = events_table(rs, slo_ms)
    drill = _text((drilled / "order-sync" / "drill_analysis.html").read_text())
    assert rv.latency_sentence(latency_percentiles(events, slo_ms), slo_ms) in drill
    assert rv.errors_sentence(errors_in_windows(rs.attempts, rs.windows)) in drill
    assert rv.reliability_sentence(summary) in review


@pytest.mark.slow
@pytest.mark.xdist_group("review")
def test_a_failing_cell_fails_the_command_in_one_line_and_keeps_the_notebook(
    drilled: Path, tmp_path: Path
) -> None:
    run = next((drilled / "runs").iterdir())
    broken = tmp_path / "runs" / run.name
    shutil.copytree(run, broken)
    (broken / "attempts.parquet").write_bytes(b"not parquet at all")
    done = _chaoslab("review", "order-sync", "--reports", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert re.match(
        r"chaoslab: drill_analysis notebook failed in cell \d+: JournalError: ", lines[0]
    )
    assert "attempts.parquet: unreadable parquet" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    partial = tmp_path / "order-sync" / "drill_analysis.failed.ipynb"
    assert str(partial.name) in lines[0]
    cells = json.loads(partial.read_text())["cells"]
    assert any(o["output_type"] == "error" for c in cells for o in c.get("outputs", []))
    assert not (tmp_path / "order-sync" / "drill_analysis.html").exists()


def _review_until_a_kernel_runs(reports: Path, tmpdir: Path) -> subprocess.Popen[bytes]:
    """`chaoslab review` started and caught with a notebook's kernel running."""
    review = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "review", "order-sync", "--reports", str(reports)],
        cwd=reports, env={**os.environ, "TMPDIR": str(tmpdir)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    # Its own scratch is named after its pid; a killed review's may still be there.
    mine = f"{rv.STAGING}-{review.pid}.*/kernel-*.json"
    while not list((reports / "order-sync").glob(mine)):
        assert review.poll() is None, review.stderr.read() if review.stderr else ""
        assert time.monotonic() < deadline, "no kernel started within 120 s"
        time.sleep(0.05)  # polling for the kernel's connection file, bounded above
    return review


@pytest.mark.slow
@pytest.mark.xdist_group("review")
def test_an_interrupted_review_leaves_the_previous_one_whole(
    drilled: Path, reviewed: Ran, tmp_path: Path
) -> None:
    # The previous review is the shared one, copied with the runs it read.
    assert reviewed.returncode == 0, reviewed.stderr
    reports = tmp_path / "reports"
    shutil.copytree(drilled / "runs", reports / "runs")
    shutil.copytree(drilled / "order-sync", reports / "order-sync")
    out = reports / "order-sync"
    kept = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert {"pilot_review.html", "pilot_review.json", "drill_analysis.html"} <= set(kept)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()

    killed = _review_until_a_kernel_runs(reports, tmpdir)
    killed.kill()
    killed.wait(timeout=30)
    assert len(list(out.glob(f"{rv.STAGING}-*"))) == 1  # a killed review cannot clean up

    stopped = _review_until_a_kernel_runs(reports, tmpdir)
    # The next review removed the killed one's scratch before it began its own.
    assert len(list(out.glob(f"{rv.STAGING}-*"))) == 1
    stopped.send_signal(signal.SIGTERM)
    assert stopped.wait(timeout=60) == 143
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == kept
    assert not list(out.glob(".*")), "scratch left behind"
    assert not list(tmpdir.rglob("kernel-*.json")), "a kernel's key was left in $TMPDIR"


def test_a_report_that_cannot_be_written_leaves_no_scratch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import nbformat

    executed = tmp_path / "n.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), executed)
    page = tmp_path / "n.html"
    page.write_text("the previous report")
    real = Path.write_text

    def full_disk(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        real(self, data[:10], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(OSError, match="No space left"):
        rv.render_html(executed, page)
    monkeypatch.undo()
    assert page.read_text() == "the previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.html", "n.ipynb"]


def test_no_runs_tells_the_user_to_drill_first(tmp_path: Path) -> None:
    done = _chaoslab("review", "order-sync", "--reports", str(tmp_path), cwd=REPO)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"chaoslab: no runs of pilot 'order-sync' in {tmp_path / 'runs'}; run `chaoslab drill "
        "pilots/order-sync.toml` first"
    )
    assert done.stdout == ""


def test_reliability_sentence_says_dead_letters_are_unknown_without_outcomes(
    reports: Path,
) -> None:
    summary = _summary(reports, {"min_txns": 1})
    blind = {
        **summary,
        "outcomes_known": False,
        "measured": {**summary["measured"], "dead_lettered": 0},
    }
    text = rv.reliability_sentence(blind)
    assert text.endswith(
        "; 1 duplicate side effect in all; dead letters are unknown, as the workflow reports "
        "no outcomes (an event it accepted and then failed counts as good here)."
    )
    clean = {**blind, "measured": {**blind["measured"], "duplicates": 0}}
    assert "no transaction was lost or duplicated; dead letters are unknown" in (
        rv.reliability_sentence(clean)
    )
    assert "dead-lettered, lost or duplicated" not in rv.reliability_sentence(clean)


def test_joint_conditions_are_shown_together(reports: Path) -> None:
    flips = [
        "PROMOTE if duplicate side effects stop entirely (now 6 %).",
        "PROMOTE if the dead-letter rate falls to 0.1 % or below (now 17 %).",
        "PROMOTE if the attainment lower bound reaches 98 % (now 73 %).",
        "PROMOTE if the chaos burn rate falls to 6× or less (now 11×).",
    ]
    changes = [*flips, "PROMOTE needs all 4 of these together.", "RETIRE if payback rises."]
    summary = {**_summary(reports, {"min_txns": 1}), "what_would_change": changes}
    opening = rv.verdict_html(summary, rv.review_inputs("order-sync", reports))
    assert all(f in opening for f in flips)
    assert "PROMOTE needs all 4 of these together." in opening
    assert "RETIRE if" not in opening
    # Without joint conditions the first three are shown, as before.
    one = {**summary, "what_would_change": [flips[0], "RETIRE if payback rises.", "C3.", "C4."]}
    shown = rv.verdict_html(one, rv.review_inputs("order-sync", reports))
    assert f"{flips[0]} RETIRE if payback rises. C3.</p>" in shown
    assert "C4." not in shown

    from io import StringIO

    from rich.console import Console

    out = StringIO()
    result = rv.ReviewResult(
        pilot="p",
        decision="REFACTOR",
        reasons=["a"],
        changes=changes,
        evidence="e",
        html={"pilot_review": Path("a.html"), "drill_analysis": Path("b.html")},
        notebooks={},
        seconds={},
        summary_path=Path("s.json"),
    )
    print_result(result, Console(file=out, width=400))
    assert (
        "PROMOTE if duplicate side effects stop entirely (now 6 %). (one of 4 changes PROMOTE "
        "needs together; see the report)"
    ) in out.getvalue()


def test_money_without_a_build_cost_or_an_economics_table_says_so(reports: Path) -> None:
    """No [economics]: the money is labelled as the lab's defaults, and ROI is not shown."""
    from harness.report import production as pe
    from harness.report.analysis import load_runs, pilot_summary

    inputs = rv.review_inputs("order-sync", reports)
    bare = rv.ReviewInputs(**{**inputs.__dict__, "economics_declared": frozenset()})
    cfg = EconomicsConfig()  # the lab's defaults: no build cost
    summary = pilot_summary(load_runs(inputs.run_dirs), cfg, {"min_txns": 1}, slo=inputs.slo)
    summary, cfg = pe.with_production(summary, bare, cfg)
    assert "pilot file [economics]" not in json.dumps(summary["sources"])
    assert summary["sources"]["cost_per_success"].endswith(
        "at the lab's default [economics] (the pilot file declares none)"
    )
    assert "volume around the lab's default volume" in pe.sensitivity_note(summary)
    assert rv.roi_cell(770.21, cfg) == ""
    assert "no build cost" in rv.roi_grid_note(cfg)
    assert "ROI and payback say nothing here" in rv.roi_sentence(summary, cfg)
    # With a build cost and the pilot's own table, the figures are the pilot's.
    declared = pe.with_production(summary, inputs, EconomicsConfig(build_cost=5000))[0]["sources"]
    assert declared["volume_per_month"] == pe.PILOT_FORECAST
    assert rv.roi_cell(0.5, EconomicsConfig(build_cost=5000)) == "50%"
    assert rv.roi_grid_note(EconomicsConfig(build_cost=5000)) == ""


def test_needing_more_evidence_names_the_command_that_supplies_it(reports: Path) -> None:
    """A record short of evidence: the evidence line says which drill would supply it."""
    inputs = rv.review_inputs("order-sync", reports)
    summary = _summary(reports, {})
    needy = {
        **summary,
        "decision": "NEEDS MORE EVIDENCE",
        "verdict": {**summary["verdict"], "metrics": {"transactions_needed": 300.0}},
    }
    line = rv.evidence_sentence(needy, inputs)
    missing = 300 - summary["measured"]["transactions"]
    per = -(-missing // inputs.scenario_count)
    assert inputs.scenario_count == len(load_pilot(PILOT).spec.scenarios)
    assert line.endswith(
        f"order-sync.toml --volume {per} ({per} events a scenario, salted copies of the captures)."
    )
    assert "To supply them: chaoslab drill " in line
    judged = {**needy, "decision": "REFACTOR"}
    assert "To supply them" not in rv.evidence_sentence(judged, inputs)
