"""The partner simulator over real HTTP on loopback, started as its own process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.partner.process import Service, partner

REPO = Path(__file__).resolve().parents[1]
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("partner") / "ledger.jsonl"


@pytest.fixture(scope="module")
def sim(ledger_path: Path) -> Iterator[Service]:
    with partner(ledger=ledger_path, cwd=REPO) as svc:
        yield svc


@pytest.fixture
def api(sim: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=5) as client:
        assert client.post("/_sim/faults", json={}).status_code == 200
        assert client.post("/_sim/reset").status_code == 200
        yield client


def set_faults(api: httpx.Client, faults: dict[str, Any]) -> None:
    response = api.post("/_sim/faults", json=faults)
    assert response.status_code == 200, response.text


def create_body(order: str = "ord_1", version: int = 1) -> dict[str, Any]:
    return {"order_id": order, "address": f"{version} Main St", "version": version}


def test_health_and_create(api: httpx.Client) -> None:
    assert api.get("/_sim/health").json()["ok"] is True
    response = api.post("/v1/shipments", json=create_body())
    assert response.status_code == 201
    body = response.json()
    assert body["order_id"] == "ord_1" and body["version"] == 1 and body["id"].startswith("shp_")
    state = api.get("/_sim/state").json()["orders"]["ord_1"]
    assert state["shipments"] == 1 and state["version"] == 1 and state["address"] == "1 Main St"


def test_no_key_means_every_post_is_a_new_shipment(api: httpx.Client) -> None:
    for _ in range(2):
        assert api.post("/v1/shipments", json=create_body()).status_code == 201
    assert api.get("/_sim/state").json()["orders"]["ord_1"]["shipments"] == 2
    assert len(api.get("/_sim/ledger").json()) == 2


def test_same_key_same_body_replays_stored_response(api: httpx.Client) -> None:
    headers = {"Idempotency-Key": "key-1"}
    first = api.post("/v1/shipments", json=create_body(), headers=headers)
    second = api.post("/v1/shipments", json=create_body(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert len(api.get("/_sim/ledger").json()) == 1
    # The quoted sf-string form of the IETF draft is the same key.
    third = api.post("/v1/shipments", json=create_body(), headers={"Idempotency-Key": '"key-1"'})
    assert third.headers.get("idempotent-replayed") == "true"


def test_same_key_other_body_is_422_and_applies_nothing(api: httpx.Client) -> None:
    headers = {"Idempotency-Key": "key-2"}
    assert api.post("/v1/shipments", json=create_body(), headers=headers).status_code == 201
    other = api.post("/v1/shipments", json=create_body(version=2), headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(api.get("/_sim/ledger").json()) == 1


async def test_same_key_while_in_flight_is_409_then_replays(
    api: httpx.Client, sim: Service
) -> None:
    headers = {"Idempotency-Key": "key-3"}
    async with httpx.AsyncClient(base_url=sim.url, timeout=10) as client:
        slow = {"slow": [{"delay_ms": 1500, "requests": [1]}]}
        assert (await client.post("/_sim/faults", json=slow)).status_code == 200
        async with asyncio.TaskGroup() as tg:
            first = tg.create_task(
                client.post("/v1/shipments", json=create_body(), headers=headers)
            )
            # Wait until request 1 has applied its effect, so request 2 surely meets it in flight.
            deadline = time.monotonic() + 5
            while not (await client.get("/_sim/ledger")).json():
                assert time.monotonic() < deadline, "first request never applied its effect"
                await asyncio.sleep(0.02)
            second = await client.post("/v1/shipments", json=create_body(), headers=headers)
            assert second.status_code == 409
            assert second.json()["error"]["code"] == "idempotency_key_in_use"
            assert not first.done()
        assert first.result().status_code == 201
        third = await client.post("/v1/shipments", json=create_body(), headers=headers)
        assert third.status_code == 201 and third.headers["idempotent-replayed"] == "true"
        assert len((await client.get("/_sim/ledger")).json()) == 1


def test_failed_validation_stores_nothing_under_the_key(api: httpx.Client) -> None:
    headers = {"Idempotency-Key": "key-4"}
    bad = api.post("/v1/shipments", json={"order_id": "ord_1", "version": 1}, headers=headers)
    assert bad.status_code == 400 and "address" in bad.json()["error"]["message"]
    good = api.post("/v1/shipments", json=create_body(), headers=headers)
    assert good.status_code == 201 and "idempotent-replayed" not in good.headers


def test_rate_limit_answers_429_with_retry_after_and_ratelimit_headers(api: httpx.Client) -> None:
    set_faults(api, {"rate_limit": {"capacity": 2, "refill_per_s": 0.25}})
    ok = [api.post("/v1/shipments", json=create_body(f"ord_{i}")) for i in range(2)]
    assert [r.status_code for r in ok] == [201, 201]
    assert ok[0].headers["ratelimit-limit"] == "2"
    assert ok[0].headers["ratelimit-remaining"] == "1"
    limited = api.post("/v1/shipments", json=create_body("ord_x"))
    assert limited.status_code == 429
    retry_after = limited.headers["retry-after"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 4
    assert limited.headers["ratelimit-limit"] == "2"
    assert limited.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(limited.headers["ratelimit-reset"]) <= 8
    assert len(api.get("/_sim/ledger").json()) == 2


def test_count_based_burst_fails_exactly_the_chosen_requests(api: httpx.Client) -> None:
    set_faults(api, {"bursts": [{"status": 503, "from_request": 2, "count": 2}]})
    statuses = [
        api.post("/v1/shipments", json=create_body(f"ord_{i}")).status_code for i in range(5)
    ]
    assert statuses == [201, 503, 503, 201, 201]
    assert [e["business_key"] for e in api.get("/_sim/ledger").json()] == [
        "ord_0",
        "ord_3",
        "ord_4",
    ]


def test_time_based_burst_and_after_effect(api: httpx.Client) -> None:
    set_faults(api, {"bursts": [{"status": 502, "from_s": 0, "until_s": 600}]})
    assert api.post("/v1/shipments", json=create_body()).status_code == 502
    set_faults(api, {"bursts": [{"status": 500, "requests": [1], "after_effect": True}]})
    failed = api.post("/v1/shipments", json=create_body(), headers={"Idempotency-Key": "k"})
    assert failed.status_code == 500
    # The effect happened despite the 500, and the key replays the real result.
    assert len(api.get("/_sim/ledger").json()) == 1
    replay = api.post("/v1/shipments", json=create_body(), headers={"Idempotency-Key": "k"})
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"


def test_slow_response_still_applies_its_effect(api: httpx.Client, sim: Service) -> None:
    set_faults(api, {"slow": [{"delay_ms": 2000, "requests": [1]}]})
    with httpx.Client(base_url=sim.url, timeout=0.3) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.post("/v1/shipments", json=create_body())
    # The client gave up, yet the shipment exists: a blind retry would duplicate it.
    ledger = api.get("/_sim/ledger").json()
    assert [e["kind"] for e in ledger] == ["shipment.created"]
    assert api.post("/v1/shipments", json=create_body()).status_code == 201
    assert api.get("/_sim/state").json()["orders"]["ord_1"]["shipments"] == 2


def test_updates_are_applied_blindly_and_404_without_shipment(api: httpx.Client) -> None:
    missing = api.patch("/v1/shipments/ord_9", json={"address": "x", "version": 2})
    assert missing.status_code == 404
    api.post("/v1/shipments", json=create_body(version=3))
    older = api.patch("/v1/shipments/ord_1", json={"address": "old", "version": 2})
    assert older.status_code == 200
    state = api.get("/_sim/state").json()["orders"]["ord_1"]
    assert state["version"] == 2 and state["address"] == "old"


def test_ledger_file_has_one_flushed_line_per_effect(api: httpx.Client, ledger_path: Path) -> None:
    created = api.post(
        "/v1/shipments",
        json=create_body(),
        headers={"Idempotency-Key": "evt_1:create", "traceparent": TRACE},
    ).json()
    api.patch("/v1/shipments/ord_1", json={"address": "2 Main St", "version": 2})
    lines = ledger_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {
        "at",
        "kind",
        "business_key",
        "entity_version",
        "idempotency_key",
        "correlation_id",
        "shipment_id",
    }
    assert first["kind"] == "shipment.created" and second["kind"] == "shipment.updated"
    assert first["business_key"] == second["business_key"] == "ord_1"
    assert (first["entity_version"], second["entity_version"]) == (1, 2)
    assert first["idempotency_key"] == "evt_1:create" and second["idempotency_key"] == ""
    assert first["correlation_id"] == TRACE and second["correlation_id"] == ""
    assert first["shipment_id"] == second["shipment_id"] == created["id"]
    assert abs(first["at"] - time.time()) < 60
    assert api.get("/_sim/ledger").json() == [first, second]


@pytest.mark.parametrize(
    ("faults", "names"),
    [
        ({"bursts": [{"status": "x", "from_request": 1, "count": 1}]}, "bursts[0].status"),
        ({"bursts": [{"status": 503, "from_request": 1}]}, "bursts[0].count"),
        ({"bursts": [{"status": 200}]}, "bursts[0].status"),
        ({"slow": [{"delay_ms": 5, "from_s": 3, "until_s": 1}]}, "slow[0].until_s"),
        ({"slow": [{"requests": [1]}]}, "slow[0].delay_ms"),
        ({"rate_limit": {"capacity": 0, "refill_per_s": 1}}, "rate_limit.capacity"),
        ({"rate_limit": {"capacity": 1}}, "rate_limit.refill_per_s"),
        ({"storm": True}, "faults.storm"),
        ([1, 2], "faults"),
    ],
)
def test_fault_config_is_validated(api: httpx.Client, faults: Any, names: str) -> None:
    response = api.post("/_sim/faults", json=faults)
    assert response.status_code == 400
    message = response.json()["error"]
    assert message.startswith(names) and "\n" not in message
    assert api.get("/_sim/faults").json()["bursts"] == []


def test_fault_config_rejects_non_json(api: httpx.Client) -> None:
    response = api.post("/_sim/faults", content=b"{bursts")
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]


def test_fault_config_round_trips(api: httpx.Client) -> None:
    faults = {
        "rate_limit": {"capacity": 5, "refill_per_s": 2.0},
        "bursts": [{"status": 503, "from_s": 1.0, "until_s": 2.5}],
        "slow": [{"delay_ms": 100, "from_request": 3, "count": 2}],
    }
    set_faults(api, faults)
    assert api.get("/_sim/faults").json() == faults


def test_bad_faults_flag_exits_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness.partner", "--faults", '{"slow": [{"delay_ms": -1}]}'],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "partner: --faults: slow[0].delay_ms: must be >= 0, got -1"
