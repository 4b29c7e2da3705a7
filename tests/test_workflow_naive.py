"""The naive workflow as a real process against a real partner simulator process.

These tests pin down how the naive workflow fails, so a drill that finds the
same failures is believable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.partner.process import partner, service

REPO = Path(__file__).resolve().parents[1]
SECRET = "whsec_naive_test_secret"


def stripe_headers(body: bytes, secret: str = SECRET, skew_s: int = 0) -> dict[str, str]:
    # The skew is applied when signing, not when the test is collected: a long
    # suite must not age a "too old" case into a valid one.
    stamp = int(time.time()) + skew_s
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={mac}", "Content-Type": "application/json"}


def trace_for(event_id: str) -> str:
    return f"00-{hashlib.md5(event_id.encode()).hexdigest()}-00f067aa0ba902b7-01"


def payment(event_id: str, order_id: str, version: int = 1) -> bytes:
    event = {
        "id": event_id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": f"pi_{order_id}",
                "object": "payment_intent",
                "metadata": {
                    "order_id": order_id,
                    "address": f"{version} Main St",
                    "version": str(version),
                },
            }
        },
    }
    return json.dumps(event).encode()


def order_updated(event_id: str, order_id: str, version: int) -> bytes:
    event = {
        "id": event_id,
        "object": "event",
        "type": "order.updated",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": order_id,
                "object": "order",
                "address": f"{version} Main St",
                "version": version,
            }
        },
    }
    return json.dumps(event).encode()


def wait_until(check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"condition not met within {timeout_s}s"
        time.sleep(0.05)


class Drill:
    """One partner process and one naive workflow process, talking over loopback."""

    def __init__(self, partner_url: str, workflow_url: str) -> None:
        self.partner = httpx.Client(base_url=partner_url, timeout=10)
        self.workflow = httpx.Client(base_url=workflow_url, timeout=15)

    def deliver(self, body: bytes, **kwargs: Any) -> httpx.Response:
        event_id = json.loads(body)["id"]
        headers = {**stripe_headers(body, **kwargs), "traceparent": trace_for(event_id)}
        return self.workflow.post("/webhooks/payments", content=body, headers=headers)

    def state(self) -> dict[str, Any]:
        orders: dict[str, Any] = self.partner.get("/_sim/state").json()["orders"]
        return orders

    def ledger(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.partner.get("/_sim/ledger").json()
        return entries

    def faults(self, faults: dict[str, Any]) -> None:
        assert self.partner.post("/_sim/faults", json=faults).status_code == 200

    def close(self) -> None:
        self.partner.close()
        self.workflow.close()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Drill]]:
    """Start partner + workflow with extra env; every process is stopped even on failure."""
    with ExitStack() as stack:

        def _start(faults: dict[str, Any] | None = None, **env: str) -> Drill:
            sim = stack.enter_context(
                partner(cwd=REPO, faults_json=json.dumps(faults) if faults else None)
            )
            workflow = stack.enter_context(
                service(
                    [sys.executable, "-m", "workflows.naive"],
                    cwd=REPO,
                    env={
                        "PORT": "0",
                        "PARTNER_URL": sim.url,
                        "WEBHOOK_SECRET": SECRET,
                        "STATE_DIR": str(tmp_path / "state"),
                        "PARTNER_TIMEOUT_S": "2",
                        **env,
                    },
                )
            )
            drill = Drill(sim.url, workflow.url)
            stack.callback(drill.close)
            return drill

        yield _start


def test_happy_path_creates_one_shipment_and_forwards_traceparent(
    start: Callable[..., Drill],
) -> None:
    drill = start()
    assert drill.workflow.get("/healthz").status_code == 200
    assert drill.deliver(payment("evt_1", "ord_1")).status_code == 200
    assert drill.state()["ord_1"]["shipments"] == 1
    [effect] = drill.ledger()
    assert effect["correlation_id"] == trace_for("evt_1")
    assert effect["idempotency_key"] == ""
    outcomes = drill.workflow.get("/admin/outcomes").json()
    assert outcomes == [
        {"event_id": "evt_1", "outcome": "processed", "detail": "shipment created for ord_1"}
    ]
    assert drill.workflow.get("/admin/status").json() == {"pending": 0}
    assert drill.workflow.get("/admin/dead-letters").json() == []


def test_redelivery_creates_a_duplicate_shipment(start: Callable[..., Drill]) -> None:
    drill = start()
    body = payment("evt_1", "ord_1")
    assert drill.deliver(body).status_code == 200
    assert drill.deliver(body).status_code == 200
    assert drill.state()["ord_1"]["shipments"] == 2
    outcomes = drill.workflow.get("/admin/outcomes").json()
    assert [o["outcome"] for o in outcomes] == ["processed", "processed"]


def test_timeout_then_immediate_retry_duplicates(start: Callable[..., Drill]) -> None:
    drill = start(faults={"slow": [{"delay_ms": 1500, "requests": [1]}]}, PARTNER_TIMEOUT_S="0.3")
    assert drill.deliver(payment("evt_1", "ord_1")).status_code == 200
    # One delivery, two shipments: the timed-out call had already been applied.
    assert drill.state()["ord_1"]["shipments"] == 2


def test_partner_errors_give_500_after_three_tries(start: Callable[..., Drill]) -> None:
    drill = start(faults={"bursts": [{"status": 503}]})
    response = drill.deliver(payment("evt_1", "ord_1"))
    assert response.status_code == 500
    assert drill.partner.get("/_sim/state").json()["requests"] == 3
    assert drill.workflow.get("/admin/outcomes").json() == []


def test_out_of_order_update_leaves_a_stale_version(start: Callable[..., Drill]) -> None:
    drill = start()
    assert drill.deliver(payment("evt_1", "ord_1")).status_code == 200
    assert drill.deliver(order_updated("evt_3", "ord_1", 3)).status_code == 200
    assert drill.deliver(order_updated("evt_2", "ord_1", 2)).status_code == 200
    assert drill.state()["ord_1"]["version"] == 2


def test_update_before_create_fails_with_500(start: Callable[..., Drill]) -> None:
    drill = start()
    assert drill.deliver(order_updated("evt_2", "ord_1", 2)).status_code == 500
    assert drill.ledger() == []


@pytest.mark.parametrize(
    "kwargs",
    [{"secret": "whsec_wrong"}, {"skew_s": -301}, {"skew_s": 400}],
    ids=["wrong-secret", "too-old", "too-far-ahead"],
)
def test_bad_signature_is_400_and_does_nothing(
    start: Callable[..., Drill], kwargs: dict[str, Any]
) -> None:
    drill = start()
    response = drill.deliver(payment("evt_1", "ord_1"), **kwargs)
    assert response.status_code == 400
    assert "signature" in response.json()["error"]
    assert drill.ledger() == []


def test_missing_configuration_is_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "workflows.naive"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PORT": "0", "WEBHOOK_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "workflows.naive: PARTNER_URL: required environment variable is not set"
    )
