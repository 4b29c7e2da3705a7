"""Invariants over small hand-written tables: each count has a case that moves it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from harness.checks.all_accounted import all_accounted
from harness.checks.exactly_once import exactly_once
from harness.checks.final_state import final_state
from harness.checks.latency import event_latencies
from harness.checks.outcomes import event_outcomes
from harness.checks.registry import all_ok, check_all
from harness.checks.slo import SloTargets, slo
from harness.checks.unexpected_effects import unexpected_effects
from harness.journal import empty_frame, frame

PAY = "payment_intent.succeeded"
UPD = "order.updated"
CREATED = "shipment.created"
UPDATED = "shipment.updated"


def exp(event: str, order: str, version: int = 1, dropped: bool = False) -> dict[str, Any]:
    kind = CREATED if version == 1 else UPDATED
    return {
        "event_id": event,
        "event_type": PAY if version == 1 else UPD,
        "entity_id": order,
        "entity_version": version,
        "expected_effect": kind,
        "dropped": dropped,
    }


def eff(order: str, version: int, at: float, event: str = "") -> dict[str, Any]:
    return {
        "at": at,
        "kind": CREATED if version == 1 else UPDATED,
        "business_key": order,
        "entity_version": version,
        "event_id": event,
        "idempotency_key": f"{order}-{version}",
    }


def out(event: str, outcome: str) -> dict[str, Any]:
    return {"event_id": event, "outcome": outcome, "detail": ""}


def att(
    event: str, n: int, sent: float, finished: float, status: int | None = 200
) -> dict[str, Any]:
    return {
        "event_id": event,
        "delivery_id": f"{event}-{n}",
        "attempt": n,
        "sent_at": sent,
        "finished_at": finished,
        "latency_ms": (finished - sent) * 1000,
        "status": status,
        "error_class": "" if status and status < 300 else "http_5xx" if status else "timeout",
    }


def exp_t(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return frame("expected", rows)


def eff_t(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return frame("effects", rows)


def out_t(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return frame("outcomes", rows)


def att_t(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return frame("attempts", rows)


# ---------------------------------------------------------------- exactly once


def test_exactly_once_clean_run() -> None:
    result = exactly_once(
        exp_t([exp("e1", "o1"), exp("e2", "o2"), exp("e3", "o1", 2)]),
        eff_t([eff("o1", 1, 0.1, "e1"), eff("o2", 1, 0.2, "e2"), eff("o1", 2, 0.3, "e3")]),
        out_t([out("e1", "processed"), out("e2", "processed"), out("e3", "processed")]),
    )
    assert result.ok
    assert result.counts["expected"] == 3
    assert result.counts["exactly_once"] == 3
    assert result.counts["lost"] == result.counts["duplicated"] == result.counts["unexpected"] == 0
    assert result.name == "exactly_once"
    assert result.summary.startswith("All 3 expected effects happened exactly once")


def test_lost_effect_names_the_event() -> None:
    result = exactly_once(
        exp_t([exp("e1", "o1"), exp("e2", "o2")]),
        eff_t([eff("o1", 1, 0.1, "e1")]),
        out_t([out("e1", "processed"), out("e2", "processed")]),
    )
    assert not result.ok
    assert result.counts["lost"] == 1
    assert any("e2" in x and "o2" in x and x.startswith("lost") for x in result.examples)
    assert "1 lost" in result.summary


def test_duplicate_effect_counted_once_per_extra() -> None:
    # The second and third shipments were not resolved to an event; kind + key ties them back.
    result = exactly_once(
        exp_t([exp("e1", "o1")]),
        eff_t([eff("o1", 1, 0.1, "e1"), eff("o1", 1, 0.2), eff("o1", 1, 0.3)]),
        out_t([out("e1", "processed"), out("e1", "duplicate")]),
    )
    assert not result.ok
    assert result.counts["duplicated"] == 2
    assert result.counts["duplicated_events"] == 1
    assert result.counts["exactly_once"] == 0
    assert any(x.startswith("duplicated e1: 3 ×") for x in result.examples)


def test_unexpected_effects() -> None:
    expected = exp_t([exp("e1", "o1"), exp("e2", "o2", dropped=True)])
    # o9 was never expected; e2 was deliberately dropped, so its shipment must not exist.
    effects = eff_t([eff("o1", 1, 0.1, "e1"), eff("o9", 1, 0.2), eff("o2", 1, 0.3, "e2")])
    result = unexpected_effects(expected, effects)
    assert not result.ok
    assert result.counts["unexpected"] == 2
    assert result.counts[f"unexpected {CREATED}"] == 2
    assert any("o9" in x for x in result.examples)
    assert any("event e2" in x for x in result.examples)
    # exactly_once counts them but leaves the judgement to unexpected_effects.
    once = exactly_once(expected, effects, out_t([out("e1", "processed")]))
    assert once.ok and once.counts["unexpected"] == 2


def test_allowed_effects_are_not_unexpected_but_other_kinds_are() -> None:
    rows = [
        exp("e1", "o1"),
        {**exp("e2", "o1", 2), "expected_effect": "", "allowed_effect": UPDATED},
    ]
    effects = [eff("o1", 1, 0.1), eff("o1", 2, 0.2), {**eff("o1", 2, 0.3), "kind": "refund.issued"}]
    result = unexpected_effects(exp_t(rows), eff_t(effects))
    assert result.counts["unexpected"] == 1
    assert result.examples == ["refund.issued for o1"]


def test_an_allowed_version_of_an_expected_kind_is_no_duplicate() -> None:
    # A record changed at its source: v1 may be created, v2 must be, once each.
    rows = [
        {**exp("e1", "o1"), "expected_effect": "", "allowed_effect": CREATED},
        {**exp("e1@v2", "o1", 2), "expected_effect": CREATED},
    ]
    effects = [eff("o1", 1, 0.1), {**eff("o1", 2, 0.2), "kind": CREATED}]
    assert exactly_once(exp_t(rows), eff_t(effects), out_t([])).ok
    twice = [*effects, {**eff("o1", 2, 0.3), "kind": CREATED}]
    assert exactly_once(exp_t(rows), eff_t(twice), out_t([])).counts["duplicated"] == 1


def test_entities_are_told_apart_by_partner() -> None:
    rows = [{**exp("e1", "k1"), "partner": "crm"}, {**exp("e2", "k1"), "partner": "erp"}]
    rows[1]["entity_version"] = 5
    effects = [{**eff("k1", 1, 0.1), "partner": "crm"}, {**eff("k1", 1, 0.2), "partner": "erp"}]
    result = final_state(exp_t(rows), eff_t(effects))
    # erp:k1 must end at v5 and holds v1; crm:k1 is right. One key alone would hide it.
    assert (result.counts["entities"], result.counts["correct"]) == (2, 1)


def test_without_outcomes_only_delivery_is_judged() -> None:
    expected = exp_t([exp("e1", "o1"), exp("e2", "o2")])
    attempts = att_t([att("e1", 1, 0.0, 0.1), att("e2", 1, 0.0, 0.1, status=500)])
    result = all_accounted(expected, attempts, out_t([]), outcomes_known=False)
    assert not result.ok
    assert result.counts["lost"] == 1 and result.counts["outcomes_unknown"] == 1
    assert "dead letters are unknown" in result.summary


def test_effect_for_wrong_entity_is_unexpected_and_the_right_one_lost() -> None:
    result = exactly_once(
        exp_t([exp("e1", "o1")]), eff_t([eff("o7", 1, 0.1, "e1")]), out_t([out("e1", "processed")])
    )
    assert (result.counts["unexpected"], result.counts["lost"]) == (1, 1)


def test_dead_lettered_is_accounted_not_lost() -> None:
    result = exactly_once(
        exp_t([exp("e1", "o1"), exp("e2", "o2")]),
        eff_t([eff("o1", 1, 0.1, "e1")]),
        out_t([out("e1", "processed"), out("e2", "dead_lettered")]),
    )
    assert result.ok
    assert result.counts["dead_lettered"] == 1
    assert result.counts["lost"] == 0
    assert "1 dead-lettered" in result.summary
    assert any(x.startswith("dead-lettered e2") for x in result.examples)


def test_superseded_update_is_accounted() -> None:
    result = exactly_once(
        exp_t([exp("e1", "o1"), exp("e2", "o1", 2), exp("e3", "o1", 3)]),
        eff_t([eff("o1", 1, 0.1, "e1"), eff("o1", 3, 0.2, "e3")]),
        out_t([out("e1", "processed"), out("e3", "processed"), out("e2", "superseded")]),
    )
    assert result.ok
    assert result.counts["superseded"] == 1


def test_unresolved_updates_match_by_version_not_as_duplicates() -> None:
    result = exactly_once(
        exp_t([exp("e2", "o1", 2), exp("e3", "o1", 3)]),
        eff_t([eff("o1", 3, 0.1), eff("o1", 2, 0.2)]),
        out_t([out("e2", "processed"), out("e3", "processed")]),
    )
    assert result.ok
    assert result.counts["exactly_once"] == 2


def test_processed_outranks_duplicate_when_the_effect_is_missing() -> None:
    result = exactly_once(
        exp_t([exp("e1", "o1")]), eff_t([]), out_t([out("e1", "duplicate"), out("e1", "processed")])
    )
    assert result.counts["lost"] == 1
    assert "outcome processed" in result.examples[0]
    assert (
        event_outcomes(out_t([out("e1", "duplicate"), out("e1", "processed")]))["e1"] == "processed"
    )


def test_empty_tables_are_valid() -> None:
    result = exactly_once(empty_frame("expected"), empty_frame("effects"), empty_frame("outcomes"))
    assert result.ok
    assert result.counts["expected"] == 0


# ---------------------------------------------------------------- all accounted


def test_all_accounted_clean() -> None:
    result = all_accounted(
        exp_t([exp("e1", "o1"), exp("e2", "o1", 2)]),
        att_t([att("e1", 1, 0, 0.1), att("e2", 1, 0.1, 0.2)]),
        out_t([out("e1", "processed"), out("e2", "superseded")]),
    )
    assert result.ok
    assert result.counts["events"] == 2
    assert result.counts["processed"] == 1
    assert result.counts["superseded"] == 1


def test_delivered_without_outcome_is_unaccounted() -> None:
    result = all_accounted(
        exp_t([exp("e1", "o1"), exp("e2", "o2")]),
        att_t([att("e1", 1, 0, 0.1), att("e2", 1, 0, 0.1, 503), att("e2", 2, 0.3, 0.4)]),
        out_t([out("e1", "processed")]),
    )
    assert not result.ok
    assert result.counts["unaccounted"] == 1
    assert result.counts["delivered"] == 2
    assert result.examples == ["e2 delivered, outcome none"]


def test_never_delivered_is_lost_unless_the_workflow_reports_it() -> None:
    expected = exp_t([exp("e1", "o1"), exp("e2", "o2"), exp("e3", "o3", dropped=True)])
    attempts = att_t(
        [att("e1", 1, 0, 2.0, None), att("e1", 2, 2.1, 4.0, 503), att("e2", 1, 0, 2.0, None)]
    )
    result = all_accounted(expected, attempts, out_t([out("e2", "processed")]))
    assert not result.ok
    assert result.counts["lost"] == 1
    assert result.counts["unacknowledged"] == 1
    assert result.counts["dropped"] == 1
    assert result.counts["events"] == 2
    assert result.examples == ["e1 never answered 2xx (2 attempts, last answered 503), no outcome"]


def test_dead_lettered_and_duplicate_are_terminal() -> None:
    result = all_accounted(
        exp_t([exp("e1", "o1"), exp("e2", "o2")]),
        att_t([att("e1", 1, 0, 0.1), att("e2", 1, 0, 0.1)]),
        out_t([out("e1", "dead_lettered"), out("e2", "duplicate")]),
    )
    assert result.ok
    assert (result.counts["dead_lettered"], result.counts["duplicate"]) == (1, 1)


def test_unknown_outcome_value_fails() -> None:
    result = all_accounted(
        exp_t([exp("e1", "o1")]), att_t([att("e1", 1, 0, 0.1)]), out_t([out("e1", "done")])
    )
    assert not result.ok
    assert result.counts["invalid_outcomes"] == 1
    assert result.counts["unaccounted"] == 1


def test_dropped_event_delivered_anyway_must_be_accounted() -> None:
    result = all_accounted(
        exp_t([exp("e1", "o1", dropped=True)]), att_t([att("e1", 1, 0, 0.1)]), out_t([])
    )
    assert not result.ok
    assert result.counts["unaccounted"] == 1


# ---------------------------------------------------------------- final state


def updates(*versions_at: tuple[int, float]) -> pd.DataFrame:
    return eff_t([eff("o1", v, at) for v, at in versions_at])


EXP_3 = [exp("e1", "o1"), exp("e2", "o1", 2), exp("e3", "o1", 3)]


def test_final_state_in_order() -> None:
    result = final_state(exp_t(EXP_3), updates((1, 0.1), (2, 0.2), (3, 0.3)))
    assert result.ok
    assert result.counts["correct"] == 1


def test_reordered_write_overwrites_newer_version() -> None:
    # v3 landed first, then the late v2 was applied on top: a lost update.
    result = final_state(exp_t(EXP_3), updates((1, 0.1), (3, 0.2), (2, 0.3)))
    assert not result.ok
    assert result.counts["lost_updates"] == 1
    assert result.counts["overwritten"] == 1
    assert result.examples == ["overwritten o1: v3 applied, then overwritten by v2"]


def test_order_is_by_time_not_by_row() -> None:
    result = final_state(exp_t(EXP_3), updates((2, 0.3), (1, 0.1), (3, 0.5)))
    assert result.ok


def test_newest_version_never_applied_is_stale() -> None:
    result = final_state(exp_t(EXP_3), updates((1, 0.1), (2, 0.2)))
    assert result.counts["stale"] == 1
    assert result.counts["lost_updates"] == 1
    assert not result.ok


def test_dead_lettered_newest_version_is_reported_not_failed() -> None:
    outcomes = out_t([out("e1", "processed"), out("e2", "processed"), out("e3", "dead_lettered")])
    result = final_state(exp_t(EXP_3), updates((1, 0.1), (2, 0.2)), outcomes)
    assert result.ok
    assert result.counts["dead_lettered"] == 1


def test_missing_and_ahead_entities() -> None:
    expected = exp_t([exp("e1", "o1"), exp("e2", "o2"), exp("e9", "o2", 5, dropped=True)])
    result = final_state(expected, eff_t([eff("o2", 1, 0.1), eff("o2", 5, 0.2)]))
    assert result.counts["missing"] == 1
    assert result.counts["ahead"] == 1
    assert result.counts["entities"] == 2
    assert not result.ok


# ---------------------------------------------------------------- SLO


def quick_events(n: int, slow: int = 0, slow_s: float = 5.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    attempts, effects = [], []
    for i in range(n):
        sent = float(i)
        took = slow_s if i < slow else 0.05
        attempts.append(att(f"e{i}", 1, sent, sent + 0.01))
        effects.append(eff(f"o{i}", 1, sent + took, f"e{i}"))
    return att_t(attempts), eff_t(effects)


def test_slo_pass() -> None:
    attempts, effects = quick_events(40)
    result = slo(attempts, effects, p95_ms=1000, success_rate=0.99)
    assert result.ok
    assert result.counts["p95_ms"] == pytest.approx(50.0)
    assert result.counts["success_rate"] == 1.0
    assert "meets its SLO" in result.summary


def test_slo_fails_on_latency_tail() -> None:
    # 3 of 40 slow: the nearest-rank p95 (38th value) is slow.
    attempts, effects = quick_events(40, slow=3)
    result = slo(attempts, effects, p95_ms=1000, success_rate=0.99)
    assert not result.ok
    assert result.counts["p95_ms"] == pytest.approx(5000.0)
    assert result.examples[0].endswith("took 5,000 ms, over the 1,000 ms target")
    # 2 of 40 slow stay within p95.
    attempts, effects = quick_events(40, slow=2)
    assert slo(attempts, effects, p95_ms=1000, success_rate=0.99).ok


def test_slo_fails_on_success_rate() -> None:
    attempts, effects = quick_events(19)
    failing = att_t([att("bad", 1, 0, 2, None), att("bad", 2, 3, 3.1, 500)])
    result = slo(pd.concat([attempts, failing]), effects, p95_ms=1000, success_rate=0.99)
    assert not result.ok
    assert result.counts["success_rate"] == pytest.approx(0.95)
    assert any(x.startswith("bad did not end well") and "2 attempts" in x for x in result.examples)


def test_latency_uses_last_ok_attempt_when_no_effect_and_first_sent() -> None:
    attempts = att_t([att("e1", 1, 1.0, 3.0, None), att("e1", 2, 3.5, 3.7, 200)])
    per = event_latencies(attempts, empty_frame("effects"))
    assert per.loc["e1", "latency_ms"] == pytest.approx(2700.0)
    assert per.loc["e1", "attempts"] == 2
    assert bool(per.loc["e1", "delivered"])


def test_dead_lettered_event_did_not_end_well() -> None:
    attempts, effects = quick_events(3)
    outcomes = out_t([out("e0", "processed"), out("e1", "processed"), out("e2", "dead_lettered")])
    result = slo(attempts, effects, p95_ms=1000, success_rate=0.5, outcomes=outcomes)
    assert result.counts["ended_well"] == 2
    assert result.ok
    strict = slo(attempts, effects, p95_ms=1000, success_rate=0.99, outcomes=outcomes)
    assert not strict.ok


def test_slo_with_no_events_is_not_shown() -> None:
    result = slo(empty_frame("attempts"), empty_frame("effects"), 1000, 0.99)
    assert not result.ok
    assert result.counts["events"] == 0


# ---------------------------------------------------------------- check_all


@dataclass
class PilotSlo:
    p95_latency_ms: float
    success_rate: float


def test_check_all_runs_every_invariant() -> None:
    tables = {
        "expected": exp_t([exp("e1", "o1"), exp("e2", "o1", 2)]),
        "attempts": att_t([att("e1", 1, 0, 0.1), att("e2", 1, 0.2, 0.3)]),
        "effects": eff_t([eff("o1", 1, 0.05, "e1"), eff("o1", 2, 0.25, "e2")]),
        "outcomes": out_t([out("e1", "processed"), out("e2", "processed")]),
    }
    results = check_all(tables, PilotSlo(p95_latency_ms=500, success_rate=0.99))
    assert [r.name for r in results] == [
        "exactly_once",
        "unexpected_effects",
        "all_accounted",
        "final_state",
        "slo",
        # Politeness needs the requests table, which these tables lack.
        "dead_lettered_applied",
    ]
    assert all_ok(results)
    tables["effects"] = eff_t([eff("o1", 2, 0.25, "e2"), eff("o1", 1, 0.3, "e1")])
    broken = {r.name: r.ok for r in check_all(tables, {"p95_ms": 500, "success_rate": 0.99})}
    assert broken == {
        "exactly_once": True,
        "unexpected_effects": True,
        "all_accounted": True,
        "final_state": False,
        "slo": True,
        "dead_lettered_applied": True,
    }


def test_slo_targets_need_both_values() -> None:
    assert SloTargets.of({"p95_latency_ms": 3000, "success_rate": 0.99}).p95_ms == 3000
    with pytest.raises(ValueError, match="success_rate"):
        SloTargets.of({"p95_ms": 3000})
    with pytest.raises(ValueError, match="lack"):
        check_all({"attempts": empty_frame("attempts")}, {"p95_ms": 1, "success_rate": 1})


# ---------------------------------------------------------------- the drill's shape


def update_row(event: str, order: str, version: int) -> dict[str, Any]:
    # The drill expects no countable effect from updates; final_state judges them.
    return {**exp(event, order, version), "expected_effect": ""}


def test_updates_without_expected_effect_are_untracked_not_unexpected() -> None:
    expected = exp_t([exp("e1", "o1"), update_row("e2", "o1", 2), update_row("e3", "o1", 3)])
    effects = eff_t([eff("o1", 1, 0.1, "e1"), eff("o1", 2, 0.2, "e2"), eff("o1", 3, 0.3)])
    result = exactly_once(expected, effects, out_t([out("e1", "processed")]))
    assert result.ok
    assert result.counts["untracked"] == 2
    assert result.counts["expected"] == 1


def test_final_state_targets_updates_without_expected_effect() -> None:
    expected = exp_t([exp("e1", "o1"), update_row("e2", "o1", 2), update_row("e3", "o1", 3)])
    stale = final_state(expected, eff_t([eff("o1", 1, 0.1), eff("o1", 2, 0.2)]))
    assert stale.counts["stale"] == 1
    overwritten = final_state(
        expected, eff_t([eff("o1", 1, 0.1), eff("o1", 3, 0.2), eff("o1", 2, 0.3)])
    )
    assert overwritten.counts["overwritten"] == 1


def test_entity_whose_create_was_dropped_or_dead_lettered_is_not_judged() -> None:
    expected = exp_t([exp("e1", "o1", dropped=True), update_row("e2", "o1", 2), exp("e5", "o2")])
    result = final_state(expected, eff_t([eff("o2", 1, 0.1)]))
    assert result.ok
    assert result.counts["entities"] == 1
    dead = final_state(
        exp_t([exp("e1", "o1"), update_row("e2", "o1", 2)]),
        empty_frame("effects"),
        out_t([out("e1", "dead_lettered"), out("e2", "dead_lettered")]),
    )
    assert dead.ok
    assert dead.counts["dead_lettered"] == 1
