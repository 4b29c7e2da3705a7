"""What the workflow tests share: signed events, and real partner + workflow processes."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import http_kit
import httpx
from process_kit import partner, service

REPO = Path(__file__).resolve().parents[1]
SECRET = "whsec_workflow_test_secret"


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


def wait_until(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"condition not met within {timeout_s}s"
        time.sleep(0.05)


LOGISTICS = REPO / "pilots/partners/logistics.toml"


def shipments(state: dict[str, Any]) -> dict[str, Any]:
    """The declared logistics partner's /_sim/state, per order."""
    return {
        key: {
            "shipments": len(entity["ids"]),
            "version": entity["version"],
            "address": entity["data"].get("address"),
        }
        for key, entity in state["entities"].get("shipment", {}).items()
    }


class Drill:
    def __init__(self, partner_url: str, workflow_url: str) -> None:
        self.partner = http_kit.client(base_url=partner_url, timeout=10)
        self.workflow = http_kit.client(base_url=workflow_url, timeout=15)

    def close(self) -> None:
        self.partner.close()
        self.workflow.close()

    def deliver(self, body: bytes, **kwargs: Any) -> httpx.Response:
        event_id = json.loads(body)["id"]
        headers = {**stripe_headers(body, **kwargs), "traceparent": trace_for(event_id)}
        return self.workflow.post("/webhooks/payments", content=body, headers=headers)

    def settle(self, timeout_s: float = 20.0) -> None:
        """Wait until every accepted event is terminal, as the harness does."""
        wait_until(lambda: self.status()["pending"] == 0, timeout_s)

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.workflow.get("/admin/status").json()
        return status

    def outcomes(self) -> dict[str, list[str]]:
        by_event: dict[str, list[str]] = {}
        for row in self.workflow.get("/admin/outcomes").json():
            by_event.setdefault(row["event_id"], []).append(row["outcome"])
        return by_event

    def state(self) -> dict[str, Any]:
        """Per order: shipments made, version and address the partner holds."""
        return shipments(self.partner.get("/_sim/state").json())

    def ledger(self) -> list[dict[str, Any]]:
        """The partner's ledger in the words of these tests."""
        entries: list[dict[str, Any]] = self.partner.get("/_sim/ledger").json()
        return [
            {
                "kind": e["effect"],
                "business_key": e["key"],
                "entity_version": e["version"],
                "idempotency_key": e["idempotency_key"] or "",
                "correlation_id": e["traceparent"] or "",
            }
            for e in entries
        ]

    def faults(self, faults: dict[str, Any]) -> None:
        assert self.partner.post("/_sim/faults", json=faults).status_code == 200


@contextmanager
def services(module: str, tmp_path: Path) -> Iterator[Callable[..., Drill]]:
    """A starter for partner + ``workflows.<module>`` pairs; every process is stopped on exit."""
    with ExitStack() as stack:

        def _start(faults: dict[str, Any] | None = None, **env: str) -> Drill:
            sim = stack.enter_context(
                partner(LOGISTICS, cwd=REPO, faults_json=json.dumps(faults) if faults else None)
            )
            workflow = stack.enter_context(
                service(
                    [sys.executable, "-m", f"workflows.{module}"],
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
