"""The naive workflow as a real process against a real partner simulator process.

These tests pin down how the naive workflow fails, so a drill that finds the
same failures is believable.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from workflow_kit import (
    SECRET,
    Drill,
    order_updated,
    payment,
    services,
    trace_for,
)

# Each test starts the reference workflow as a real process, with its partners:
# seconds each, so the inner loop (make check) leaves them to make test.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Drill]]:
    with services("naive", tmp_path) as starter:
        yield starter


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


@pytest.mark.slow
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
