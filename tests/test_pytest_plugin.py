"""The pytest plugin: pilot scenarios as test items, readable ids and failures."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

import pytest
from pilot_tree import pilot_tree

from harness.checks.result import InvariantResult
from harness.drill import DrillResult, DrillSession
from harness.inputs.pilot import load_pilot
from harness.regression.pytest_plugin import _disagreement
from harness.replay.sender import SendStats

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
# Quiet, cache-free runs; the outer session already imported harness, which the
# inner one would like to rewrite for assertions.
QUIET = (
    "-p",
    "no:cacheprovider",
    "-W",
    "ignore::pytest.PytestAssertRewriteWarning",
    "-o",
    "asyncio_default_fixture_loop_scope=function",
)


def test_every_scenario_of_every_pilot_is_an_item(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--pilots", str(REPO / "pilots"), "--collect-only", "-q", *QUIET)
    ids = [line for line in result.outlines if "::" in line]
    pilots = [load_pilot(path) for path in sorted((REPO / "pilots").glob("*.toml"))]
    assert {"order-sync", "order-sync-naive", "contacts-sync", "ticket-router"} <= {
        p.name for p in pilots
    }
    assert sorted(ids) == sorted(f"{p.name}::{s}" for p in pilots for s in p.spec.scenarios)
    assert result.ret == 0


def test_select_one_scenario_by_path(pytester: pytest.Pytester) -> None:
    pilot_tree(pytester.path)
    result = pytester.runpytest(
        "--pilots",
        "pilots",
        "pilots/order-sync.toml::partner-throttle",
        "--collect-only",
        "-q",
        *QUIET,
    )
    assert [line for line in result.outlines if "::" in line] == ["order-sync::partner-throttle"]


def test_pilot_marker_and_k_select(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_unit():\n    assert True\n")
    result = pytester.runpytest(
        "--pilots",
        str(REPO / "pilots/order-sync-naive.toml"),
        "-m",
        "pilot",
        "-k",
        "throttle or resets",
        "--collect-only",
        "-q",
        *QUIET,
    )
    assert sorted(line for line in result.outlines if "::" in line) == [
        "order-sync-naive::connection-resets",
        "order-sync-naive::partner-throttle",
    ]


def test_a_bad_pilot_file_is_one_line_and_scenario_files_are_left_alone(
    pytester: pytest.Pytester,
) -> None:
    folder = pytester.mkdir("mine")
    (folder / "events.jsonl").write_text("")
    (folder / "bad.toml").write_text(
        '[pilot]\nname = "bad"\n[workflow]\ncommand = ["x"]\n[webhook]\nfixtures = '
        '"events.jsonl"\n[slo]\np95_latncy_ms = 3\n[scenarios.a]\n'
    )
    # A hunt's counterexample: scenarios only, not a pilot.
    (folder / "found.toml").write_text("[scenarios.found]\nseed = 3\n")
    result = pytester.runpytest("--pilots", "mine", "--collect-only", *QUIET)
    result.stdout.fnmatch_lines(["*ERROR collecting mine/bad.toml*"])
    text = result.stdout.str()
    assert f"{folder / 'bad.toml'}: [slo] p95_latncy_ms: unknown key (misspelt?)" in text
    assert "found.toml" not in text
    assert "Traceback" not in text and "pydantic" not in text


def test_a_missing_pilots_path_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--pilots", "nowhere", *QUIET)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--pilots nowhere: no such file or folder*"])


def test_without_the_option_pilot_files_are_not_collected(pytester: pytest.Pytester) -> None:
    pilots = pilot_tree(pytester.path)
    result = pytester.runpytest(str(pilots), "--collect-only", "-q", *QUIET)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


@pytest.mark.slow
@pytest.mark.timeout(300)  # its session's own bound is 240 s; it takes 60-90 s on 2 busy cores
def test_failures_read_like_a_report(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three drills in one session (one shared fault proxy), their runs in reports/
    (the default, as for `chaoslab drill`, so CI's reports/ artifact holds them):

    - the regressed copy of the hardened workflow breaks the reference baseline;
    - the hardened workflow under a pilot that expects violations holds every invariant;
    - the naive workflow, expected to break an invariant, does: that item passes.
    """
    monkeypatch.delenv("CHAOSLAB_REPORTS", raising=False)
    pilots = pilot_tree(pytester.path)
    shutil.copy(DATA / "order-sync-regressed.toml", pilots)
    (pilots / "order-sync-overexpect.toml").write_text(
        'extends = "order-sync.toml"\n[pilot]\nname = "order-sync-overexpect"\n'
        'expect = "violation"\n'
    )
    result = pytester.runpytest_subprocess(
        "--pilots",
        "pilots",
        "pilots/order-sync-regressed.toml::partner-errors",
        "pilots/order-sync-overexpect.toml::baseline",
        "pilots/order-sync-naive.toml::duplicates",
        *QUIET,
        timeout=240,
    )
    text = result.stdout.str()
    result.assert_outcomes(passed=1, failed=2)

    # The regression: a one-line headline, then the figures as a table.
    result.stdout.fnmatch_lines(
        [
            "*_ order-sync-regressed::partner-errors _*",
            "broke slo; regressed dead_letters 0 -> *",
            "drill of pilots/order-sync-regressed.toml, seed 1, *",
            "invariants broken (this scenario expects every invariant to hold):",
            "  slo: The run misses its SLO: *",
            "    e.g. evt_*",
            "baseline regressed (against *order-sync.baseline.json):",
            "  figure * baseline * now * tolerance*",
        ]
    )
    row = next(line.split() for line in result.outlines if line.startswith("  dead_letters"))
    assert row[0] == "dead_letters" and row[1] == "0"
    assert int(row[2]) >= 1  # at least one order dead-lettered by the burst of 503s
    assert row[3:] == ["+0", "(0)", "REGRESSED"]

    # Expecting a violation that did not happen is a failure, with what held.
    result.stdout.fnmatch_lines(
        [
            "*_ order-sync-overexpect::baseline _*",
            "expected a violation, every invariant held",
            "*run *reports/runs/*-order-sync-overexpect-baseline-*",
            "invariants (this scenario expects one to break):",
            "  exactly_once: All * expected effects happened exactly once.",
        ]
    )
    # The naive reference broke an invariant, as it should; its figures are in the summary.
    result.stdout.fnmatch_lines(
        [
            "*chaoslab pilots*",
            "order-sync-naive::duplicates * passed * dead letters 0 *baseline ok*",
            "*short test summary info*",
            # pytest 8 names the item alone; the reason is in the report above.
            "FAILED order-sync-regressed::partner-errors*",
            "FAILED order-sync-overexpect::baseline*",
        ]
    )
    assert "Traceback" not in text
    assert "pytest_plugin.py" not in text  # no frames of the plugin's own code
    # The scenario expected to pass ran on a standing stage, failed, and was drilled
    # again fresh; each one expected to break an invariant is its pilot's first, so
    # its stage was checked: twice standing, then once fresh. Only fresh drills
    # are judged (the runs the reports name).
    folder = pytester.path / "reports" / "runs"
    runs = [json.loads((d / "run.json").read_text()) for d in folder.iterdir()]
    assert len(runs) == 8
    assert sum(1 for r in runs if r.get("standing")) == 5
    result.stdout.fnmatch_lines(
        ["order-sync-regressed::partner-errors * failed * fresh: its standing drill (run *"]
    )
    judged = re.findall(r"run (\S*reports/runs/\S+)", text)
    assert len(judged) == 2
    for run_dir in judged:
        assert "standing" not in json.loads((Path(run_dir) / "run.json").read_text())


def test_an_interrupted_drill_unwinds_before_the_error_goes_on(tmp_path: Path) -> None:
    """Ctrl-C (or a pytest-timeout) lands in the session's loop: the drill's
    cleanup must still run, so nothing it started outlives the session."""
    runner = DrillSession(tmp_path)
    unwound: list[str] = []

    async def drill() -> None:
        asyncio.get_running_loop().call_later(0.05, _interrupt)
        try:
            await asyncio.Event().wait()  # a drill that would never end by itself
        finally:
            await asyncio.sleep(0)  # cleanup that itself needs the loop
            unwound.append("cleaned up")

    try:
        with pytest.raises(KeyboardInterrupt):
            runner._run(drill())
        assert unwound == ["cleaned up"]
        assert runner._run(asyncio.sleep(0, result="loop still usable")) == "loop still usable"
    finally:
        runner.close()
    assert runner._loop is None


def _interrupt() -> None:
    raise KeyboardInterrupt


def _run(run_id: str, *broken: str) -> DrillResult:
    results = [InvariantResult(n, n not in broken, {}, [], "") for n in ("exactly_once", "slo")]
    return DrillResult(
        run_id=run_id, run_dir=Path(run_id), pilot="p", scenario="s", seed=1,
        results=results, stats=SendStats(), duration_s=0.0,
    )  # fmt: skip


def test_a_standing_stage_is_trusted_only_when_it_breaks_what_a_fresh_drill_breaks() -> None:
    fresh = _run("fresh", "exactly_once")
    assert _disagreement([_run("s1", "exactly_once"), _run("s2", "exactly_once")], fresh) == ""
    # The second drill on the stage met what the first left: the stage is not trusted.
    why = _disagreement([_run("s1", "exactly_once"), _run("s2", "exactly_once", "slo")], fresh)
    assert why == (
        "on a standing stage the scenario broke ['exactly_once', 'slo'] (run s2), "
        "on fresh services ['exactly_once'] (run fresh)"
    )
    assert "broke nothing (run s1)" in _disagreement([_run("s1")], fresh)
