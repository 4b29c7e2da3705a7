"""Unknown outcomes: an event dead-lettered although its effect landed is "dead-lettered
but applied", counted and shown, and fails final_state only when the pilot asks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.checks.dead_lettered_applied import dead_lettered_applied
from harness.checks.final_state import final_state
from harness.checks.registry import check_all
from harness.inputs.pilot import PilotError, load_pilot
from tests.pilot_tree import pilot_tree

REPO = Path(__file__).resolve().parents[1]

EXPECTED = pd.DataFrame(
    {
        "event_id": ["create", "update"],
        "partner": ["logistics", "logistics"],
        "entity_id": ["ord_1", "ord_1"],
        "entity_version": [1, 2],
        "expected_effect": ["logistics:shipment.created", ""],
        "allowed_effect": ["", "logistics:shipment.updated"],
        "dropped": [False, False],
    }
)


def effects(*, tied: bool = True) -> pd.DataFrame:
    """The create applied, then the update (whose answer the workflow never got)."""
    return pd.DataFrame(
        {
            "at": [0.1, 0.6],
            "partner": ["logistics", "logistics"],
            "kind": ["logistics:shipment.created", "logistics:shipment.updated"],
            "business_key": ["ord_1", "ord_1"],
            "entity_version": [1, 2],
            "event_id": ["create", "update"] if tied else ["", ""],
        }
    )


OUTCOMES = pd.DataFrame(
    {
        "event_id": ["create", "update"],
        "outcome": ["processed", "dead_lettered"],
        "detail": ["", "gave up after 8 attempts: ReadTimeout"],
    }
)


@pytest.mark.parametrize("tied", [True, False])
def test_an_applied_dead_letter_is_reported_not_failed(tied: bool) -> None:
    result = dead_lettered_applied(EXPECTED, effects(tied=tied), OUTCOMES)
    assert result.ok
    assert result.counts == {"dead_lettered": 1, "applied": 1}
    assert result.examples == ["update (logistics:shipment.updated for ord_1 v2)"]
    assert "dead-lettered but applied" in result.summary


def test_it_fails_when_the_pilot_asks() -> None:
    assert not dead_lettered_applied(EXPECTED, effects(), OUTCOMES, fail=True).ok


def test_a_dead_letter_that_never_landed_is_no_finding() -> None:
    only_create = effects().iloc[:1]
    result = dead_lettered_applied(EXPECTED, only_create, OUTCOMES)
    assert result.ok and result.counts["applied"] == 0


def test_final_state_is_not_ahead_for_an_applied_dead_letter() -> None:
    result = final_state(EXPECTED, effects(), OUTCOMES)
    assert result.ok
    assert result.counts["ahead"] == 0 and result.counts["dead_lettered_applied"] == 1
    assert "dead-lettered update was applied" in result.summary
    strict = final_state(EXPECTED, effects(), OUTCOMES, fail_dead_lettered_applied=True)
    assert not strict.ok


def test_a_version_nobody_sent_is_still_ahead() -> None:
    odd = effects().assign(entity_version=[1, 5])
    result = final_state(EXPECTED, odd, OUTCOMES)
    assert not result.ok and result.counts["ahead"] == 1


def test_check_all_shows_the_finding_and_follows_the_pilot() -> None:
    tables = {
        "attempts": pd.DataFrame({"event_id": ["create", "update"], "status": [200, 200],
                                  "sent_at": [0.0, 0.5], "finished_at": [0.01, 0.51]}),
        "effects": effects(), "outcomes": OUTCOMES, "expected": EXPECTED,
    }  # fmt: skip
    slo = {"p95_ms": 5000, "success_rate": 0.1}
    relaxed = {r.name: r for r in check_all(tables, slo)}
    assert relaxed["final_state"].ok and relaxed["dead_lettered_applied"].ok
    assert relaxed["dead_lettered_applied"].counts["applied"] == 1
    strict = {r.name: r for r in check_all(tables, slo, fail_dead_lettered_applied=True)}
    assert not strict["final_state"].ok and not strict["dead_lettered_applied"].ok


def test_the_pilot_setting_is_checked(tmp_path: Path) -> None:
    pilot = pilot_tree(tmp_path) / "p.toml"
    pilot.write_text('extends = "order-sync.toml"\n[checks]\ndead_lettered_applied = "warn"\n')
    with pytest.raises(PilotError, match=r"\[checks\] dead_lettered_applied: Input should be"):
        load_pilot(pilot)
    pilot.write_text(pilot.read_text().replace('"warn"', '"fail"'))
    assert load_pilot(pilot).spec.checks.dead_lettered_applied == "fail"


@pytest.mark.slow
async def test_a_drill_reports_an_update_dead_lettered_after_the_partner_applied_it(
    tmp_path: Path,
) -> None:
    from harness.drill import run_drill
    from harness.inputs.pilot import ScenarioSpec

    pilot = load_pilot(REPO / "pilots/order-sync.toml")
    # Two tries, so giving up comes quickly; every answer after the create's is lost.
    workflow = pilot.spec.workflow.model_copy(
        update={"env": {**pilot.spec.workflow.env, "MAX_ATTEMPTS": "2"}}
    )
    pilot = pilot.model_copy(update={"spec": pilot.spec.model_copy(update={"workflow": workflow})})
    scenario = ScenarioSpec.model_validate(
        {
            "delivery": {"events": [1, 7], "rate": 10, "concurrency": 1},
            "partner": {"lost_answers": [{"from_request": 2, "count": 10, "how": "reset"}]},
        }
    )
    drill = await run_drill(pilot, "unknown-outcome", scenario=scenario, reports=tmp_path)
    results = {r.name: r for r in drill.results}
    assert results["final_state"].ok, results["final_state"].summary
    assert results["final_state"].counts["dead_lettered_applied"] == 1
    assert results["dead_lettered_applied"].ok
    assert results["dead_lettered_applied"].counts == {"dead_lettered": 1, "applied": 1}
