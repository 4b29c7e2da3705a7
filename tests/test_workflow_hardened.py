"""The hardened workflow as a real process against a real partner simulator process."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import http_kit
import pytest
from process_kit import partner, service
from workflow_kit import (
    LOGISTICS,
    SECRET,
    Drill,
    order_updated,
    payment,
    services,
    shipments,
    stripe_headers,
    trace_for,
    wait_until,
)

# Each test starts the reference workflow as a real process, with its partners:
# seconds each, so the inner loop (make check) leaves them to make test.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Drill]]:
    with services("hardened", tmp_path) as starter:
        yield starter


def test_redelivery_is_acknowledged_but_not_processed_again(start: Callable[..., Drill]) -> None:
    drill = start()
    body = payment("evt_1", "ord_1")
    first, second = drill.deliver(body), drill.deliver(body)
    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True
    drill.settle()
    assert drill.state()["ord_1"]["shipments"] == 1
    assert sorted(drill.outcomes()["evt_1"]) == ["duplicate", "processed"]
    [effect] = drill.ledger()
    assert effect["idempotency_key"] == "evt_1:create"
    assert effect["correlation_id"] == trace_for("evt_1")


def test_concurrent_duplicate_deliveries_make_one_shipment(start: Callable[..., Drill]) -> None:
    drill = start()
    body = payment("evt_1", "ord_1")
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: drill.deliver(body), range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    drill.settle()
    assert drill.state()["ord_1"]["shipments"] == 1
    assert sorted(drill.outcomes()["evt_1"]) == ["duplicate"] * 3 + ["processed"]


def test_a_second_payment_event_for_the_same_order_is_a_duplicate(
    start: Callable[..., Drill],
) -> None:
    drill = start()
    assert drill.deliver(payment("evt_1", "ord_1")).status_code == 200
    drill.settle()
    assert drill.deliver(payment("evt_1b", "ord_1")).status_code == 200
    drill.settle()
    assert drill.state()["ord_1"]["shipments"] == 1
    assert drill.outcomes()["evt_1b"] == ["duplicate"]


@pytest.mark.slow
def test_timed_out_call_is_retried_with_the_same_key_without_duplicating(
    start: Callable[..., Drill],
) -> None:
    drill = start(faults={"slow": [{"delay_ms": 1500, "requests": [1]}]}, PARTNER_TIMEOUT_S="0.3")
    assert drill.deliver(payment("evt_1", "ord_1")).status_code == 200
    drill.settle()
    assert drill.state()["ord_1"]["shipments"] == 1
    assert drill.outcomes()["evt_1"] == ["processed"]
    # The partner saw more than one attempt, all under one key.
    assert drill.partner.get("/_sim/state").json()["requests"] >= 2
    assert {e["idempotency_key"] for e in drill.ledger()} == {"evt_1:create"}


@pytest.mark.slow
def test_rate_limited_partner_is_waited_out(start: Callable[..., Drill]) -> None:
    drill = start(faults={"rate_limit": {"capacity": 2, "refill_per_s": 2}})
    for i in range(4):
        assert drill.deliver(payment(f"evt_{i}", f"ord_{i}")).status_code == 200
    drill.settle()
    assert {order: s["shipments"] for order, s in drill.state().items()} == {
        f"ord_{i}": 1 for i in range(4)
    }
    assert drill.workflow.get("/admin/dead-letters").json() == []


def test_sustained_5xx_dead_letters_with_a_reason(start: Callable[..., Drill]) -> None:
    drill = start(
        faults={"bursts": [{"status": 503}]},
        MAX_ATTEMPTS="4",
        BREAKER_THRESHOLD="3",
        BREAKER_COOLDOWN_S="0.2",
    )
    assert drill.deliver(payment("evt_1", "ord_1")).status_code == 200
    drill.settle()
    [letter] = drill.workflow.get("/admin/dead-letters").json()
    assert letter["event_id"] == "evt_1"
    assert "4 attempts" in letter["reason"] and "503" in letter["reason"]
    assert drill.outcomes()["evt_1"] == ["dead_lettered"]
    assert drill.partner.get("/_sim/state").json()["requests"] == 4
    assert drill.status()["breaker_opened"] >= 1
    assert drill.ledger() == []


def test_partner_outage_shorter_than_the_budget_is_bridged(start: Callable[..., Drill]) -> None:
    drill = start(faults={"bursts": [{"status": 503, "from_request": 1, "count": 3}]})
    assert drill.deliver(payment("evt_1", "ord_1")).status_code == 200
    drill.settle()
    assert drill.outcomes()["evt_1"] == ["processed"]
    [effect] = drill.ledger()
    assert effect["correlation_id"] == trace_for("evt_1")


def test_updates_delivered_out_of_order_end_on_the_latest_version(
    start: Callable[..., Drill],
) -> None:
    drill = start()
    # Updates arrive newest first, and before the payment that creates the shipment.
    assert drill.deliver(order_updated("evt_3", "ord_1", 3)).status_code == 200
    assert drill.deliver(order_updated("evt_2", "ord_1", 2)).status_code == 200
    assert drill.deliver(payment("evt_1", "ord_1", 1)).status_code == 200
    drill.settle()
    state = drill.state()["ord_1"]
    assert state["shipments"] == 1 and state["version"] == 3 and state["address"] == "3 Main St"
    outcomes = drill.outcomes()
    assert outcomes == {
        "evt_3": ["processed"],
        "evt_2": ["superseded"],
        "evt_1": ["processed"],
    } or outcomes == {"evt_2": ["superseded"], "evt_1": ["processed"], "evt_3": ["processed"]}
    assert [(e["kind"], e["entity_version"]) for e in drill.ledger()] == [
        ("shipment.created", 1),
        ("shipment.updated", 3),
    ]
    # Each effect carries the traceparent of the event that caused it.
    assert [e["correlation_id"] for e in drill.ledger()] == [trace_for("evt_1"), trace_for("evt_3")]


@pytest.mark.slow
def test_stale_update_after_a_newer_one_is_superseded(start: Callable[..., Drill]) -> None:
    drill = start()
    assert drill.deliver(payment("evt_1", "ord_1")).status_code == 200
    drill.settle()
    assert drill.deliver(order_updated("evt_3", "ord_1", 3)).status_code == 200
    drill.settle()
    assert drill.deliver(order_updated("evt_2", "ord_1", 2)).status_code == 200
    drill.settle()
    assert drill.state()["ord_1"]["version"] == 3
    assert drill.outcomes()["evt_2"] == ["superseded"]
    assert [e["entity_version"] for e in drill.ledger()] == [1, 3]


def test_update_whose_create_never_arrives_is_dead_lettered(start: Callable[..., Drill]) -> None:
    drill = start(ORPHAN_UPDATE_TIMEOUT_S="0.5")
    assert drill.deliver(order_updated("evt_2", "ord_1", 2)).status_code == 200
    assert drill.status()["pending"] == 1
    drill.settle()
    [letter] = drill.workflow.get("/admin/dead-letters").json()
    assert letter["event_id"] == "evt_2" and "create never arrived" in letter["reason"]


def test_update_waits_for_a_create_that_is_still_being_retried(
    start: Callable[..., Drill],
) -> None:
    # The partner is down for about a second: longer than the orphan timeout.
    drill = start(
        faults={"bursts": [{"status": 503, "from_s": 0, "until_s": 1.2}]},
        ORPHAN_UPDATE_TIMEOUT_S="0.3",
        BREAKER_THRESHOLD="1000",
    )
    assert drill.deliver(order_updated("evt_2", "ord_1", 2)).status_code == 200
    assert drill.deliver(payment("evt_1", "ord_1", 1)).status_code == 200
    drill.settle()
    assert drill.workflow.get("/admin/dead-letters").json() == []
    assert drill.state()["ord_1"]["version"] == 2


@pytest.mark.slow
def test_accepted_event_survives_a_restart(tmp_path: Path) -> None:
    env = {
        "PORT": "0",
        "WEBHOOK_SECRET": SECRET,
        "STATE_DIR": str(tmp_path / "state"),
        "MAX_ATTEMPTS": "1000",
        "BREAKER_COOLDOWN_S": "0.1",
    }
    argv = [sys.executable, "-m", "workflows.hardened"]
    body = payment("evt_1", "ord_1")
    with (
        partner(LOGISTICS, cwd=REPO, faults_json='{"bursts": [{"status": 503}]}') as sim,
        http_kit.client(base_url=sim.url, timeout=10) as api,
    ):
        with service(argv, cwd=REPO, env={**env, "PARTNER_URL": sim.url}) as first:
            answer = http_kit.post(
                f"{first.url}/webhooks/payments", content=body, headers=stripe_headers(body)
            )
            assert answer.status_code == 200
            wait_until(lambda: api.get("/_sim/state").json()["requests"] >= 2)
        # Stopped while the partner was down: the event is still owed.
        assert api.post("/_sim/faults", json={}).status_code == 200
        with service(argv, cwd=REPO, env={**env, "PARTNER_URL": sim.url}) as second:
            wait_until(lambda: http_kit.get(f"{second.url}/admin/status").json()["pending"] == 0)
            outcomes = http_kit.get(f"{second.url}/admin/outcomes").json()
        assert [o["outcome"] for o in outcomes] == ["processed"]
        assert shipments(api.get("/_sim/state").json())["ord_1"]["shipments"] == 1


@pytest.mark.parametrize(
    "kwargs",
    [{"secret": "whsec_wrong"}, {"skew_s": -301}],
    ids=["wrong-secret", "too-old"],
)
def test_bad_signature_is_400_and_not_stored(
    start: Callable[..., Drill], kwargs: dict[str, Any]
) -> None:
    drill = start()
    response = drill.deliver(payment("evt_1", "ord_1"), **kwargs)
    assert response.status_code == 400
    assert drill.status()["pending"] == 0
    assert drill.workflow.get("/admin/outcomes").json() == []
    # The same event, properly signed, is then new rather than a duplicate.
    assert drill.deliver(payment("evt_1", "ord_1")).json()["duplicate"] is False


def test_malformed_event_is_dead_lettered_not_retried(start: Callable[..., Drill]) -> None:
    drill = start()
    body = json.dumps({"id": "evt_bad", "type": "payment_intent.succeeded", "data": {}}).encode()
    assert drill.deliver(body).status_code == 200
    drill.settle()
    [letter] = drill.workflow.get("/admin/dead-letters").json()
    assert letter["event_id"] == "evt_bad" and "malformed" in letter["reason"]
    assert drill.partner.get("/_sim/state").json()["requests"] == 0


def test_rotated_secret_header_with_one_matching_v1_is_accepted(
    start: Callable[..., Drill],
) -> None:
    drill = start()
    body = payment("evt_1", "ord_1")
    good = stripe_headers(body)["Stripe-Signature"]
    stamp, v1 = good.split(",")
    rotated = f"{stamp},v1={'0' * 64},{v1},v0=ignored"
    response = drill.workflow.post(
        "/webhooks/payments", content=body, headers={"Stripe-Signature": rotated}
    )
    assert response.status_code == 200
    drill.settle()
    assert drill.state()["ord_1"]["shipments"] == 1


def test_webhook_without_traceparent_still_gets_a_correlation_id(
    start: Callable[..., Drill],
) -> None:
    drill = start()
    body = payment("evt_1", "ord_1")
    response = drill.workflow.post("/webhooks/payments", content=body, headers=stripe_headers(body))
    assert response.status_code == 200
    drill.settle()
    [effect] = drill.ledger()
    version, trace_id, span_id, flags = effect["correlation_id"].split("-")
    assert version == "00" and flags == "01" and len(span_id) == 16
    assert trace_id == hashlib.sha256(b"evt_1").hexdigest()[:32]
