"""A dead letter by design is not held against the workflow; one that should have happened is.

A queue consumer says no by dead-lettering, as a webhook workflow says no with
a 4xx. The pilot declares it (``[[expectations]] dead_letter = true``,
optionally in some scenarios only): a declared dead letter ends well and is
not in the dead-letter rate, a declared one that was acknowledged or applied
is a finding naming its evidence, and an undeclared one counts as before.
Hand-written journal tables pin the checks and the review's counts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.checks.all_accounted import all_accounted
from harness.checks.registry import check_all
from harness.inputs.expectations import ExpectationRule, expected_rows
from harness.inputs.fixtures import CapturedRequest
from harness.inputs.pilot import load_pilot, load_scenario_file
from harness.journal import Run, frame
from harness.report.analysis import events_table, failure_rates, pilot_summary, run_set
from harness.report.economics import EconomicsConfig

REPO = Path(__file__).resolve().parents[1]
CREATED = "erp:order.created"
SLO = {"p95_latency_ms": 1000, "success_rate": 0.5}


def exp(event: str, key: str, effect: str = CREATED, dead: bool = False) -> dict[str, Any]:
    return {
        "event_id": event,
        "event_type": "order",
        "entity_id": key,
        "entity_version": 1,
        "partner": "erp" if effect else "",
        "expected_effect": effect,
        "dead_letter": dead,
        "dropped": False,
        "fixture_id": f"rec-{event}",
    }


def published(event: str, at: float) -> dict[str, Any]:
    # A queue attempt is a publish the broker acknowledged (status 200).
    return {"event_id": event, "attempt": 1, "sent_at": at, "finished_at": at + 0.01,
            "latency_ms": 10.0, "status": 200, "error_class": "", "answer": ""}  # fmt: skip


def eff(event: str, key: str, at: float) -> dict[str, Any]:
    return {"at": at, "partner": "erp", "kind": CREATED, "business_key": key,
            "entity_version": 1, "event_id": event}  # fmt: skip


def out(event: str, outcome: str, detail: str = "") -> dict[str, Any]:
    return {"event_id": event, "outcome": outcome, "detail": detail}


def run_tables(poison: str, declared: bool, applied: bool = False) -> dict[str, pd.DataFrame]:
    """Three orders applied; a fourth message (e3) that ended ``poison`` at the broker."""
    expected = [exp(f"e{i}", f"o{i}") for i in range(3)]
    expected.append(exp("e3", "o3", effect="" if declared else CREATED, dead=declared))
    effects = [eff(f"e{i}", f"o{i}", i + 0.1) for i in range(3)]
    if applied:
        effects.append(eff("e3", "o3", 3.1))
    detail = "in ORDERS_DLQ (stream seq 4)" if poison == "dead_lettered" else "acknowledged"
    return {
        "expected": frame("expected", expected),
        "attempts": frame("attempts", [published(f"e{i}", float(i)) for i in range(4)]),
        "effects": frame("effects", effects),
        "outcomes": frame(
            "outcomes", [*(out(f"e{i}", "processed") for i in range(3)), out("e3", poison, detail)]
        ),
        "requests": frame("requests", []),
    }


def by_name(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    return {r.name: r for r in check_all(tables, SLO)}


def as_run(tables: dict[str, pd.DataFrame], run_id: str) -> Run:
    meta = {"run_id": run_id, "scenario": "cut", "slo": SLO, "pilot": {"name": "p"}}
    return Run(run_dir=Path(run_id), meta=meta, **tables)


def test_a_declared_dead_letter_ends_well_and_is_not_in_the_dead_letter_rate() -> None:
    t = run_tables("dead_lettered", declared=True)
    results = by_name(t)
    assert all(r.ok for r in results.values()), {n: r.summary for n, r in results.items()}
    accounted = results["all_accounted"]
    assert accounted.counts["dead_lettered_by_design"] == 1
    assert "1 dead-lettered (1 by design)" in accounted.summary
    events = events_table(run_set([as_run(t, "r1")]))
    row = events.set_index("event_id").loc["e3"]
    assert row["outcome"] == "dead_lettered_by_design" and bool(row["ended_well"])
    assert int(failure_rates(events, by=None)["dead_lettered"].iloc[0]) == 0
    summary = pilot_summary(run_set([as_run(t, "r1")]), EconomicsConfig(), {"min_txns": 1})
    assert summary["measured"]["dead_lettered"] == 0 and summary["measured"]["good"] == 4
    assert not any("Dead-letter" in reason for reason in summary["reasons"])


def test_an_undeclared_dead_letter_still_counts_as_today() -> None:
    t = run_tables("dead_lettered", declared=False)
    accounted = by_name(t)["all_accounted"]
    assert accounted.ok and accounted.counts["dead_lettered_by_design"] == 0
    events = events_table(run_set([as_run(t, "r1")]))
    assert events.set_index("event_id").at["e3", "outcome"] == "dead_lettered"
    summary = pilot_summary(run_set([as_run(t, "r1")]), EconomicsConfig(), {"min_txns": 1})
    assert summary["measured"]["dead_lettered"] == 1


def test_a_declared_dead_letter_that_was_acknowledged_is_a_finding_with_its_evidence() -> None:
    t = run_tables("processed", declared=True, applied=True)
    accounted = by_name(t)["all_accounted"]
    assert not accounted.ok and accounted.counts["not_dead_lettered"] == 1
    assert accounted.examples[0] == (
        'e3 (fixture rec-e3) processed ("acknowledged"), but the pilot says it must be '
        f"dead-lettered; {CREATED} was applied for it"
    )
    assert "1 event the pilot says must be dead-lettered was not" in accounted.summary
    summary = pilot_summary(run_set([as_run(t, "r1")]), EconomicsConfig(), {"min_txns": 1})
    assert summary["measured"]["good"] == 4  # acked: the review sees it processed; the check blames


def test_a_declared_dead_letter_whose_effect_landed_anyway_is_a_finding() -> None:
    t = run_tables("dead_lettered", declared=True, applied=True)
    accounted = all_accounted(t["expected"], t["attempts"], t["outcomes"], effects=t["effects"])
    assert not accounted.ok
    assert (
        f'dead-lettered ("in ORDERS_DLQ (stream seq 4)"), but {CREATED} was applied'
        in (accounted.examples[0])
    )
    events = events_table(run_set([as_run(t, "r1")]))
    assert events.set_index("event_id").at["e3", "outcome"] == "dead_lettered"


def event(event_id: str, kind: str) -> CapturedRequest:
    return CapturedRequest(
        id=event_id, captured_at=datetime(2026, 1, 1, tzinfo=UTC), method="POST", path="/",
        headers={}, body=b"{}", signing="stripe", event_id=event_id, event_type=kind,
        entity_id=event_id, entity_version=1,
    )  # fmt: skip


def test_a_rule_bound_to_scenarios_holds_there_only() -> None:
    rules = [
        ExpectationRule(when={"event_type": "late"}, dead_letter=True, scenarios=("cut",)),
        ExpectationRule(when={"event_type": "late"}, effect="erp:order.updated", times="any"),
    ]
    events = [event("e1", "late")]
    cut = expected_rows("r", events, frozenset(), rules, ["erp"], "cut")
    assert cut[0]["dead_letter"] is True and cut[0]["allowed_effect"] == ""
    whole = expected_rows("r", events, frozenset(), rules, ["erp"], "baseline")
    assert whole[0]["dead_letter"] is False and whole[0]["allowed_effect"] == "erp:order.updated"
    # The hunt draws its own scenarios: a bound rule never holds there.
    assert expected_rows("r", events, frozenset(), rules, ["erp"])[0]["dead_letter"] is False


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dead_letter": True, "effect": CREATED}, "a dead-lettered event causes nothing"),
        ({"dead_letter": True, "refuse": True}, "refused or dead-lettered, not both"),
    ],
)
def test_a_dead_letter_rule_that_asks_two_things_is_refused(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ExpectationRule(when={"event_type": "x"}, **fields)


def test_the_hardened_queue_pilot_declares_os_012_in_the_20_message_scenarios() -> None:
    pilot = load_pilot(REPO / "pilots" / "queue-hardened.toml")
    bound = [r for r in pilot.spec.expectations if r.dead_letter]
    assert len(bound) == 1
    assert set(bound[0].scenarios) == {"consumer-cut", "consumer-resets"}
    for name in bound[0].scenarios:
        assert pilot.spec.scenarios[name].delivery.limit == 20


def test_a_scenario_file_replays_against_a_pilot_whose_rules_name_its_scenarios(
    tmp_path: Path,
) -> None:
    # A hunt's counterexample brings its own scenario; the pilot's bound rule stays valid.
    pilot = load_pilot(REPO / "pilots" / "queue-naive.toml")
    case = tmp_path / "counterexample.toml"
    case.write_text('[scenarios.hunt-1]\ndescription = "found"\ndelivery = { rate = 5 }\n')
    assert list(load_scenario_file(case, pilot)) == ["hunt-1"]
