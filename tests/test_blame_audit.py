"""Blame audit: for each invariant and for the verdict, a correct-but-unusual
workflow is not blamed, and a defective one next to it still is.

Unusual but correct: it refuses some events by design, answers slowly within
its SLO, or meets a partner that rejects a few of its calls (the pilot's
contract is wrong, not the workflow). Hand-written journal tables pin the pure
checks; real drills (the Node-RED flow, the naive Python workflow) pin the
whole path from a process's answers to the exit code.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cli_kit import Ran, chaoslab
from pilot_tree import naive_logistics_pilot, pilot_tree

from harness.checks.all_accounted import all_accounted
from harness.checks.answers import refusals
from harness.checks.contract import contract
from harness.checks.final_state import final_state
from harness.checks.politeness import call_budget
from harness.checks.registry import check_all, contract_only
from harness.checks.slo import slo
from harness.drill.workflow_log import crashes
from harness.inputs.expectations import ExpectationRule, pilot_mistakes
from harness.journal import Run, empty_frame, frame, load_run
from harness.report.analysis import events_table, pilot_summary, run_set
from harness.report.economics import EconomicsConfig

REPO = Path(__file__).resolve().parents[1]
CREATED = "erp:order.created"
SLO = {"p95_latency_ms": 1000, "success_rate": 0.9}


def exp(
    event: str, key: str, effect: str = CREATED, refuse: str = "", **more: Any
) -> dict[str, Any]:
    return {
        "event_id": event,
        "event_type": "order",
        "entity_id": key,
        "entity_version": more.pop("version", 1),
        "partner": "erp" if effect else "",
        "expected_effect": effect,
        "refuse": refuse,
        "dropped": False,
        **more,
    }


def att(
    event: str, n: int, status: int | None, at: float = 0.0, answer: str = ""
) -> dict[str, Any]:
    ok = status is not None and status < 300
    return {
        "event_id": event,
        "attempt": n,
        "sent_at": at,
        "finished_at": at + 0.05,
        "latency_ms": 50.0,
        "status": status,
        "error_class": "" if ok else ("http_4xx" if status and status < 500 else "reset"),
        "answer": "" if ok else answer,
    }


def eff(event: str, key: str, at: float, version: int | None = 1) -> dict[str, Any]:
    return {
        "at": at,
        "partner": "erp",
        "kind": CREATED,
        "business_key": key,
        "entity_version": version,
        "event_id": event,
    }


def out(event: str, outcome: str, detail: str = "") -> dict[str, Any]:
    return {"event_id": event, "outcome": outcome, "detail": detail}


def tables(
    expected: list[dict[str, Any]],
    attempts: list[dict[str, Any]],
    effects: list[dict[str, Any]],
    outcomes: list[dict[str, Any]] | None = None,
    requests: list[dict[str, Any]] | None = None,
) -> dict[str, pd.DataFrame]:
    return {
        "expected": frame("expected", expected),
        "attempts": frame("attempts", attempts),
        "effects": frame("effects", effects),
        "outcomes": frame("outcomes", outcomes or []),
        "requests": frame("requests", requests or []),
    }


def by_name(results: list[Any]) -> dict[str, Any]:
    return {r.name: r for r in results}


# ---------------------------------------------------------------- refusals

NO_ID = '{"error":"order has no id"}'


def refusing(expect_refusal: str = "400-499", effect: str = "") -> dict[str, pd.DataFrame]:
    """Two orders processed; a third event refused with 400 on every attempt."""
    return tables(
        [exp("e1", "o1"), exp("e2", "o2"), exp("e3", "", effect=effect, refuse=expect_refusal)],
        [
            att("e1", 1, 200, 0.0),
            att("e2", 1, 200, 0.1),
            *[att("e3", n, 400, 0.2 + n, NO_ID) for n in range(1, 4)],
        ],
        [eff("e1", "o1", 0.04), eff("e2", "o2", 0.14)],
        [out("e1", "processed"), out("e2", "processed")],
    )


def test_a_refusal_by_design_is_accounted_for_not_lost() -> None:
    for declared in ("400-499", ""):  # declared, or nothing expected of the event
        t = refusing(declared)
        results = by_name(check_all(t, SLO))
        assert all(r.ok for r in results.values()), {n: r.summary for n, r in results.items()}
        accounted = results["all_accounted"]
        assert accounted.counts["refused"] == 1 and accounted.counts["lost"] == 0
        assert "1 refused by design" in accounted.summary
        assert results["slo"].counts["success_rate"] == 1.0
        # Without an outcomes source, the answer is still the evidence.
        blind = all_accounted(t["expected"], t["attempts"], t["outcomes"], outcomes_known=False)
        assert blind.ok and blind.counts["refused"] == 1, blind.summary
        assert "never" not in blind.summary


def test_a_refusal_where_an_effect_was_expected_is_blamed_with_status_and_body() -> None:
    t = refusing("", effect=CREATED)
    t["expected"] = frame(
        "expected", [exp("e1", "o1"), exp("e2", "o2"), exp("e3", "o3", effect=CREATED)]
    )
    results = by_name(check_all(t, SLO))
    once = results["exactly_once"]
    assert not once.ok and once.counts["refused"] == 1 and once.counts["lost"] == 0
    assert once.examples[0].startswith("refused e3")
    assert f'last answered 400 "{NO_ID}"' in once.examples[0]
    accounted = results["all_accounted"]
    assert not accounted.ok and accounted.counts["refused_wrongly"] == 1
    assert accounted.examples == [f'e3 refused with 400 "{NO_ID}" where {CREATED} was expected']
    assert not results["slo"].ok  # 2 of 3 ended well, under the 90 % target


def test_a_refusal_with_another_status_or_an_accepted_refusal_is_blamed() -> None:
    t = refusing("409-409")
    found = all_accounted(t["expected"], t["attempts"], t["outcomes"])
    assert not found.ok and "declared 409-409" in found.examples[0]
    # The pilot says e3 must be refused; the workflow took it.
    t = refusing("400-499")
    t["attempts"] = frame("attempts", [att("e1", 1, 200), att("e2", 1, 200), att("e3", 1, 200)])
    found = all_accounted(t["expected"], t["attempts"], t["outcomes"])
    assert not found.ok and found.counts["accepted_not_refused"] == 1
    assert "must be refused" in found.examples[0]


def test_an_event_answered_4xx_every_time_is_never_called_never_delivered() -> None:
    t = refusing("", effect=CREATED)
    blind = all_accounted(t["expected"], t["attempts"], t["outcomes"], outcomes_known=False)
    assert not blind.ok and blind.counts["lost"] == 0
    assert blind.examples == [f'e3 refused with 400 "{NO_ID}" where {CREATED} was expected']
    assert "never delivered" not in blind.summary
    # An event that was never answered at all is lost, described by its last try.
    lost = all_accounted(
        frame("expected", [exp("e9", "o9")]),
        frame("attempts", [att("e9", 1, 500, 0, "boom"), att("e9", 2, None, 1)]),
        frame("outcomes", []),
    )
    assert lost.examples == ["e9 never answered 2xx (2 attempts, last reset), no outcome"]


def test_a_crash_in_the_workflow_log_is_quoted_with_the_event_it_names() -> None:
    log = "\n".join(
        [
            "INFO: handling evt_crash1",
            "ERROR: Exception in ASGI application",
            "Traceback (most recent call last):",
            '  File "app.py", line 9, in webhook',
            "    await partner.post(body)",
            "ConnectionResetError: [Errno 104] Connection reset by peer",
            "INFO: 200 OK",
        ]
    )
    found = crashes(log, {"evt_crash1", "evt_other"})
    assert found[0]["event_id"] == "evt_crash1"
    assert found[0]["line"].startswith("ConnectionResetError: [Errno 104]")
    assert found[0]["where"] == "workflow.log:6"
    result = all_accounted(
        frame("expected", [exp("evt_crash1", "o1")]),
        frame("attempts", [att("evt_crash1", 1, None)]),
        frame("outcomes", []),
        crashes=found,
    )
    assert not result.ok
    assert 'the workflow logged "ConnectionResetError' in result.examples[0]
    # A clean log quotes nothing.
    assert crashes("INFO: started\nINFO: 200 OK\n", {"evt_crash1"}) == []


# ---------------------------------------------------------------- slow answers


def slow_run(slow_ms: float, dead: bool = False) -> dict[str, pd.DataFrame]:
    """Ten orders; three slow ones; with ``dead``, an eleventh dead-lettered."""
    expected = [exp(f"e{i}", f"o{i}") for i in range(11 if dead else 10)]
    attempts, effects, outcomes = [], [], []
    for i in range(10):
        took = slow_ms / 1000 if i < 3 else 0.05
        attempts.append(att(f"e{i}", 1, 200, float(i)))
        effects.append(eff(f"e{i}", f"o{i}", float(i) + took))
        outcomes.append(out(f"e{i}", "processed"))
    if dead:
        attempts.append(att("e10", 1, 200, 10.0))
        outcomes.append(out("e10", "dead_lettered", "no ticket yet for o10"))
    return tables(expected, attempts, [*effects], outcomes)


def test_slow_within_the_slo_is_not_blamed_and_outside_is() -> None:
    t = slow_run(900)  # 3 of 10 at 900 ms: p95 900 ms against 1,000
    within = slo(t["attempts"], t["effects"], 1000, 0.9, t["outcomes"], t["expected"])
    assert within.ok and within.examples == []
    t = slow_run(1500)
    over = slo(t["attempts"], t["effects"], 1000, 0.9, t["outcomes"], t["expected"])
    assert not over.ok
    assert len(over.examples) == 3
    assert all("over the 1,000 ms target" in x for x in over.examples)


def test_the_slo_names_the_event_that_broke_it_with_its_detail() -> None:
    # Success 10/11 < 0.95: the dead-lettered event broke it, not the slow ones.
    t = slow_run(900, dead=True)
    t["expected"] = frame(
        "expected",
        [
            *[exp(f"e{i}", f"o{i}") for i in range(10)],
            exp("e10", "o10", fixture_id="rec-11", note="a ticket update before its create"),
        ],
    )
    broken = slo(t["attempts"], t["effects"], 1000, 0.95, t["outcomes"], t["expected"])
    assert not broken.ok
    assert broken.examples == [
        'e10 (fixture rec-11: "a ticket update before its create") did not end well '
        '(outcome dead_lettered: "no ticket yet for o10", 1 attempt)'
    ]
    # The detail is in the review's events table too.
    run = Run(run_dir=Path("slo"), meta={"run_id": "slo", "scenario": "s", "slo": SLO}, **t)
    events = events_table(run_set([run]), 1000)
    assert events.set_index("event_id").at["e10", "detail"] == "no ticket yet for o10"


# ---------------------------------------------------------------- contract


REJECTED = "body.amount: must be integer"


def contract_run(lost_too: bool) -> dict[str, pd.DataFrame]:
    """Seven orders; the partner rejects o5's call (400) before any effect."""
    expected = [exp(f"e{i}", f"o{i}") for i in range(7)]
    attempts = [att(f"e{i}", 1, 200, float(i)) for i in range(7)]
    effects = [eff(f"e{i}", f"o{i}", i + 0.05) for i in range(7) if i != 5]
    requests = [
        {"partner": "erp", "method": "POST", "path": "/orders", "route": "create order",
         "status": 201, "business_key": f"o{i}", "event_id": f"e{i}"}
        for i in range(7) if i != 5
    ] + [
        {"partner": "erp", "method": "POST", "path": "/orders", "route": "create order",
         "status": 400, "reason": REJECTED, "business_key": "o5", "event_id": ""}
    ] * 3  # fmt: skip
    outcomes = [out(f"e{i}", "processed") for i in range(7) if i != 5]
    if lost_too:  # the defective one also drops o6's effect, with no excuse
        effects = [e for e in effects if e["business_key"] != "o6"]
        requests = [r for r in requests if r["business_key"] != "o6"]
    return tables(expected, attempts, effects, outcomes, requests)


def test_a_partial_contract_mismatch_is_a_contract_finding_not_a_loss() -> None:
    t = contract_run(lost_too=False)
    finding = contract(t["requests"], t["expected"], t["effects"])
    assert finding.events == {"e5"}
    assert finding.result.examples == [f"erp: POST create order -> 400 {REJECTED} (3 calls)"]
    results = check_all(t, SLO)
    named = by_name(results)
    assert named["exactly_once"].ok and named["exactly_once"].counts["lost"] == 0
    assert named["all_accounted"].ok
    assert not named["contract"].ok and "3 of 9 partner calls" in named["contract"].summary
    assert contract_only(results)


def test_examples_are_the_events_that_broke_it_not_those_accounted_for() -> None:
    t = slow_run(100, dead=True)  # e10 dead-lettered, with its detail; nothing broken
    ok = by_name(check_all(t, SLO))["exactly_once"]
    assert ok.ok and ok.examples == [
        'dead-lettered e10 (erp:order.created for o10): "no ticket yet for o10"'
    ]
    # e9's effect goes missing with no excuse: that is the example, not e10.
    t["effects"] = t["effects"][t["effects"]["event_id"] != "e9"]
    broken = by_name(check_all(t, SLO))["exactly_once"]
    assert not broken.ok
    assert broken.examples == ["lost e9 (erp:order.created for o9), outcome processed"]


def test_a_loss_beside_a_contract_mismatch_is_still_blamed() -> None:
    results = check_all(contract_run(lost_too=True), SLO)
    named = by_name(results)
    assert named["exactly_once"].counts["lost"] == 1
    assert "e6" in named["exactly_once"].examples[0]
    assert not contract_only(results)


def test_injected_faults_and_a_lookup_before_create_are_no_contract_finding() -> None:
    calls = [
        {"partner": "erp", "status": 400, "reason": "injected 400", "route": "create"},
        {"partner": "erp", "status": 404, "reason": "order o1 not found", "route": "update"},
        {"partner": "erp", "status": 422, "route": "create",
         "reason": "idempotency key reused with another body"},
    ]  # fmt: skip
    finding = contract(frame("requests", calls), empty_frame("expected"), empty_frame("effects"))
    assert finding.result.ok and finding.events == frozenset()


# ---------------------------------------------------------------- judged nothing


def test_a_check_with_nothing_to_judge_says_so_and_a_real_one_still_fails() -> None:
    unversioned = frame("expected", [exp("e1", "o1", version=None)])
    result = final_state(unversioned, frame("effects", [eff("e1", "o1", 1.0, None)]))
    assert result.ok and result.judged_nothing
    assert result.summary.startswith("Judged nothing")
    assert "All 0" not in result.summary
    stale = final_state(
        frame("expected", [exp("e1", "o1", version=1), exp("e2", "o1", version=2)]),
        frame("effects", [eff("e1", "o1", 1.0, 1)]),
    )
    assert not stale.ok and stale.judged == 1 and not stale.judged_nothing


# ---------------------------------------------------------------- the pilot's own mistakes


def test_the_pilots_own_mistakes_are_named_before_the_workflow_is_judged() -> None:
    rules = [ExpectationRule(when={"event_type": "ordr"}, effect=CREATED, key="body.nope")]
    rows = [{"event_id": f"e{i}", "event_type": "order", "rule": -1} for i in range(3)]
    errors, _ = pilot_mistakes(rows, rules)
    assert errors and "no [[expectations]] rule matched any of the 3 events" in errors[0]
    keyed = [{**r, "rule": 0, "entity_id": "", "expected_effect": CREATED} for r in rows]
    errors, _ = pilot_mistakes(keyed, rules)
    assert errors == [
        "[[expectations]] #1 key: 'body.nope' is empty for all 3 events the rule matched "
        "(e.g. e0): no effect could be tied to them"
    ]
    good = [{**r, "entity_id": f"o{i}"} for i, r in enumerate(keyed)]
    assert pilot_mistakes(good, rules) == ([], [])
    # Calls to a partner nothing is expected of are the pilot's question, not a storm.
    calls = frame("requests", [{"partner": "erp", "status": 201}] * 40)
    budget = call_budget(frame("expected", [exp("e1", "o1", effect="")]), calls)
    assert not budget.ok and "retry storm" not in budget.summary
    assert "[[expectations]]" in budget.summary
    storm = call_budget(frame("expected", [exp("e1", "o1")]), calls)
    assert not storm.ok and "retry storm" in storm.summary.lower()


# ---------------------------------------------------------------- the verdict


def as_run(t: dict[str, pd.DataFrame], run_id: str) -> Run:
    meta = {"run_id": run_id, "scenario": "s", "slo": SLO, "pilot": {"name": "p"}}
    return Run(run_dir=Path(run_id), meta=meta, **t)


def test_the_verdict_counts_a_refusal_by_design_as_good_and_a_wrong_one_as_failed() -> None:
    econ = EconomicsConfig()
    fine = pilot_summary(run_set([as_run(refusing(), "fine")]), econ, {"min_txns": 1})
    assert fine["measured"]["lost"] == 0 and fine["measured"]["good"] == 3
    assert not any("lost" in reason for reason in fine["reasons"])
    wrong = refusing("", effect=CREATED)
    wrong["expected"] = frame(
        "expected", [exp("e1", "o1"), exp("e2", "o2"), exp("e3", "o3", effect=CREATED)]
    )
    bad = pilot_summary(run_set([as_run(wrong, "bad")]), econ, {"min_txns": 1})
    assert bad["measured"]["good"] == 2 and bad["measured"]["lost"] == 1
    assert refusals(wrong["expected"], wrong["attempts"])["e3"].describe() == (
        f'refused with 400 "{NO_ID}" where {CREATED} was expected'
    )


def test_the_verdict_leaves_a_contract_mismatch_out_and_still_counts_a_loss() -> None:
    econ = EconomicsConfig()
    fine = pilot_summary(run_set([as_run(contract_run(False), "c")]), econ, {"min_txns": 1})
    # o5's rejected calls are the contract finding's: six transactions, none lost.
    assert fine["measured"]["transactions"] == 6 and fine["measured"]["lost"] == 0
    bad = pilot_summary(run_set([as_run(contract_run(True), "d")]), econ, {"min_txns": 1})
    assert bad["measured"]["transactions"] == 6 and bad["measured"]["good"] == 5


# ---------------------------------------------------------------- real drills


def naive_pilot(tmp_path: Path, *, contract_mismatch: bool) -> Path:
    """The naive order-sync workflow; one order's create needs a field it never sends."""
    partner = (REPO / "pilots/partners/logistics.toml").read_text()
    route = '[[routes]]\nname = "create shipment"'
    assert route in partner
    picky = (
        '[[routes]]\nname = "create shipment, picky"\nmethod = "POST"\n'
        'path = "/v1/shipments"\nwhen = { "body.order_id" = "ord_2ntofKN9l9haQl" }\n'
        'effect = "shipment.created"\nkey = "body.order_id"\nversion = "body.version"\n'
        'required = ["body.order_id", "body.carrier"]\nstatus = 201\n\n'
    )
    logistics = partner.replace(route, picky + route, 1) if contract_mismatch else partner
    tail = (
        'key = "body.data.object.metadata.order_id"\n'
        "[slo]\np95_latency_ms = 5000\nsuccess_rate = 0.5\n"
        "[scenarios.short]\ndelivery = { limit = 3 }\n"
    )
    return naive_logistics_pilot(tmp_path, "blame-contract", logistics, tail)


def drill_cli(pilot: Path, reports: Path) -> Ran:
    # In-process: what is checked is what `chaoslab drill` says and its exit code.
    return chaoslab(
        "drill", str(pilot), "--quiet", "--reports", str(reports),
        cwd=pilot.parent, env={"PYTHONPATH": str(REPO), "COLUMNS": "200"},
    )  # fmt: skip


@pytest.mark.slow
def test_a_real_partial_contract_mismatch_exits_2_and_loses_nothing(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    done = drill_cli(naive_pilot(tmp_path, contract_mismatch=True), reports)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "lost" not in done.stdout.replace("not as lost", "")
    (run_dir,) = list((reports / "runs").iterdir())
    run = load_run(run_dir)
    assert run.meta["contract_only"] is True
    named = {r["name"]: r for r in run.meta["invariants"]}
    assert named["exactly_once"]["ok"] and named["exactly_once"]["counts"]["lost"] == 0
    assert not named["contract"]["ok"]
    assert named["contract"]["examples"][0].startswith(
        "logistics: POST create shipment, picky -> 400 body.carrier: required ("
    )
    assert named["contract"]["counts"]["events"] == 1


@pytest.mark.slow
def test_the_same_workflow_with_an_honest_partner_passes(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    done = drill_cli(naive_pilot(tmp_path, contract_mismatch=False), reports)
    assert done.returncode == 0, done.stdout + done.stderr


needs_node_red = pytest.mark.skipif(
    shutil.which("node") is None
    or not (REPO / "workflows/shop-orders-nodered/node_modules/node-red").exists(),
    reason="Node-RED is not installed (make nodered)",
)


def shop_orders_drill(tmp_path: Path, *, declare_refusal: bool) -> Any:
    from harness.drill import run_drill
    from harness.inputs.pilot import load_pilot

    pilots = pilot_tree(tmp_path / "tree")
    path = pilots / "shop-orders.toml"
    text = path.read_text()
    rule = (
        '[[expectations]]\nwhen = { event_type = "orders/updated", entity_id = "" }\nrefuse = 400\n'
    )
    assert rule in text
    if not declare_refusal:
        path.write_text(text.replace(rule, ""))
    pilot = load_pilot(path)
    return asyncio.run(run_drill(pilot, "baseline", reports=tmp_path / "reports"))


@pytest.mark.slow
@needs_node_red
def test_the_node_red_flow_refuses_by_design_loses_nothing_and_still_duplicates(
    tmp_path: Path,
) -> None:
    result = shop_orders_drill(tmp_path, declare_refusal=True)
    named = by_name(result.results)
    accounted = named["all_accounted"]
    assert accounted.ok, accounted.summary
    assert accounted.counts["refused"] == 1 and accounted.counts["lost"] == 0
    assert named["slo"].ok
    # The flow's naive half is still caught: its redelivered create is a second order.
    once = named["exactly_once"]
    assert not once.ok and once.counts["duplicated"] == 1 and once.counts["lost"] == 0
    assert named["final_state"].judged_nothing  # the ERP keeps no versions
    attempts = load_run(result.run_dir).attempts
    refused = attempts[attempts["status"] == 400]
    assert len(refused) == 5  # Shopify's four retries after the first answer
    assert json.loads(refused["answer"].iloc[0])["error"].startswith("orders/updated without")


@pytest.mark.slow
@needs_node_red
def test_the_node_red_refusal_undeclared_is_blamed_on_the_pilots_word(tmp_path: Path) -> None:
    result = shop_orders_drill(tmp_path, declare_refusal=False)
    accounted = by_name(result.results)["all_accounted"]
    assert not accounted.ok
    assert accounted.counts["refused_wrongly"] == 1 and accounted.counts["lost"] == 0
    (example,) = accounted.examples
    assert "refused with 400" in example and "erp:sales_order.updated was expected" in example
    assert "fixture so-026" in example


def test_the_console_shows_the_workflows_own_words_and_what_judged_nothing() -> None:
    from rich.console import Console

    from harness.commands.drill import result_view
    from harness.drill.run import DrillResult
    from harness.replay.sender import SendStats

    t = slow_run(900, dead=True)
    results = check_all(t, {"p95_latency_ms": 1000, "success_rate": 0.9})
    drill = DrillResult(
        run_id="r", run_dir=Path("r"), pilot="p", scenario="s", seed=1,
        results=results, stats=SendStats(), duration_s=1.0,
        workflow_errors=[{"line": "TypeError: x is undefined", "where": "workflow.log:3",
                          "event_id": "e10"}],
    )  # fmt: skip
    console = Console(record=True, width=300)
    console.print(result_view(drill))
    text = console.export_text()
    assert 'dead-lettered e10 (erp:order.created for o10): "no ticket yet for o10"' in text
    assert "handling e10: TypeError: x is undefined (workflow.log:3)" in text
    # retry_after_honoured had no throttling answer to judge: n/a, not yes.
    (line,) = [x for x in text.splitlines() if x.strip().startswith("retry_after_honoured")]
    assert " n/a " in line and " yes " not in line
