"""Analysis over two small hand-made runs written through the real journal.

Run A ("baseline"): e1 clean; e2 one 503 then ok; e3 two timeouts then ok
(slow); e4 dead-lettered; e5 an update. Run B ("duplicates") reuses the
event ids: e1 delivered twice and shipped twice, e2 never delivered.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.journal import JournalWriter, Run, empty_frame, frame
from harness.report.analysis import (
    RunSet,
    effects_tied_sentence,
    error_classes_over_time,
    events_table,
    failure_rates,
    latency_percentiles,
    load_runs,
    pilot_summary,
    retry_amplification,
    retry_distribution,
    run_set,
    slo_attainment,
    toxic_windows,
    unmatched_events_sentence,
    verdict_sensitivity,
)
from harness.report.economics import EconomicsConfig, Measured

SLO = {"p95_latency_ms": 3000.0, "success_rate": 0.99}


def _exp(event: str, order: str, version: int = 1) -> dict[str, Any]:
    return {
        "event_id": event,
        "event_type": "payment_intent.succeeded" if version == 1 else "order.updated",
        "entity_id": order,
        "entity_version": version,
        "expected_effect": "shipment.created" if version == 1 else "",
        "dropped": False,
    }


def _att(
    event: str, n: int, sent: float, done: float, status: int | None, error: str = ""
) -> dict[str, Any]:
    return {
        "event_id": event,
        "attempt": n,
        "delivery_id": f"{event}.{n}",
        "sent_at": sent,
        "finished_at": done,
        "latency_ms": (done - sent) * 1000,
        "status": status,
        "error_class": error,
    }


def _eff(order: str, at: float, event: str, kind: str = "shipment.created") -> dict[str, Any]:
    version = 2 if kind == "shipment.updated" else 1
    return {
        "at": at,
        "kind": kind,
        "business_key": order,
        "entity_version": version,
        "event_id": event,
    }


def write_run(
    root: Path,
    run_id: str,
    scenario: str,
    started: float,
    meta: dict[str, Any],
    expected: list[dict[str, Any]],
    attempts: list[dict[str, Any]],
    effects: list[dict[str, Any]],
    outcomes: list[dict[str, Any]],
) -> None:
    with JournalWriter(root / run_id, run_id) as journal:
        journal.write_meta(
            {"pilot": {"name": "order-sync"}, "scenario": scenario, "started_at": started, **meta}
        )
        for row in expected:
            journal.expected(row)
        for row in attempts:
            journal.attempt({**row, "scenario": scenario})
        for row in effects:
            journal.effect(row)
        for row in outcomes:
            journal.outcome(row)


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    write_run(
        root,
        "run-a",
        "baseline",
        100.0,
        {
            "slo": SLO,
            "partner_requests": 9,
            "toxics_applied": [
                {
                    "link": "partner",
                    "toxic": "lat",
                    "type": "latency",
                    "from_s": 0.5,
                    "until_s": 1.5,
                }
            ],
        },
        [
            _exp("e1", "o1"),
            _exp("e2", "o2"),
            _exp("e3", "o3"),
            _exp("e4", "o4"),
            _exp("e5", "o1", 2),
        ],
        [
            _att("e1", 1, 0.0, 0.1, 200),
            _att("e2", 1, 0.1, 0.2, 503, "http_5xx"),
            _att("e2", 2, 0.6, 0.7, 200),
            _att("e3", 1, 0.2, 2.2, None, "timeout"),
            _att("e3", 2, 2.5, 4.5, None, "timeout"),
            _att("e3", 3, 5.0, 5.1, 200),
            _att("e4", 1, 0.3, 0.4, 200),
            _att("e5", 1, 0.4, 0.5, 200),
        ],
        [
            _eff("o1", 0.05, "e1"),
            _eff("o2", 0.65, "e2"),
            _eff("o3", 5.05, "e3"),
            _eff("o1", 0.45, "e5", "shipment.updated"),
        ],
        [{"event_id": e, "outcome": "processed", "detail": ""} for e in ("e1", "e2", "e3", "e5")]
        + [{"event_id": "e4", "outcome": "dead_lettered", "detail": "partner 422"}],
    )
    write_run(
        root,
        "run-b",
        "duplicates",
        200.0,
        {
            "slo": SLO,
            "scenario_spec": {
                "toxics": [{"link": "partner", "type": "reset_peer", "from_s": 0, "until_s": 2}]
            },
        },
        [_exp("e1", "o1"), _exp("e2", "o2")],
        [
            _att("e1", 1, 0.0, 0.1, 200),
            _att("e1", 2, 0.05, 0.15, 200),
            _att("e2", 1, 0.0, 0.01, None, "connect"),
            _att("e2", 2, 0.5, 0.51, None, "connect"),
        ],
        [_eff("o1", 0.08, "e1"), _eff("o1", 0.12, "")],
        [
            {"event_id": "e1", "outcome": "processed", "detail": ""},
            {"event_id": "e1", "outcome": "duplicate", "detail": ""},
        ],
    )
    return root


@pytest.fixture
def rs(runs_root: Path) -> RunSet:
    return load_runs(runs_root)


def test_load_runs_stacks_tables_newest_first(rs: RunSet, runs_root: Path) -> None:
    assert list(rs.runs["run_id"]) == ["run-b", "run-a"]
    assert list(rs.runs["scenario"]) == ["duplicates", "baseline"]
    assert len(rs) == 2
    assert len(rs.attempts) == 12
    assert set(rs.effects["run_id"]) == {"run-a", "run-b"}
    assert rs.attempts.dtypes.equals(empty_frame("attempts").dtypes)
    assert len(load_runs(runs_root, pilot="other")) == 0
    assert len(load_runs(runs_root, limit=1)) == 1


def test_runs_still_in_flight_are_left_out(runs_root: Path) -> None:
    write_run(runs_root, "run-c", "baseline", 300.0, {"status": "running"}, [], [], [], [])
    assert list(load_runs(runs_root).runs["run_id"]) == ["run-b", "run-a"]
    assert len(load_runs(runs_root, include_running=True)) == 3


def test_toxic_windows_from_applied_or_planned(rs: RunSet) -> None:
    windows = rs.windows.set_index("run_id")
    assert windows.loc["run-a", "from_s"] == 0.5
    assert windows.loc["run-a", "until_s"] == 1.5
    assert windows.loc["run-b", "type"] == "reset_peer"
    assert toxic_windows({"toxics_applied": [{"type": "x", "from_s": 1, "until_s": None}]}) == [
        {"link": "", "type": "x", "toxic": "x", "from_s": 1.0, "until_s": None}
    ]


def test_events_table_keeps_runs_apart(rs: RunSet) -> None:
    ev = events_table(rs, slo_ms=3000).set_index(["run_id", "event_id"])
    assert len(ev) == 7
    assert ev.loc[("run-a", "e1"), "latency_ms"] == pytest.approx(50)
    assert ev.loc[("run-a", "e3"), "latency_ms"] == pytest.approx(4850)
    assert not ev.loc[("run-a", "e3"), "good"]  # too slow
    assert ev.loc[("run-a", "e4"), "outcome"] == "dead_lettered"
    assert bool(ev.loc[("run-b", "e1"), "duplicated"])
    assert not ev.loc[("run-b", "e1"), "good"]
    assert ev.loc[("run-b", "e2"), "outcome"] == ""
    assert not ev.loc[("run-b", "e2"), "executed"]
    assert ev["good"].sum() == 3


def test_retry_distribution(rs: RunSet) -> None:
    table = retry_distribution(events_table(rs)).set_index(["scenario", "attempts"])
    assert table.loc[("baseline", 1), "events"] == 3
    assert table.loc[("baseline", 3), "share"] == pytest.approx(0.2)
    assert table.loc[("duplicates", 2), "share"] == pytest.approx(1.0)
    overall = retry_distribution(events_table(rs), by=None)
    assert overall["events"].sum() == 7


def test_latency_percentiles_against_slo(rs: RunSet) -> None:
    table = latency_percentiles(events_table(rs), slo_ms=3000).set_index("scenario")
    base = table.loc["baseline"]
    assert base["events"] == 4
    assert base["p50_ms"] == pytest.approx(50)  # nearest rank: 2nd of 50, 50, 550, 4850
    assert base["p95_ms"] == pytest.approx(4850)
    assert not base["p95_ok"]
    assert table.loc["duplicates", "p95_ok"]


def test_error_classes_over_time(rs: RunSet) -> None:
    table = error_classes_over_time(rs.attempts, bin_s=1.0)
    base = table[table["scenario"] == "baseline"].set_index(["t", "error_class"])["attempts"]
    assert base.to_dict() == {
        (0.0, "http_5xx"): 1,
        (0.0, "ok"): 4,
        (0.0, "timeout"): 1,
        (2.0, "timeout"): 1,
        (5.0, "ok"): 1,
    }
    with pytest.raises(ValueError, match="bin_s"):
        error_classes_over_time(rs.attempts, bin_s=0)


def test_retry_amplification(rs: RunSet) -> None:
    table = retry_amplification(rs).set_index("run_id")
    assert table.loc["run-a", "deliveries_per_txn"] == pytest.approx(8 / 5)
    assert table.loc["run-a", "partner_calls_per_txn"] == pytest.approx(9 / 5)
    assert table.loc["run-a", "partner_calls_source"] == "partner"
    assert table.loc["run-b", "partner_calls"] == 2
    assert table.loc["run-b", "partner_calls_source"] == "effects (lower bound)"


def test_failure_rates(rs: RunSet) -> None:
    table = failure_rates(events_table(rs)).set_index("scenario")
    assert table.loc["baseline", "dead_lettered_rate"] == pytest.approx(0.2)
    assert table.loc["baseline", "duplicated"] == 0
    assert table.loc["duplicates", "duplicated_rate"] == pytest.approx(0.5)
    assert table.loc["duplicates", "lost_rate"] == pytest.approx(0.5)


def test_slo_attainment_with_wilson_bound(rs: RunSet) -> None:
    table = slo_attainment(events_table(rs, slo_ms=3000)).set_index("scenario")
    assert table.loc["baseline", "attainment"] == pytest.approx(0.6)
    assert table["attainment_lb"].to_dict()["baseline"] < 0.6
    assert table.loc["baseline", "burn"] == pytest.approx(40.0)
    assert not table["meets"].any()
    overall = slo_attainment(events_table(rs, slo_ms=3000), by=None)
    assert overall.loc[0, "good"] == 3


def test_pilot_summary_feeds_economics_and_verdict(rs: RunSet) -> None:
    cfg = EconomicsConfig(platform_cost_per_call=0.01, partner_call_price=0.1, build_cost=1000)
    summary = pilot_summary(rs, cfg)
    assert summary["pilot"] == "order-sync"
    # 7 transactions, far fewer than a verdict needs, but a duplicate, a dead letter and
    # a lost one were seen: failures more volume cannot undo are judged at once.
    assert summary["decision"] in {"REFACTOR", "RETIRE"}
    assert summary["reasons"][-1].startswith("Decided on 7 transactions")
    assert summary["slo"] == {"p95_ms": 3000.0, "success_rate": 0.99}
    m = summary["measured"]
    assert (m["transactions"], m["good"], m["succeeded"]) == (7, 3, 4)
    assert (m["dead_lettered"], m["lost"], m["duplicates"]) == (1, 1, 1)
    assert (m["attempts"], m["ok_attempts"], m["executions"]) == (12, 7, 6)
    assert m["partner_calls"] == 11
    assert m["partner_calls_counted_runs"] == 1
    assert m["billed_calls_per_txn"] == pytest.approx(12 / 7)
    assert summary["economics"]["call_cost_per_txn"] == pytest.approx(0.01 * 12 / 7 + 0.1 * 11 / 7)
    assert {row["scenario"] for row in summary["by_scenario"]} == {"baseline", "duplicates"}
    judged = pilot_summary(rs, cfg, {"min_txns": 5})
    assert judged["decision"] in {"REFACTOR", "RETIRE"}
    assert any(
        r.startswith("Dead-lettered-or-lost rate is 28.") and "lost without a trace" in r
        for r in judged["reasons"]
    ), judged["reasons"]


def _lossy_run(root: Path, events: int, lost: int) -> None:
    """``events`` quick, clean shipments, the last ``lost`` of them never sent at all."""
    ids = [f"e{i}" for i in range(events)]
    sent = ids[: events - lost]
    write_run(
        root,
        "run-lossy",
        "drops",
        300.0,
        {"slo": SLO},
        [_exp(e, f"o{e}") for e in ids],
        [_att(e, 1, i * 0.01, i * 0.01 + 0.05, 200) for i, e in enumerate(sent)],
        [_eff(f"o{e}", i * 0.01 + 0.02, e) for i, e in enumerate(sent)],
        [{"event_id": e, "outcome": "processed", "detail": ""} for e in sent],
    )


def test_sensitivity_grid_judges_lost_events_like_the_verdict(tmp_path: Path) -> None:
    # Only the losses stand between this pilot and PROMOTE: attainment, burn and money
    # pass at these lines, so a grid that forgot the lost rate would say PROMOTE here.
    _lossy_run(tmp_path / "runs", events=200, lost=4)
    thresholds = {"min_txns": 100, "slo_target": 0.9, "slo_floor": 0.85}
    summary = pilot_summary(load_runs(tmp_path / "runs"), EconomicsConfig(), thresholds)
    m = summary["measured"]
    assert (m["transactions"], m["lost"], m["dead_lettered"]) == (200, 4, 0)
    assert summary["decision"] == "REFACTOR"
    failing = [c["name"] for c in summary["verdict"]["checks"] if not c["ok"]]
    assert failing == ["dead_letters"]

    measured = Measured(**{k: m[k] for k in Measured.__dataclass_fields__})
    grid = verdict_sensitivity(EconomicsConfig(), measured, m["good"], thresholds)
    here = grid[grid["current"]]
    assert len(here) == 1
    assert here.iloc[0]["decision"] == summary["decision"]
    # Without failures the same pilot would promote, so the grid does separate the two.
    clean = grid[(grid["failure_rate"] == 0) & (grid["volume_per_month"] == 2000.0)]
    assert clean.iloc[0]["decision"] == "PROMOTE"


def _tied_run(root: Path, run_id: str, scenario: str, started: float, meta: dict[str, Any]) -> None:
    """Three events of which the third matched no rule; only run.json's records differ."""
    write_run(
        root,
        run_id,
        scenario,
        started,
        {"slo": SLO, **meta},
        [_exp("e1", "o1"), _exp("e2", "o2"), {**_exp("e3", "o3"), "expected_effect": ""}],
        [_att(e, 1, 0.0, 0.1, 200) for e in ("e1", "e2", "e3")],
        [_eff("o1", 0.05, "e1"), _eff("o2", 0.06, "e2")],
        [],
    )


def test_unmatched_events_sentence_counts_what_no_rule_judged(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    _tied_run(root, "r1", "baseline", 1.0, {"unmatched_events": []})
    assert unmatched_events_sentence(load_runs(root)) == (
        "Every one of the 3 drilled events matched an [[expectations]] rule, so the "
        "invariants judged them all."
    )
    _tied_run(root, "r2", "reordered", 2.0, {"unmatched_events": ["e3"]})
    _tied_run(root, "r3", "duplicates", 3.0, {"unmatched_events": ["e3", "e9"]})
    # A run from before the field was journaled adds neither events nor unmatched ones.
    _tied_run(root, "r4", "old", 4.0, {})
    rs = load_runs(root)
    assert list(rs.runs.sort_values("run_id")["unmatched_events"].fillna(-1)) == [0, 1, 2, -1]
    assert unmatched_events_sentence(rs) == (
        "3 of 9 drilled events matched no [[expectations]] rule (in duplicates, reordered), "
        "so nothing was expected of them and no invariant judged their effects; e.g. e3, e9."
    )
    old = load_runs([root / "r4"])
    assert unmatched_events_sentence(old) == (
        "These runs did not record which events matched no [[expectations]] rule."
    )


def test_effects_tied_sentence_says_how_effects_met_their_events(tmp_path: Path) -> None:
    root = tmp_path / "runs"

    def tied(run_id: str, scenario: str, trace: int, key: int) -> RunSet:
        meta = {"effects_tied": {"traceparent": trace, "key_and_time": key}}
        _tied_run(root, run_id, scenario, float(len(list(root.glob("*")))), meta)
        return load_runs(root)

    assert effects_tied_sentence(load_runs([])) == (
        "These runs did not record how partner effects were tied to events."
    )
    assert effects_tied_sentence(tied("r1", "baseline", 36, 0)) == (
        "All 36 partner effects were tied to their events by the traceparent the workflow "
        "forwarded: exact, no guessing."
    )
    assert effects_tied_sentence(tied("r2", "crm-slow", 30, 4)) == (
        "Of 70 partner effects, 66 were tied to their events by the forwarded traceparent and "
        "4 (in crm-slow) by entity key and time, an inference that can mix up two events about "
        "one entity close together."
    )
    only_key = load_runs([tied("r3", "outside", 0, 1).items[0]])
    assert effects_tied_sentence(only_key) == (
        "The workflow forwarded no traceparent, so all 1 partner effect were tied to their "
        "events by entity key and time, an inference that can mix up two events about one "
        "entity close together."
    )
    none = load_runs([tied("r4", "empty", 0, 0).items[0]])
    assert effects_tied_sentence(none) == (
        "No partner effect was recorded, so none had to be tied to an event."
    )


def test_unknown_outcomes_leave_dead_letters_unknown_not_zero(tmp_path: Path) -> None:
    """A workflow with no outcomes source: 3 events accepted (2xx) but never applied."""
    root = tmp_path / "runs"
    ids = [f"e{i}" for i in range(200)]
    write_run(
        root,
        "run-blind",
        "baseline",
        1.0,
        {"slo": SLO, "outcomes_known": False},
        [_exp(e, f"o{e}") for e in ids],
        [_att(e, 1, i * 0.01, i * 0.01 + 0.05, 200) for i, e in enumerate(ids)],
        [_eff(f"o{e}", i * 0.01 + 0.02, e) for i, e in enumerate(ids[3:], start=3)],
        # Stray rows must not be read as outcomes when the run says it has none.
        [{"event_id": "e0", "outcome": "dead_lettered", "detail": ""}],
    )
    thresholds = {"min_txns": 100, "slo_target": 0.9, "slo_floor": 0.85}
    summary = pilot_summary(load_runs(root), EconomicsConfig(), thresholds)
    assert summary["outcomes_known"] is False
    assert summary["outcomes_known_runs"] == 0
    assert summary["measured"]["dead_lettered"] == 0
    # Accepted with a 2xx but never applied: lost, whether or not outcomes are known.
    assert summary["measured"]["lost"] == 3
    assert summary["decision"] != "PROMOTE"
    dead = next(c for c in summary["verdict"]["checks"] if c["name"] == "dead_letters")
    assert dead["sentence"].startswith(
        "Dead letters are unknown (the workflow reports no outcomes)"
    )
    assert not any("Dead-letter rate is" in r for r in summary["reasons"])
    m = summary["measured"]
    measured = Measured(**{k: m[k] for k in Measured.__dataclass_fields__})
    grid = verdict_sensitivity(
        EconomicsConfig(), measured, m["good"], thresholds, outcomes_known=False
    )
    assert grid[grid["current"]].iloc[0]["decision"] == summary["decision"]
    # The same run with an outcomes source is judged on them as before.
    known = load_runs(root).items[0]
    known.meta["outcomes_known"] = True
    judged = pilot_summary(load_runs([known]), EconomicsConfig(), thresholds)
    assert judged["outcomes_known"] is True
    assert judged["measured"]["dead_lettered"] == 1


def _big_run(n_attempts: int, seed: int = 7) -> Run:
    rng = np.random.default_rng(seed)
    n_events = n_attempts // 2
    ids = np.char.add("evt_", np.arange(n_events).astype(str)).astype(object)
    event_of = rng.integers(0, n_events, n_attempts)
    sent = rng.random(n_attempts) * 600
    attempts = pd.DataFrame(
        {
            "run_id": "big",
            "scenario": "load",
            "event_id": ids[event_of],
            "attempt": 1,
            "sent_at": sent,
            "finished_at": sent + rng.random(n_attempts),
            "status": pd.array(rng.choice([200, 200, 200, 503], n_attempts), dtype="Int64"),
            "error_class": "",
        }
    ).reindex(columns=empty_frame("attempts").columns)
    orders = np.char.add("ord_", np.arange(n_events).astype(str)).astype(object)
    expected = pd.DataFrame(
        {
            "run_id": "big",
            "event_id": ids,
            "event_type": "payment_intent.succeeded",
            "entity_id": orders,
            "entity_version": 1,
            "expected_effect": "shipment.created",
            "dropped": False,
        }
    )
    effects = pd.DataFrame(
        {
            "run_id": "big",
            "at": rng.random(n_events) * 600 + 1,
            "kind": "shipment.created",
            "business_key": orders,
            "entity_version": 1,
            "event_id": ids,
        }
    ).reindex(columns=empty_frame("effects").columns)
    outcomes = pd.DataFrame(
        {"run_id": "big", "event_id": ids, "outcome": "processed", "detail": ""}
    )
    return Run(
        run_dir=Path("big"),
        meta={"run_id": "big", "scenario": "load", "slo": SLO},
        attempts=attempts,
        effects=effects,
        outcomes=outcomes,
        expected=expected,
        requests=empty_frame("requests"),
    )


@pytest.mark.slow
def test_a_big_history_summarises_in_seconds() -> None:
    # A fifth of benchmarks/review.py's million attempts: the same vectorised
    # paths, at a size the suite can afford; the benchmark times the million.
    run = _big_run(200_000)
    rs = run_set([run])
    started = time.perf_counter()
    summary = pilot_summary(rs, EconomicsConfig(), {"min_txns": 1000})
    took = time.perf_counter() - started
    assert summary["measured"]["attempts"] == 200_000
    assert summary["decision"] in {"PROMOTE", "REFACTOR", "RETIRE"}
    # Under half a second here; the bound is generous for a shared machine.
    assert took < 10, f"pilot_summary took {took:.1f} s"


def test_small_frames_from_journal_helpers_work_without_disk() -> None:
    run = Run(
        run_dir=Path("mem"),
        meta={"scenario": "s"},
        attempts=frame(
            "attempts", [{"event_id": "e", "sent_at": 0.0, "finished_at": 0.1, "status": 200}]
        ),
        effects=empty_frame("effects"),
        outcomes=empty_frame("outcomes"),
        expected=frame("expected", [{"event_id": "e", "expected_effect": "", "dropped": False}]),
        requests=empty_frame("requests"),
    )
    ev = events_table([run])
    # No outcome rows at all: ending well falls back to having a 2xx.
    assert bool(ev.loc[0, "ended_well"])
    assert math.isclose(ev["latency_ms"].tolist()[0], 100.0)
    # The attempt carried no scenario; it is labelled from run.json, not dropped.
    errors = error_classes_over_time(run_set([run]).attempts)
    assert errors[["scenario", "error_class", "attempts"]].values.tolist() == [["s", "ok", 1]]


def test_an_event_processed_whose_effect_never_landed_is_lost(tmp_path: Path) -> None:
    """The workflow says "processed" for all ten, but one effect never reached the partner."""
    root = tmp_path / "runs"
    ids = [f"e{i}" for i in range(10)]
    write_run(
        root,
        "run-silent",
        "baseline",
        1.0,
        {"slo": SLO},
        [_exp(e, f"o{e}") for e in ids],
        [_att(e, 1, i * 0.01, i * 0.01 + 0.05, 200) for i, e in enumerate(ids)],
        [_eff(f"o{e}", i * 0.01 + 0.02, e) for i, e in enumerate(ids) if e != "e4"],
        [{"event_id": e, "outcome": "processed", "detail": ""} for e in ids],
    )
    events = events_table(load_runs(root))
    assert events.loc[events["event_id"] == "e4", "effect_missing"].item()
    summary = pilot_summary(load_runs(root), EconomicsConfig(), {"min_txns": 1})
    assert summary["measured"]["lost"] == 1
    assert summary["measured"]["succeeded"] == 9


def test_a_record_changed_at_its_source_is_no_duplicate_in_the_review(tmp_path: Path) -> None:
    """A source record changed mid-pagination: the job may create its captured version
    and must create its new one. Both landing is right, as exactly_once says; a third
    creation is a duplicate."""
    root = tmp_path / "runs"
    changed = {**_exp("rec-2@v2", "c2", 1), "entity_version": 2, "expected_effect": "created"}
    captured = {**_exp("rec-2", "c2", 1), "expected_effect": "", "allowed_effect": "created"}
    rows = [{**_exp("rec-1", "c1"), "expected_effect": "created"}, captured, changed]
    attempts = [_att(e, 1, 0.1 * i, 0.1 * i + 0.05, 200) for i, e in enumerate(["rec-1", "rec-2"])]
    landed = [
        {**_eff("c1", 0.2, ""), "kind": "created"},
        {**_eff("c2", 0.3, ""), "kind": "created"},  # the captured version
        {**_eff("c2", 0.4, ""), "kind": "created", "entity_version": 2},  # the changed one
    ]
    write_run(root, "run-changed", "record-changed", 1.0, {"slo": SLO}, rows, attempts, landed, [])
    events = events_table(load_runs(root))
    assert not events["duplicated"].any(), events[["event_id", "duplicated"]]
    assert int(events["excess_effects"].sum()) == 0

    twice = [*landed, {**_eff("c2", 0.5, ""), "kind": "created", "entity_version": 2}]
    write_run(root, "run-twice", "record-changed", 2.0, {"slo": SLO}, rows, attempts, twice, [])
    again = events_table(load_runs(root))
    assert int(again.loc[again["run_id"] == "run-twice", "excess_effects"].sum()) == 1


def test_the_invariant_grid_says_which_checks_had_nothing_to_judge() -> None:
    from harness.report.analysis import INVARIANT_COLUMNS, invariant_grid

    rows = [
        ("r1", "calm", "exactly_once", True, 20),
        ("r2", "calm", "exactly_once", False, 20),  # broke in one of two runs
        ("r1", "calm", "retry_after_honoured", True, 0),  # no 429 came its way
        ("r2", "calm", "retry_after_honoured", True, 0),
        ("r1", "calm", "slo", True, 20),
        ("r1", "storm", "retry_after_honoured", True, 7),
    ]
    frame = pd.DataFrame(
        [(r, s, i, ok, "", [], n) for r, s, i, ok, n in rows], columns=INVARIANT_COLUMNS
    )
    grid = invariant_grid(frame)
    assert list(grid.columns[:2]) == ["exactly_once", "slo"]  # the usual order first
    assert grid.loc["calm", "exactly_once"] == "BROKEN"
    assert grid.loc["calm", "retry_after_honoured"] == "n/a"
    assert grid.loc["storm", "retry_after_honoured"] == "holds"
    assert grid.loc["calm", "slo"] == "holds"
