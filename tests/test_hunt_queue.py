"""The hunt on queue pilots and on links to the workflow's own services.

Quick tests need no processes; the slow ones hunt the
reference queue consumers on a real nats-server, a few schedules each.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_kit import assert_replay_breaks

from harness.inputs.fixtures import load_fixtures
from harness.inputs.pilot import Pilot, load_pilot
from harness.search.hunt import (
    PartnerFault,
    ToxicFault,
    describe_fault,
    draw_chunk,
    fault_space,
    hunt,
    scenario_for,
)
from harness.search.nofault import source_reason
from harness.search.translate import plan_for

REPO = Path(__file__).resolve().parent.parent


def queue_pilot(name: str = "queue-naive") -> Pilot:
    return load_pilot(REPO / f"pilots/{name}.toml")


def told(pilot: Pilot, fault: ToxicFault | PartnerFault) -> str:
    captured = load_fixtures(pilot.resolve(pilot.spec.webhook.fixtures))
    space = fault_space(pilot, captured)
    plan = plan_for(scenario_for(space, (fault,)), captured)
    return describe_fault(space, fault, captured, plan)


# ---------------------------------------------------------------- quick


def test_a_queue_space_knows_its_broker_link_and_paces_publishing() -> None:
    pilot = queue_pilot()
    captured = load_fixtures(pilot.resolve(pilot.spec.webhook.fixtures))
    space = fault_space(pilot, captured)
    assert space.role("broker") == "queue" and space.role("partner") == "partner"
    assert space.ack_wait_s == 1.0 and not space.restarts
    scenario = scenario_for(space, ())
    assert scenario.delivery.rate == space.pace_per_s and scenario.delivery.concurrency == 1


def test_the_hardened_consumers_database_link_is_in_its_hunt_and_only_in_its() -> None:
    # The hardened consumer keeps its inbox and outbox behind the db link; the naive
    # pilots declare no database, so their draws stay as they were.
    for name in ("queue-hardened", "queue-rabbitmq-hardened"):
        pilot = queue_pilot(name)
        captured = load_fixtures(pilot.resolve(pilot.spec.webhook.fixtures))
        space = fault_space(pilot, captured)
        assert "toxic" in space.families and "db" in space.links, name
        assert space.role("db") == "service:postgres", name
    for name in ("queue-naive", "queue-rabbitmq-naive"):
        assert queue_pilot(name).spec.services == {}, name


def test_broker_and_service_links_are_cut_or_reset_never_slowed() -> None:
    pilot = queue_pilot()
    captured = load_fixtures(pilot.resolve(pilot.spec.webhook.fixtures))
    space = fault_space(pilot, captured, families=["toxic"])
    toxics = [f for s in draw_chunk(space, 1) for f in s if isinstance(f, ToxicFault)]
    on_broker = [f for f in toxics if f.link == "broker"]
    assert on_broker and all(f.kind != "latency" for f in on_broker)
    # The lost ack travels up: a held broker link is always the workflow's side.
    assert all(f.stream == "upstream" for f in on_broker if f.kind == "timeout")
    assert any(f.kind == "latency" for f in toxics if f.link == "partner")


def test_a_slow_partner_is_judged_against_the_partner_link_not_the_broker() -> None:
    text = told(queue_pilot(), PartnerFault("slow", 1, 1))
    # The partner link waits 0.5 s; the broker link's default 2 s must not count.
    assert "800 ms late" in text, text


def test_a_cut_broker_link_is_told_as_lost_acks_and_a_redelivery() -> None:
    text = told(queue_pilot(), ToxicFault("broker", "timeout", "upstream", 2, 3))
    assert text.startswith(
        "the workflow's connection to the broker (link broker) swallows everything the "
        "workflow sends (its acks and pull requests) from when delivery 2 is published until "
        "delivery 4 is published"
    ), text
    assert text.endswith("which redelivers that message after ack_wait_s (1 s)"), text
    reset = told(queue_pilot(), ToxicFault("broker", "reset_peer", "downstream", 1, 1))
    assert "(link broker) is reset as the broker sends" in reset, reset


def test_a_reset_database_link_reads_as_the_workflows_database_connection() -> None:
    pilot = load_pilot(REPO / "pilots/inbox-db-naive.toml")
    captured = load_fixtures(pilot.resolve(pilot.spec.webhook.fixtures))
    space = fault_space(pilot, captured, families=["toxic"])
    assert "db" in space.links and space.role("db") == "service:postgres"
    assert any(f.link == "db" for s in draw_chunk(space, 1) for f in s)
    text = told(pilot, ToxicFault("db", "reset_peer", "downstream", 2, 2))
    assert text.startswith(
        "the workflow's database connection (link db) is reset as the server answers, from "
        "when delivery 2 is queued until delivery 3 is: while deliveries 2 ("
    ), text
    assert "a commit included" in text and "rolled back" in text


def test_queue_and_triggered_poll_pilots_stand() -> None:
    # Both brokers purge their queues between drills under the consumer that stays
    # bound, and a poll source serves each drill's records afresh: the registry lets
    # them stand (a scheduled poll job cannot: tests/test_hunt_poll.py).
    for name in (
        "queue-naive",
        "queue-hardened",
        "queue-rabbitmq-naive",
        "queue-rabbitmq-hardened",
    ):
        assert source_reason(queue_pilot(name)) == "", name
    assert source_reason(queue_pilot("sync-naive")) == ""
    assert source_reason(queue_pilot("order-sync")) == ""


# ---------------------------------------------------------------- real processes


@pytest.mark.timeout(150)
@pytest.mark.slow
def test_the_naive_consumer_is_found_shrunk_and_its_counterexample_replays(
    tmp_path: Path,
) -> None:
    pilot = queue_pilot()
    found = hunt(pilot, budget_s=60, seed=1, reports=tmp_path, replays=1, workers=2)
    assert found.schedule is not None and 1 <= len(found.schedule) <= 2, found.story
    # On standing stages: each drill purges the stage's streams instead of starting a broker.
    assert found.standing and not found.standing_fallback, found.story
    assert found.result is not None and not found.flaky
    assert found.counterexample is not None
    assert_replay_breaks(pilot.path, found.counterexample, tmp_path / "replay", cwd=REPO)


@pytest.mark.timeout(150)
@pytest.mark.slow
def test_the_hardened_consumer_survives_a_short_hunt(tmp_path: Path) -> None:
    # The families this work added for queue pilots, and the provider-side ones.
    # Not "partner": a rate limit finds that the hardened consumer's nak delays
    # do not wait for the partner's Retry-After (a finding, not a false alarm).
    found = hunt(
        queue_pilot("queue-hardened"),
        budget_s=90,
        seed=1,
        reports=tmp_path,
        workers=2,
        max_schedules=8,
        families=("delivery", "move", "capture", "toxic"),
    )
    assert found.schedule is None, found.story
    assert found.status.tried >= 8
