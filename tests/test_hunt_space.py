"""The hunt's larger fault space on plain data: moves, quirks, late copies, new families,
how they read as a scenario and as a story, and the seeded chunks exploring draws."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import find, settings

from harness.inputs.delivery_faults import CaptureFault, DeliveryFault, MoveFault
from harness.inputs.fixtures import load_fixtures
from harness.inputs.pilot import load_pilot
from harness.search.hunt import chunk_seed, draw_chunk, schedules
from harness.search.settings import late_delays
from harness.search.space import (
    FaultSpace,
    PartnerFault,
    RateLimitFault,
    RestartFault,
    ToxicFault,
    fault_space,
)
from harness.search.story import describe_fault
from harness.search.translate import (
    canonical,
    event_order,
    moves_in,
    plan_for,
    scenario_for,
    schedule_from_scenario,
)

REPO = Path(__file__).resolve().parent.parent
PILOT = load_pilot(REPO / "pilots/order-sync-naive.toml")
CAPTURED = load_fixtures(PILOT.resolve(PILOT.spec.webhook.fixtures))
SPACE = fault_space(PILOT, CAPTURED)


def small(events: int = 5, quirks: tuple[int, ...] = ()) -> FaultSpace:
    return FaultSpace(
        events=tuple(range(0, 2 * events, 2)),  # lines 0, 2, 4, ...: odd lines are quirks
        links=("partner",),
        timeouts_ms={"partner": 500},
        quirks=quirks,
    )


def test_a_move_sends_an_event_later_and_reads_back() -> None:
    space = small()
    assert event_order(space, [MoveFault(0, 1)]) == [2, 0, 4, 6, 8]  # a swap
    assert event_order(space, [MoveFault(1, 4)]) == [0, 4, 6, 8, 2]
    for moves in ([MoveFault(0, 1)], [MoveFault(1, 4)], [MoveFault(0, 2), MoveFault(1, 2)]):
        assert moves_in(space, event_order(space, moves)) == moves


def test_moves_that_make_the_same_order_are_one_schedule() -> None:
    space = small()
    # 0 after 1 and 1 after 2 sends 0, 2, 1 first: the same as 1 after 2 alone... plus 0 late.
    chained = canonical([MoveFault(0, 1), MoveFault(1, 2)], space)
    assert event_order(space, chained) == event_order(space, [MoveFault(0, 1), MoveFault(1, 2)])
    assert canonical(chained, space) == chained


def test_a_quirk_goes_where_it_was_captured() -> None:
    space = small(quirks=(3,))
    assert event_order(space, [CaptureFault(3)]) == [0, 2, 3, 4, 6, 8]
    scenario = scenario_for(space, [CaptureFault(3), DeliveryFault("duplicate", 2, 0.0)])
    # The duplicate names event #2 of the set (line 4), now at slot 3.
    assert scenario.delivery.events == [0, 2, 3, 4, 6, 8]
    assert [(f.position, f.fault) for f in scenario.delivery.faults] == [(3, "duplicate")]
    assert schedule_from_scenario(space, scenario) == (
        DeliveryFault("duplicate", 2, 0.0),
        CaptureFault(3),
    )


def test_new_partner_kinds_and_restarts_in_a_scenario() -> None:
    space = small()
    schedule = canonical([PartnerFault("lost_answer", 2, 1), RestartFault(3)], space)
    scenario = scenario_for(space, schedule)
    assert scenario.partner["lost_answers"] == [{"from_request": 2, "count": 1}]
    assert [r.after_delivery for r in scenario.workflow.restarts] == [3]
    assert schedule_from_scenario(space, scenario) == schedule
    forgetful = canonical([PartnerFault("forget_keys", 4, 1)], space)
    scenario = scenario_for(space, forgetful)
    assert scenario.partner["forget_keys"] == [{"requests": [4]}]
    assert schedule_from_scenario(space, scenario) == forgetful


def test_forgotten_keys_keep_only_answers_that_were_received() -> None:
    """Beside a lost answer no client can know its call landed: no alarm to raise."""
    space = small()
    kept = canonical(
        [
            PartnerFault("forget_keys", 4, 1),
            PartnerFault("lost_answer", 2, 1),  # applied, never answered
            PartnerFault("error_after_effect", 3, 1, 500),  # applied, answered "failed"
            ToxicFault("partner", "timeout", "downstream", 1, 1),  # answer held
            RestartFault(3),  # the workflow dies mid-call
            PartnerFault("throttle", 1, 1, 429),  # answered "not done": stays
            DeliveryFault("duplicate", 2, 0.0),  # a redelivery: what the fault is for
        ],
        space,
    )
    assert set(kept) == {
        PartnerFault("forget_keys", 4, 1),
        PartnerFault("throttle", 1, 1, 429),
        DeliveryFault("duplicate", 2, 0.0),
    }


def test_a_rate_limit_keeps_only_provider_side_company() -> None:
    space = small()
    limited = canonical(
        [
            RateLimitFault(2, 1.0),
            RateLimitFault(1, 5.0),  # a partner has one rate limit: the first stays
            PartnerFault("throttle", 1, 1, 429),  # would carry the limit's headers
            ToxicFault("partner", "timeout", "downstream", 1, 1),  # would hide its answers
            RestartFault(3),  # a new process cannot owe the old one's wait
            DeliveryFault("duplicate", 2, 0.0),
        ],
        space,
    )
    assert limited == (DeliveryFault("duplicate", 2, 0.0), RateLimitFault(2, 1.0))
    scenario = scenario_for(space, limited)
    assert scenario.partner["rate_limit"] == {"capacity": 2, "refill_per_s": 1.0}
    assert schedule_from_scenario(space, scenario) == limited


def test_the_reference_space_holds_every_family() -> None:
    # The capture's repeated event, and a stale update (v2 captured after v3)
    # just past the set; not line 11, an update for an entity the set never creates.
    assert SPACE.quirks == (3, 12)
    assert event_order(SPACE, [CaptureFault(12)])[-1] == 12
    # Creates of the two updated orders (#1, #4) and their updates (#6, #9).
    assert SPACE.related == ((1, 6), (4, 9))
    assert SPACE.delays_s == late_delays(sum(PILOT.spec.webhook.retry_schedule_s))
    assert SPACE.delays_s[-1] == pytest.approx(3.7)  # the provider's whole retry horizon
    assert {"lost_answer", "forget_keys"} <= set(SPACE.partner_kinds)
    assert SPACE.restarts  # the workflow is a command
    assert late_delays(0.3) == (0.0, 0.5)
    assert late_delays(5.0) == (0.0, 0.5, 1.0, 2.0, 4.0, 5.0)


def test_every_family_reads_as_a_sentence() -> None:
    schedule = (
        DeliveryFault("duplicate", 1, 3.7),
        MoveFault(0, 4),
        CaptureFault(3),
        PartnerFault("lost_answer", 2, 1),
        PartnerFault("forget_keys", 3, 1),
        RestartFault(2),
    )
    plan = plan_for(scenario_for(SPACE, schedule), CAPTURED)
    told = [describe_fault(SPACE, f, CAPTURED, plan) for f in schedule]
    assert "3.7 s later" in told[0]
    assert "is delivered late, after event #4" in told[1]
    assert "the capture's own line 3" in told[2]
    assert "never reaches the workflow" in told[3]
    assert "forgets every idempotency key" in told[4]
    assert "killed (SIGKILL) right after delivery 2" in told[5]
    swap = describe_fault(SPACE, MoveFault(2, 3), CAPTURED, plan)
    assert swap.startswith("events #2 and #3 arrive swapped")


def test_the_shrinker_can_reach_any_single_fault_of_a_family() -> None:
    # Deleting faults and simplifying parameters: one lost answer on its own.
    smallest = find(
        schedules(SPACE),
        lambda s: any(isinstance(f, PartnerFault) and f.kind == "lost_answer" for f in s),
        settings=settings(database=None, max_examples=2000),
    )
    assert smallest == (PartnerFault("lost_answer", 1, 1),)


def test_exploring_draws_the_same_chunks_for_the_same_seed() -> None:
    first = draw_chunk(SPACE, chunk_seed(7, 0), 30)
    assert draw_chunk(SPACE, chunk_seed(7, 0), 30) == first
    assert draw_chunk(SPACE, chunk_seed(7, 1), 30) != first
    assert first[0] == ()  # the fault-free day comes first
