"""Baselines: figures from a hand-made run, the comparison rule, the file, the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pilot_tree import pilot_tree
from typer.testing import CliRunner

from harness.cli import app
from harness.inputs.pilot import BASELINE_FIGURES, BaselineSpec, load_pilot
from harness.journal import JournalWriter
from harness.regression.baseline import (
    FIGURES,
    BaselineError,
    FigureCheck,
    baseline_path,
    compare,
    figures_of,
    format_checks,
    load_baseline,
    median_figures,
    merge_baseline,
    write_baseline,
)

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- figures of a run


def _exp(event: str, order: str) -> dict[str, Any]:
    return {
        "event_id": event,
        "event_type": "payment_intent.succeeded",
        "entity_id": order,
        "entity_version": 1,
        "expected_effect": "shipment.created",
        "dropped": False,
    }


def _att(
    event: str, n: int, sent: float, done: float, status: int, tags: str = ""
) -> dict[str, Any]:
    return {
        "event_id": event,
        "attempt": n,
        "delivery_id": f"{event}#{n}",
        "sent_at": sent,
        "finished_at": done,
        "latency_ms": (done - sent) * 1000,
        "status": status,
        "error_class": "" if 200 <= status < 300 else "http_5xx",
        "fault_tags": tags,
        "scenario": "s",
    }


def _eff(order: str, at: float, event: str) -> dict[str, Any]:
    return {
        "at": at,
        "kind": "shipment.created",
        "business_key": order,
        "entity_version": 1,
        "event_id": event,
    }


def write_run(run_dir: Path, meta: dict[str, Any], outcomes: dict[str, str]) -> Path:
    """Four transactions: e2 needed one provider retry, e3 was duplicated on purpose."""
    with JournalWriter(run_dir, run_dir.name) as journal:
        journal.write_meta({"pilot": {"name": "p"}, "scenario": "s", **meta})
        for event, order in (("e1", "o1"), ("e2", "o2"), ("e3", "o3"), ("e4", "o4")):
            journal.expected(_exp(event, order))
        for row in (
            _att("e1", 1, 0.0, 0.1, 200),
            _att("e2", 1, 0.1, 0.2, 503),
            _att("e2", 2, 0.5, 0.6, 200, "retry"),
            _att("e3", 1, 0.2, 0.3, 200),
            _att("e3", 2, 0.25, 0.35, 200, "duplicate"),
            _att("e4", 1, 0.3, 0.4, 200),
        ):
            journal.attempt(row)
        for row in (_eff("o1", 0.05, "e1"), _eff("o2", 0.55, "e2"), _eff("o3", 1.2, "e3")):
            journal.effect(row)
        for event, outcome in outcomes.items():
            journal.outcome({"event_id": event, "outcome": outcome, "detail": ""})
    return run_dir


def test_figures_of_a_hand_made_run(tmp_path: Path) -> None:
    run = write_run(
        tmp_path / "run-a",
        {"partner_requests": 10},
        {"e1": "processed", "e2": "processed", "e3": "processed", "e4": "dead_lettered"},
    )
    assert figures_of(run) == {
        # one attempt tagged "retry" over 4 transactions; the planned duplicate is not one
        "retries_per_txn": 0.25,
        "partner_calls_per_txn": 2.5,
        # ended well: e1 50 ms, e2 450 ms (first attempt to effect), e3 1000 ms
        "p95_latency_ms": 1000.0,
        "dead_letters": 1,
    }


def test_figures_of_a_run_where_nothing_ended_well(tmp_path: Path) -> None:
    run = write_run(
        tmp_path / "run-b",
        {},  # no partner request count: applied effects stand in
        {e: "dead_lettered" for e in ("e1", "e2", "e3", "e4")},
    )
    figures = figures_of(run)
    assert figures["p95_latency_ms"] is None
    assert figures["dead_letters"] == 4
    assert figures["partner_calls_per_txn"] == 0.75


def test_median_figures_skips_missing_values() -> None:
    runs: list[dict[str, float | None]] = [
        {"retries_per_txn": 0.1, "partner_calls_per_txn": 1.0, "p95_latency_ms": 300.0},
        {"retries_per_txn": 0.3, "partner_calls_per_txn": 2.0, "p95_latency_ms": None},
        {"retries_per_txn": 0.2, "partner_calls_per_txn": 9.0, "p95_latency_ms": 100.0},
    ]
    assert median_figures(runs) == {
        "retries_per_txn": 0.2,
        "partner_calls_per_txn": 2.0,
        "p95_latency_ms": 200.0,
        "dead_letters": None,
    }


# ---------------------------------------------------------------- the comparison


def test_allowed_rise_is_the_larger_tolerance() -> None:
    check = FigureCheck("p95_latency_ms", 400.0, 1300.0, relative=1.0, absolute=1000.0)
    assert check.allowed == 1000.0
    assert not check.regressed
    bigger = FigureCheck("p95_latency_ms", 3000.0, 6100.0, relative=1.0, absolute=1000.0)
    assert bigger.allowed == 3000.0
    assert bigger.regressed
    assert bigger.status == "REGRESSED"


@pytest.mark.parametrize(
    ("old", "new", "status"),
    [
        (0.0, 0.0, "ok"),
        (0.0, 1.0, "REGRESSED"),
        (3.0, 1.0, "better"),
        (None, 5.0, "new"),
        (250.0, None, "REGRESSED"),
    ],
)
def test_exact_count_statuses(old: float | None, new: float | None, status: str) -> None:
    assert FigureCheck("dead_letters", old, new, relative=0.0, absolute=0.0).status == status


def test_compare_uses_the_pilot_tolerances() -> None:
    spec = BaselineSpec.model_validate({"partner_calls_per_txn": {"relative": 0.1}})
    old = {"retries_per_txn": 0.0, "partner_calls_per_txn": 1.0, "dead_letters": 0.0}
    new = {"retries_per_txn": 0.05, "partner_calls_per_txn": 1.15, "dead_letters": 0.0}
    checks = {c.figure: c for c in compare(old, new, spec)}
    assert list(checks) == list(FIGURES)
    # relative 0.1 of 1.0 is smaller than the default absolute 0.1 + 0.0: 0.1 allowed
    assert checks["partner_calls_per_txn"].allowed == pytest.approx(0.1)
    assert checks["partner_calls_per_txn"].regressed
    assert not checks["retries_per_txn"].regressed
    assert checks["p95_latency_ms"].status == "new"  # the baseline has no value for it


def test_format_checks_is_a_readable_table() -> None:
    checks = [
        FigureCheck(
            "partner_calls_per_txn", 1.091, 3.5, *BASELINE_FIGURES["partner_calls_per_txn"]
        ),
        FigureCheck("p95_latency_ms", 1013.0, 950.0, *BASELINE_FIGURES["p95_latency_ms"]),
        FigureCheck("dead_letters", 0, 5, *BASELINE_FIGURES["dead_letters"]),
    ]
    lines = format_checks(checks).splitlines()
    assert lines[0].split() == ["figure", "baseline", "now", "tolerance"]
    assert lines[1].split() == [
        "partner_calls_per_txn", "1.091", "3.5", "+0.273", "(25%", "or", "0.1)", "REGRESSED"
    ]  # fmt: skip
    assert lines[2].split() == [
        "p95_latency_ms", "1,013", "ms", "950", "ms", "+1,013", "ms", "(100%", "or", "1,000",
        "ms)", "better",
    ]  # fmt: skip
    assert lines[3].split() == ["dead_letters", "0", "5", "+0", "(0)", "REGRESSED"]


# ---------------------------------------------------------------- the file


def test_baseline_path_defaults_beside_the_pilot(tmp_path: Path) -> None:
    pilot = load_pilot(REPO / "pilots/order-sync-naive.toml")
    assert baseline_path(pilot) == REPO / "pilots/order-sync-naive.baseline.json"


def test_write_is_pretty_sorted_and_stable(tmp_path: Path) -> None:
    pilot = load_pilot(REPO / "pilots/order-sync.toml")
    path = tmp_path / "b.json"
    entry = {"figures": {"retries_per_txn": 0.0, "dead_letters": 0}, "seed": 1, "runs": 1}
    first = merge_baseline(None, pilot, {"zeta": entry, "alpha": entry})
    write_baseline(path, first)
    text = path.read_text()
    assert text.endswith("}\n") and '\n  "format": 1,' in text
    assert text.index('"alpha"') < text.index('"zeta"')
    # Updating one scenario keeps the others, and the same content writes the same bytes.
    again = merge_baseline(json.loads(text), pilot, {"alpha": entry})
    write_baseline(path, again)
    assert path.read_text() == text
    assert set(load_baseline(path)) == {"alpha", "zeta"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "invalid JSON: Expecting property name enclosed in double quotes (line 1)"),
        ('{"pilot": "x"}', 'not a baseline file (no "scenarios" object)'),
        ('{"scenarios": {"s": {}}}', "scenarios.s: no figures object"),
        (
            '{"scenarios": {"s": {"figures": {"p99": 1}}}}',
            "scenarios.s.figures.p99: unknown figure (known: retries_per_txn, "
            "partner_calls_per_txn, p95_latency_ms, dead_letters)",
        ),
        (
            '{"scenarios": {"s": {"figures": {"dead_letters": "none"}}}}',
            'scenarios.s.figures.dead_letters: must be a number or null, got "none"',
        ),
    ],
)
def test_bad_baseline_file_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    assert str(info.value) == f"{path}: {message}"


def test_committed_baselines_are_complete_and_current() -> None:
    for name in ("order-sync", "order-sync-naive"):
        pilot = load_pilot(REPO / f"pilots/{name}.toml")
        stored = load_baseline(baseline_path(pilot))
        # A scenario added later runs without a baseline until `baseline update`;
        # one removed from the pilot must not linger in its baseline.
        assert stored and set(stored) <= set(pilot.spec.scenarios)
        for figures in stored.values():
            assert set(figures) == set(FIGURES)
            assert all(isinstance(v, (int, float)) for v in figures.values())


# ---------------------------------------------------------------- the command


def test_update_with_bad_input_is_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["baseline", "update", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2
    assert "nope.toml: cannot read pilot file" in missing.output
    assert "Traceback" not in missing.output
    pilots = pilot_tree(tmp_path)
    unknown = runner.invoke(app, ["baseline", "update", str(pilots / "order-sync.toml"), "-s", "x"])
    assert unknown.exit_code == 2
    assert "no scenario 'x' (scenarios: baseline, duplicates" in unknown.output
    (pilots / "order-sync.baseline.json").write_text("[1]")
    broken = runner.invoke(app, ["baseline", "update", str(pilots / "order-sync.toml")])
    assert broken.exit_code == 2
    assert 'order-sync.baseline.json: not a baseline file (no "scenarios" object)' in (
        broken.output
    )
    # `baseline update` writes the file a pilot declares: only inside the pilot's tree.
    pilot = pilots / "order-sync.toml"
    escaping = '[baseline]\nfile = "../../escaped.json"\n'
    pilot.write_text(pilot.read_text().replace("[baseline]\n", escaping))
    outside = runner.invoke(app, ["baseline", "update", str(pilot)])
    assert outside.exit_code == 2 and "Traceback" not in outside.output
    assert "order-sync.toml: [baseline] file: " in outside.output
    assert f"escaped.json: outside {pilots}" in " ".join(outside.output.split())
    assert not (tmp_path.parent / "escaped.json").exists()


@pytest.mark.slow
def test_update_one_scenario_keeps_the_others(tmp_path: Path) -> None:
    pilots = pilot_tree(tmp_path)
    path = pilots / "order-sync.baseline.json"
    before = json.loads(path.read_text())
    result = CliRunner().invoke(
        app,
        [
            "baseline",
            "update",
            str(pilots / "order-sync.toml"),
            "-s",
            "reordered",
            "--reports",
            str(tmp_path / "reports"),
        ],
    )
    assert result.exit_code == 0, result.output
    after = json.loads(path.read_text())
    for name in set(before["scenarios"]) - {"reordered"}:
        assert after["scenarios"][name] == before["scenarios"][name]
    entry = after["scenarios"]["reordered"]
    assert entry["runs"] == 1 and entry["seed"] == 1
    assert entry["updated"] != before["scenarios"]["reordered"]["updated"]
    figures = entry["figures"]
    # The hardened workflow on a reordered day: nothing dead-lettered, no provider retry.
    assert figures["dead_letters"] == 0
    assert figures["retries_per_txn"] == 0.0
    assert 0.5 < figures["partner_calls_per_txn"] < 2.0
    runs = list((tmp_path / "reports" / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "run.json").is_file()
