"""The queue source on a real rabbitmq-server: the model, the node's life, outcomes, and drills.

Skipped with its reason when rabbitmq-server is not installed, except under
CI=true, where .ci/run installs it and a missing one is a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError

from harness.drill import DrillSession
from harness.inputs.fixtures import load_fixtures
from harness.inputs.pilot import ScenarioSpec, load_pilot
from harness.inputs.queue import QueueSpec
from harness.plan.schedule import Plan, PlannedDelivery
from harness.runtime.processes import ServiceError, free_port
from harness.sources import OpenContext
from harness.sources import rabbitmq_server as rabbitmq_server_module
from harness.sources.queue_rabbitmq import RabbitPublisher, broker_outcomes, open_rabbitmq, ready
from harness.sources.rabbitmq_server import find_program, node_env

ROOT = Path(__file__).resolve().parents[1]
PILOTS = ROOT / "pilots"
FIXTURES = ROOT / "fixtures" / "order-sync" / "events.jsonl"


def _have_server() -> bool:
    try:
        find_program(None, ROOT)
    except ServiceError:
        return False
    return True


if not _have_server() and os.environ.get("CI") == "true":
    raise RuntimeError("CI=true but no rabbitmq-server: .ci/run installs Debian's package")
needs_server = pytest.mark.skipif(
    not _have_server(), reason="no rabbitmq-server installed (apt-get install rabbitmq-server)"
)


# ------------------------------------------------------------------ the model


def test_a_rabbitmq_url_must_be_amqp() -> None:
    with pytest.raises(ValidationError, match=r"url: must be amqp://"):
        QueueSpec(fixtures="f", broker="rabbitmq", url="nats://127.0.0.1:4222")


def test_a_rabbitmq_node_gets_longer_to_boot_unless_the_pilot_says() -> None:
    assert QueueSpec(fixtures="f", broker="rabbitmq").startup_timeout_s == 30.0
    assert QueueSpec(fixtures="f", broker="rabbitmq", startup_timeout_s=4).startup_timeout_s == 4
    assert QueueSpec(fixtures="f").startup_timeout_s == 10.0  # nats-server starts in 0.1 s


def test_a_rabbitmq_url_may_carry_credentials_and_a_vhost() -> None:
    spec = QueueSpec(fixtures="f", broker="rabbitmq", url="amqp://u:p@localhost:5672/lab")
    assert spec.url is not None


def test_dlq_queue_must_differ() -> None:
    with pytest.raises(ValidationError, match="dlq_queue must differ"):
        QueueSpec(fixtures="f", broker="rabbitmq", queue="a", dlq_queue="a")


def test_the_rabbitmq_pilots_load_and_the_nats_ones_stay_nats() -> None:
    for name in ("queue-rabbitmq-hardened", "queue-rabbitmq-naive"):
        queue = load_pilot(PILOTS / f"{name}.toml").spec.queue
        assert queue is not None and queue.broker == "rabbitmq" and queue.queue == "orders"
    queue = load_pilot(PILOTS / "queue-hardened.toml").spec.queue
    assert queue is not None and queue.broker == "nats"


# ------------------------------------------------------------------ the node


def _alive(word: str) -> list[str]:
    """Live (not zombie) processes whose command line holds ``word``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "stat").read_text().split(") ")[1].startswith("Z"):
                continue
            if word.encode() in (proc / "cmdline").read_bytes():
                found.append(proc.name)
        except (OSError, IndexError):
            continue
    return found


def _alive_with(path: Path) -> list[str]:
    """Live processes whose command line or environment names ``path``: a node's beam
    and the epmd it started (which keeps the node's HOME), and nobody else's."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "stat").read_text().split(") ")[1].startswith("Z"):
                continue
            seen = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except (OSError, IndexError):
            continue
        if str(path).encode() in seen:
            # The pid and what it runs: a leftover in CI must say what it is.
            found.append(f"{proc.name} {(proc / 'cmdline').read_bytes()[:120]!r}")
    return found


class _Rows:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def __call__(self, row: dict[str, Any]) -> None:
        self.rows.append(row)


class _NoHooks:
    async def before_dispatch(self, position: int) -> None:
        return None


@dataclass(frozen=True)
class _Node:
    """The module's node, and what its start showed."""

    url: str
    folder: Path
    start_s: float | None
    ready: int  # the fresh queue's ready messages, read once the node was up


def on_the_node(test: Any) -> Any:
    """A test on the module's node. One worker owns the node: the tests that use it
    share a group, so the suite starts one node (~7 CPU-s, 8 s) rather than one
    per xdist worker; and they are slow, so ``make check`` starts none."""
    return pytest.mark.slow(pytest.mark.xdist_group("rabbitmq-node")(test))


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Node]:
    """One node for the module's broker tests, started as a drill starts its own
    (open_rabbitmq with no url) and reached by url by the others as a running
    broker is. Its teardown checks it leaves nothing running and no store."""
    if not _have_server():
        pytest.skip("no rabbitmq-server installed")
    folder = tmp_path_factory.mktemp("node")
    started: asyncio.Queue[_Node] = asyncio.Queue()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        spec = QueueSpec(fixtures="f", broker="rabbitmq", startup_timeout_s=60)
        async with open_rabbitmq(spec, folder, folder) as run:
            await started.put(_Node(run.url, folder, run.start_s, await ready(run, spec.queue)))
            await stop.wait()

    import threading

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    yield asyncio.run_coroutine_threadsafe(started.get(), loop).result(timeout=90)
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=30)
    assert not thread.is_alive(), "the module's node did not stop"
    assert _alive_with(folder) == []  # neither its beam nor its epmd
    assert not (folder / "broker-store").exists()


@needs_server
@on_the_node
@pytest.mark.slow
def test_a_node_starts_and_leaves_nothing_running(node: _Node) -> None:
    # What it leaves behind is checked when the module's node stops (its teardown).
    assert node.url.startswith("amqp://127.0.0.1:")
    assert _alive(str(node.folder / "broker-store"))  # beam runs from the run folder
    # ...and an epmd of its own, started with the node's HOME.
    assert any(
        (Path("/proc") / seen.split()[0] / "cmdline").read_bytes().split(b"\0")[0].endswith(b"epmd")
        for seen in _alive_with(node.folder)
    )
    assert node.ready == 0
    assert node.start_s is not None and 0 < node.start_s < 60


@needs_server
@pytest.mark.slow
def test_a_node_slower_than_its_startup_timeout_is_named_so(tmp_path: Path) -> None:
    # A node boots in several seconds: half a second is never enough. The message must
    # say the time ran out, not that the node "exited with 0" (the lab stopped it).
    async def go() -> None:
        spec = QueueSpec(fixtures="f", broker="rabbitmq", startup_timeout_s=0.5)
        async with open_rabbitmq(spec, tmp_path, tmp_path):
            raise AssertionError("a node booted in half a second")

    with pytest.raises(ServiceError, match=r"no AMQP answer on port \d+ in 0.5 s") as caught:
        asyncio.run(go())
    assert "exited with" not in str(caught.value)
    assert _alive_with(tmp_path) == []  # neither its beam nor its epmd


needs_epmd = pytest.mark.skipif(shutil.which("epmd") is None, reason="no epmd on PATH")


@needs_epmd
def test_what_a_node_logs_when_the_lab_stops_it_mid_boot_is_not_its_reason(tmp_path: Path) -> None:
    # A node stopped while it boots can log errors of that stop (an Erlang "badarg" as
    # its logger goes down): the reason is still that no AMQP answer came in time.
    server = tmp_path / "slow-server"
    server.write_text(
        "#!/bin/sh\n"
        "trap 'echo \"error: stopped mid-boot\"; exit 0' TERM\n"
        "while true; do sleep 0.05; done\n"
    )
    server.chmod(0o755)

    async def go() -> None:
        spec = QueueSpec(fixtures="f", broker="rabbitmq", server=str(server), startup_timeout_s=0.5)
        async with open_rabbitmq(spec, tmp_path, tmp_path):
            raise AssertionError("the stand-in never listens")

    with pytest.raises(ServiceError) as caught:
        asyncio.run(go())
    assert "no AMQP answer on port" in str(caught.value)
    assert "stopped mid-boot" not in str(caught.value)
    assert "error: stopped mid-boot" in (tmp_path / "broker.log").read_text()  # it was logged


def _node_env(tmp_path: Path) -> tuple[dict[str, str], int]:
    epmd_port = free_port()
    return {**os.environ, **node_env(tmp_path / "home", free_port(), epmd_port)}, epmd_port


@needs_epmd
def test_the_sweep_after_a_node_leaves_the_labs_own_epmd_to_the_lab(tmp_path: Path) -> None:
    # The sweep looks for the node's name in environments: the lab's epmd must not carry
    # it, or every stop would wait the sweep's grace out and kill the epmd.
    env, port = _node_env(tmp_path)
    sweep = rabbitmq_server_module._end_helpers

    async def go(log: IO[bytes]) -> tuple[float, list[str]]:
        async with rabbitmq_server_module._own_epmd(port, env, tmp_path, log):
            started = time.monotonic()
            await asyncio.to_thread(sweep, env["RABBITMQ_NODENAME"])
            return time.monotonic() - started, _alive_with(tmp_path / "home")

    with open(tmp_path / "broker.log", "ab") as log:
        took, alive = asyncio.run(go(log))
    assert took < rabbitmq_server_module.HELPER_GRACE_S / 2
    assert len(alive) == 1 and "epmd" in alive[0]  # up until the node is stopped
    assert _alive_with(tmp_path / "home") == []


@needs_epmd
def test_an_epmd_port_another_holds_is_named(tmp_path: Path) -> None:
    env, port = _node_env(tmp_path)

    async def go(log: IO[bytes]) -> None:
        async with rabbitmq_server_module._own_epmd(port, env, tmp_path, log):
            raise AssertionError("the lab took another's epmd port for its own")

    taken = rf"epmd exited with \d+ before it listened on port {port}"
    with socket.create_server(("127.0.0.1", port)), open(tmp_path / "broker.log", "ab") as log:
        with pytest.raises(ServiceError, match=taken):
            asyncio.run(go(log))
    assert _alive_with(tmp_path / "home") == []


def test_a_node_whose_harness_died_is_ended_by_the_next_start() -> None:
    # beam outlives a harness killed outright (it is the launched script's child):
    # stand-ins carrying a dead harness's node name, and a live one's.
    def stand_in(harness_pid: int) -> subprocess.Popen[bytes]:
        env = {**os.environ, "RABBITMQ_NODENAME": f"chaoslab-{harness_pid}-1@localhost"}
        return subprocess.Popen(["sleep", "30"], env=env)

    ended_pid = _a_dead_pid()
    orphan, ours = stand_in(ended_pid), stand_in(os.getpid())
    try:
        assert orphan.pid in rabbitmq_server_module.end_orphans()
        assert orphan.wait(timeout=5) == -9
        assert ours.poll() is None  # a live harness's node is its own business
    finally:
        for proc in (orphan, ours):
            proc.kill()
            proc.wait()


def _a_dead_pid() -> int:
    """The pid of a process that has ended (and was reaped)."""
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def test_no_amqp_at_the_url_names_the_key(tmp_path: Path) -> None:
    async def go() -> None:
        spec = QueueSpec(fixtures="f", broker="rabbitmq", url="amqp://127.0.0.1:1")
        async with open_rabbitmq(spec, tmp_path, tmp_path):
            raise AssertionError("connected to nothing")

    with pytest.raises(ServiceError, match=r"^\[queue\] url: no RabbitMQ answered at amqp://"):
        asyncio.run(go())


@needs_server
@on_the_node
def test_outcomes_read_from_the_broker(node: _Node, tmp_path: Path) -> None:
    """Acked, dead-lettered to the DLQ, and still pending: as the broker holds them."""
    events = load_fixtures(FIXTURES)[:3]
    spec = QueueSpec(fixtures="f", broker="rabbitmq", url=node.url, queue="t1", dlq_queue="t1-dead")
    plan = Plan(tuple(PlannedDelivery(i, i, e.event_id, 0.0) for i, e in enumerate(events)))

    async def go() -> tuple[list[dict[str, Any]], dict[str, Any], _Rows]:
        async with open_rabbitmq(spec, tmp_path, tmp_path) as run:
            rows = _Rows()
            await RabbitPublisher(run, events, plan, "r1", "s", rows, _NoHooks()).run()
            channel = await run.connection.channel()
            queue = await channel.declare_queue("t1", passive=True)
            first = await queue.get(no_ack=False)
            second = await queue.get(no_ack=False)
            await first.ack()
            await second.reject(requeue=False)  # the dead-letter exchange takes it
            # A quorum queue dead-letters after the reject returns: wait (bounded) for it,
            # as a drill's settling does, before the outcomes are read.
            for _ in range(100):
                if await ready(run, "t1-dead"):
                    break
                await asyncio.sleep(0.02)
            outcomes, counts = await broker_outcomes(run, "r1")
            return outcomes, counts, rows

    outcomes, counts, rows = asyncio.run(go())
    ids = [e.event_id for e in events]
    assert [r["status"] for r in rows.rows] == [200, 200, 200]
    assert {r["event_id"]: r["outcome"] for r in outcomes} == {
        ids[0]: "processed",
        ids[1]: "dead_lettered",
    }
    assert counts["pending"] == [ids[2]] and counts["ready"] == 1 and counts["dlq_messages"] == 1


@needs_server
@on_the_node
def test_a_standing_node_starts_each_drill_with_empty_queues(node: _Node, tmp_path: Path) -> None:
    """begin_drill purges the work queue and the DLQ under the consumer that stays on it,
    and the run forgets the last drill's publishes: outcomes are the new drill's alone."""
    events = load_fixtures(FIXTURES)[:3]
    spec = QueueSpec(fixtures="f", broker="rabbitmq", url=node.url, queue="t5", dlq_queue="t5-dead")
    first = Plan((PlannedDelivery(0, 0, events[0].event_id, 0.0),))
    again = Plan((PlannedDelivery(0, 0, events[1].event_id, 0.0),))

    async def go() -> tuple[int, bool, bool, list[dict[str, Any]], dict[str, Any]]:
        async with open_rabbitmq(spec, tmp_path, tmp_path) as run:
            await RabbitPublisher(run, events[:1], first, "r1", "s", _Rows(), _NoHooks()).run()
            dead = await run.connection.channel()
            queue = await dead.declare_queue("t5", passive=True)
            await (await queue.get(no_ack=False)).reject(requeue=False)  # into the DLQ
            await RabbitPublisher(run, events[:1], first, "r1", "s", _Rows(), _NoHooks()).run()
            idle = await run.consuming()
            await run.begin_drill(OpenContext(tmp_path, tmp_path, ScenarioSpec(), events[1:2]))
            left = await ready(run, "t5") + await ready(run, "t5-dead")
            consumer = await run.connection.channel()
            work = await consumer.declare_queue("t5", passive=True)

            async def ack(message: AbstractIncomingMessage) -> None:
                await message.ack()

            await work.consume(ack)
            bound = await run.consuming()
            await RabbitPublisher(run, events[1:2], again, "r2", "s", _Rows(), _NoHooks()).run()
            for _ in range(100):  # the consumer acks it: bounded
                if not await ready(run, "t5"):
                    break
                await asyncio.sleep(0.02)
            outcomes, counts = await broker_outcomes(run, "r2")
            return left, idle, bound, outcomes, counts

    left, idle, bound, outcomes, counts = asyncio.run(go())
    assert left == 0 and not idle and bound
    assert outcomes == [
        {
            "run_id": "r2",
            "event_id": events[1].event_id,
            "outcome": "processed",
            "detail": f"acknowledged (message {events[1].event_id}#1)",
        }
    ]
    assert counts["published"] == 1 and counts["dlq_messages"] == 0


@needs_server
@on_the_node
def test_a_running_node_keeps_nothing_of_the_drill(node: _Node, tmp_path: Path) -> None:
    spec = QueueSpec(fixtures="f", broker="rabbitmq", url=node.url, queue="t2", dlq_queue="t2-dead")

    async def go() -> bool:
        async with open_rabbitmq(spec, tmp_path, tmp_path):
            pass
        connection = await aio_pika.connect(node.url)
        try:
            channel = await connection.channel()
            try:
                await channel.declare_queue("t2", passive=True)
            except aio_pika.exceptions.ChannelClosed:
                return False  # NOT_FOUND: deleted after the drill
            return True
        finally:
            await connection.close()

    assert asyncio.run(go()) is False


@needs_server
@on_the_node
def test_the_delivery_limit_dead_letters_a_message_the_consumer_keeps_returning(
    node: _Node, tmp_path: Path
) -> None:
    """max_deliver = 2: the broker itself sends a twice-returned message to the DLQ."""
    event = load_fixtures(FIXTURES)[0]
    spec = QueueSpec(
        fixtures="f",
        broker="rabbitmq",
        url=node.url,
        queue="t3",
        dlq_queue="t3-dead",
        max_deliver=2,
    )
    plan = Plan((PlannedDelivery(0, 0, event.event_id, 0.0),))

    async def go() -> tuple[list[int], dict[str, Any]]:
        async with open_rabbitmq(spec, tmp_path, tmp_path) as run:
            await RabbitPublisher(run, [event], plan, "r1", "s", _Rows(), _NoHooks()).run()
            channel = await run.connection.channel()
            queue = await channel.declare_queue("t3", passive=True)
            seen = []
            for _ in range(3):
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    break
                seen.append(int((message.headers or {}).get("x-delivery-count") or 0))
                await message.nack(requeue=True)
            _, counts = await broker_outcomes(run, "r1")
            return seen, counts

    seen, counts = asyncio.run(go())
    assert seen == [0, 1]
    assert counts["dead_lettered"] == 1 and counts["pending"] == []


# ------------------------------------------------------------------ drills


def _check(result: Any, name: str) -> Any:
    return next(r for r in result.results if r.name == name)


@needs_server
@pytest.mark.slow
@pytest.mark.timeout(240)  # four drills on one node: 40-65 s on 2 busy cores
def test_naive_ships_twice_when_its_connection_is_cut_and_hardened_survives_on_one_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One session, as the regression suite drills: both pilots ask for a node
    # of their own and share the session's. Each pilot's scenario runs twice on
    # a standing stage there (its queues purged between drills), then fresh
    # (declaring its queues afresh, so the stage on the node is closed first):
    # the same invariants break standing as fresh.
    # Its scratch (the node's folder) goes under this test's folder, so what runs
    # from there is this session's and no other worker's.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    runs: dict[str, list[Any]] = {}
    with DrillSession(tmp_path / "reports", standing=1) as session:
        for name in ("queue-rabbitmq-naive", "queue-rabbitmq-hardened"):
            pilot = load_pilot(PILOTS / f"{name}.toml")
            runs[name] = [session.run(pilot, "consumer-cut") for _ in range(2)]
            if name.endswith("hardened"):
                # On the stage after two cut drills, whose dead letters were purged.
                calm = session.run(pilot, "baseline")
            runs[name].append(session.run_fresh(pilot, "consumer-cut"))
        assert _alive_with(scratch), "the session's node runs until the session ends"
        assert session.stage_restarts == 0

    urls = set()
    for name, (*standing, fresh) in runs.items():
        for number, result in enumerate(standing, 1):
            # The queue's own invariants, as in test_queue_source (final_state under a
            # cut varies between fresh drills of the naive consumer too).
            assert _queue_broken(result) == _queue_broken(fresh), (result.run_dir, fresh.run_dir)
            assert _meta(result)["standing"]["drill"] == number
        for result in [*standing, fresh]:
            urls.add(_meta(result)["broker"]["url"])
            if name.endswith("naive"):
                _naive_shipped_twice(result)
            else:
                _hardened_survived(result)
    assert len(urls) == 1  # one node

    # With no fault, nothing is dead-lettered: an update that comes before its
    # order's create waits its turn without holding the queue (prefetch 1 held it,
    # and the quorum queue's head-requeue dead-lettered it in every scenario).
    assert calm.ok, [r.summary for r in calm.results if not r.ok]
    assert _meta(calm)["broker"]["outcomes"]["dead_lettered"] == 0

    assert _alive_with(scratch) == []


def _meta(result: Any) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((result.run_dir / "run.json").read_text())
    return meta


def _broken(result: Any) -> list[str]:
    return sorted(r.name for r in result.results if not r.ok)


def _queue_broken(result: Any) -> list[str]:
    return [name for name in _broken(result) if name in {"exactly_once", "all_accounted"}]


def _naive_shipped_twice(naive: Any) -> None:
    once = _check(naive, "exactly_once")
    assert not once.ok and once.counts["duplicated"] >= 1
    naive_meta = _meta(naive)
    assert naive_meta["broker"]["kind"] == "queue/rabbitmq"
    assert naive_meta["broker"]["outcomes"]["published"] == 20
    assert naive_meta["toxics_applied"]


def _hardened_survived(hardened: Any) -> None:
    assert _check(hardened, "exactly_once").ok
    assert _check(hardened, "all_accounted").ok
    broker = _meta(hardened)["broker"]["outcomes"]
    assert broker["pending"] == [] and broker["acked"] >= 18
    # The capture's poison message (a string version) went to the declared DLQ.
    assert broker["dlq_messages"] == 1 and broker["dead_lettered"] == 1
