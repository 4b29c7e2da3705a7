"""The declarative partner simulator, in-process (httpx.ASGITransport) with a fake clock.

The logistics declaration (pilots/partners/logistics.toml) is the main fixture:
it must behave like the hand-written shipments simulator it replaced.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.partner import create_app, resolve_partner

REPO = Path(__file__).resolve().parents[1]
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def logistics(**overrides: Any) -> dict[str, Any]:
    decl = {"file": "partners/logistics.toml", **overrides}
    return resolve_partner("logistics", decl, REPO / "pilots")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {"ledger": tmp_path / "ledger.jsonl", "requests": tmp_path / "requests.jsonl"}


async def client_for(
    spec: dict[str, Any], clock: FakeClock, files: dict[str, Path]
) -> httpx.AsyncClient:
    app = create_app(
        spec, ledger_path=files["ledger"], requests_path=files["requests"], clock=clock
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")


@pytest.fixture
async def api(clock: FakeClock, files: dict[str, Path]) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(logistics(), clock, files) as client:
        yield client


async def faults(api: httpx.AsyncClient, config: dict[str, Any]) -> None:
    response = await api.post("/_sim/faults", json=config)
    assert response.status_code == 200, response.text


def create(order: str = "ord_1", version: int = 1) -> dict[str, Any]:
    return {"order_id": order, "address": f"{version} Main St", "version": version}


async def ledger(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = (await api.get("/_sim/ledger")).json()
    return entries


async def journal(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = (await api.get("/_sim/requests")).json()
    return entries


# -- the logistics declaration behaves like the old simulator -------------------


async def test_create_update_read(api: httpx.AsyncClient) -> None:
    created = await api.post("/v1/shipments", json=create(), headers={"traceparent": TRACE})
    assert created.status_code == 201
    assert created.json() == {"id": "shipment_000001", "order_id": "ord_1", "version": 1}
    updated = await api.patch("/v1/shipments/ord_1", json={"address": "2 Elm", "version": 2})
    assert updated.status_code == 200
    assert updated.json() == {"id": "shipment_000001", "order_id": "ord_1", "version": 2}
    read = (await api.get("/v1/shipments/ord_1")).json()
    assert read["address"] == "2 Elm" and read["version"] == 2
    state = (await api.get("/_sim/state")).json()
    assert state["requests"] == 3 and state["effects"] == 2
    entity = state["entities"]["shipment"]["ord_1"]
    assert (entity["ids"], entity["version"], entity["effects"]) == (["shipment_000001"], 2, 2)


async def test_without_key_every_post_is_a_new_entity_id(api: httpx.AsyncClient) -> None:
    for _ in range(2):
        assert (await api.post("/v1/shipments", json=create())).status_code == 201
    state = (await api.get("/_sim/state")).json()["entities"]["shipment"]["ord_1"]
    assert state["ids"] == ["shipment_000001", "shipment_000002"]
    assert [e["effect"] for e in await ledger(api)] == ["shipment.created"] * 2


async def test_update_needs_the_entity(api: httpx.AsyncClient) -> None:
    missing = await api.patch("/v1/shipments/ord_9", json={"address": "x", "version": 2})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "shipment ord_9 not found"
    assert (await api.get("/v1/shipments/ord_9")).status_code == 404
    assert await ledger(api) == []


async def test_updates_are_applied_blindly(api: httpx.AsyncClient) -> None:
    await api.post("/v1/shipments", json=create(version=3))
    older = await api.patch("/v1/shipments/ord_1", json={"address": "old", "version": 2})
    assert older.status_code == 200
    state = (await api.get("/_sim/state")).json()["entities"]["shipment"]["ord_1"]
    assert state["version"] == 2 and state["data"]["address"] == "old"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"address": "x", "version": 1}, "body.order_id: required"),
        ({"order_id": "", "address": "x", "version": 1}, "body.order_id: required"),
        ({"order_id": "o", "version": 1}, "body.address: required"),
        ({"order_id": "o", "address": 5, "version": 1}, "body.address: must be string or object"),
        ({"order_id": "o", "address": "x", "version": "2"}, "body.version: must be integer"),
        ({"order_id": "o", "address": "x", "version": True}, "body.version: must be integer"),
    ],
)
async def test_validation_reason(api: httpx.AsyncClient, body: Any, reason: str) -> None:
    response = await api.post("/v1/shipments", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == reason
    last = (await journal(api))[-1]
    assert (last["status"], last["reason"], last["route"]) == (400, reason, "create shipment")


async def test_body_that_is_not_json(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/shipments", content=b"{order")
    assert response.status_code == 400 and response.json()["error"]["message"] == (
        "body: not valid JSON"
    )


async def test_unmatched_request_is_404_and_journaled(api: httpx.AsyncClient) -> None:
    response = await api.delete("/v1/shipments/ord_1?force=1", headers={"traceparent": TRACE})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no route matches"
    (line,) = await journal(api)
    assert line["method"] == "DELETE" and line["path"] == "/v1/shipments/ord_1"
    assert line["query"] == "force=1" and line["status"] == 404
    assert line["route"] is None and line["reason"] == "no route matches"
    assert line["traceparent"] == TRACE and line["partner"] == "logistics"


# -- idempotency ------------------------------------------------------------------


async def test_same_key_same_body_replays(api: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "key-1"}
    first = await api.post("/v1/shipments", json=create(), headers=key)
    second = await api.post("/v1/shipments", json=create(), headers=key)
    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content
    # The IETF draft's quoted sf-string form is the same key.
    third = await api.post("/v1/shipments", json=create(), headers={"Idempotency-Key": '"key-1"'})
    assert third.headers.get("idempotent-replayed") == "true"
    assert len(await ledger(api)) == 1
    assert (await journal(api))[-1]["reason"] == "idempotent replay"


async def test_same_key_other_body_is_422(api: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "key-2"}
    await api.post("/v1/shipments", json=create(), headers=key)
    other = await api.post("/v1/shipments", json=create(version=2), headers=key)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(await ledger(api)) == 1


async def test_key_scope_is_method_and_path(api: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "shared"}
    await api.post("/v1/shipments", json=create(), headers=key)
    patch = await api.patch("/v1/shipments/ord_1", json={"address": "a", "version": 2}, headers=key)
    assert patch.status_code == 200 and "idempotent-replayed" not in patch.headers


async def test_key_in_flight_is_409_then_replays(clock: FakeClock, files: dict[str, Path]) -> None:
    spec = logistics(faults={"slow": [{"delay_ms": 400, "requests": [1]}]})
    app = create_app(spec, clock=clock)
    sim = app.state.simulator
    applied = asyncio.Event()
    append = sim.ledger.append

    def append_and_tell(entry: dict[str, Any]) -> None:
        append(entry)
        applied.set()

    sim.ledger.append = append_and_tell
    key = {"Idempotency-Key": "key-3"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as api:
        first = asyncio.create_task(api.post("/v1/shipments", json=create(), headers=key))
        async with asyncio.timeout(5):
            await applied.wait()  # request 1 applied its effect and is now slow to answer
        second = await api.post("/v1/shipments", json=create(), headers=key)
        assert second.status_code == 409 and not first.done()
        assert (await first).status_code == 201
        third = await api.post("/v1/shipments", json=create(), headers=key)
        assert third.headers["idempotent-replayed"] == "true"
        assert len(await ledger(api)) == 1


async def test_failed_validation_stores_nothing_under_the_key(api: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "key-4"}
    bad = await api.post("/v1/shipments", json={"order_id": "o", "version": 1}, headers=key)
    assert bad.status_code == 400
    good = await api.post("/v1/shipments", json=create(), headers=key)
    assert good.status_code == 201 and "idempotent-replayed" not in good.headers


async def test_keys_older_than_ttl_are_forgotten(clock: FakeClock, files: dict[str, Path]) -> None:
    spec = logistics(idempotency={"header": "Idempotency-Key", "ttl_s": 60})
    async with await client_for(spec, clock, files) as api:
        key = {"Idempotency-Key": "k"}
        await api.post("/v1/shipments", json=create(), headers=key)
        clock.now += 59
        kept = await api.post("/v1/shipments", json=create(), headers=key)
        assert kept.headers.get("idempotent-replayed") == "true"
        clock.now += 2
        pruned = await api.post("/v1/shipments", json=create(), headers=key)
        assert pruned.status_code == 201 and "idempotent-replayed" not in pruned.headers
        assert len(await ledger(api)) == 2


async def test_no_idempotency_header_means_no_keys(
    clock: FakeClock, files: dict[str, Path]
) -> None:
    async with await client_for(logistics(idempotency={"header": ""}), clock, files) as api:
        for _ in range(2):
            await api.post("/v1/shipments", json=create(), headers={"Idempotency-Key": "k"})
        assert len(await ledger(api)) == 2


# -- faults -------------------------------------------------------------------------


async def test_rate_limit(api: httpx.AsyncClient, clock: FakeClock) -> None:
    await faults(api, {"rate_limit": {"capacity": 2, "refill_per_s": 0.25}})
    ok = [await api.post("/v1/shipments", json=create(f"o{i}")) for i in range(2)]
    assert [r.status_code for r in ok] == [201, 201]
    assert ok[0].headers["ratelimit-remaining"] == "1"
    limited = await api.post("/v1/shipments", json=create("ox"))
    assert limited.status_code == 429 and limited.headers["retry-after"] == "4"
    assert limited.headers["ratelimit-remaining"] == "0"
    clock.now += 4
    assert (await api.post("/v1/shipments", json=create("oy"))).status_code == 201
    assert [e["key"] for e in await ledger(api)] == ["o0", "o1", "oy"]
    assert (await journal(api))[2]["reason"] == "rate limited"


async def test_burst_before_effect_by_request_number(api: httpx.AsyncClient) -> None:
    await faults(api, {"bursts": [{"status": 503, "from_request": 2, "count": 2}]})
    statuses = [
        (await api.post("/v1/shipments", json=create(f"o{i}"))).status_code for i in range(4)
    ]
    assert statuses == [201, 503, 503, 201]
    assert [e["key"] for e in await ledger(api)] == ["o0", "o3"]
    assert (await journal(api))[1]["reason"] == "injected 503"


async def test_burst_by_time_window(api: httpx.AsyncClient, clock: FakeClock) -> None:
    await faults(api, {"bursts": [{"status": 502, "from_s": 10, "until_s": 20}]})
    assert (await api.post("/v1/shipments", json=create("a"))).status_code == 201
    clock.now += 10
    assert (await api.post("/v1/shipments", json=create("b"))).status_code == 502
    clock.now += 10
    assert (await api.post("/v1/shipments", json=create("c"))).status_code == 201


async def test_burst_after_effect_commits_and_replays(api: httpx.AsyncClient) -> None:
    await faults(api, {"bursts": [{"status": 500, "requests": [1], "after_effect": True}]})
    key = {"Idempotency-Key": "k"}
    failed = await api.post("/v1/shipments", json=create(), headers=key)
    assert failed.status_code == 500
    assert len(await ledger(api)) == 1  # it happened despite the 500
    replay = await api.post("/v1/shipments", json=create(), headers=key)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    first = (await journal(api))[0]
    assert first["effect"] == "shipment.created" and first["reason"] == "injected 500 after effect"


async def test_faults_reset_counter_and_reset_forgets(api: httpx.AsyncClient) -> None:
    await api.post("/v1/shipments", json=create(), headers={"Idempotency-Key": "k"})
    await faults(api, {"bursts": [{"status": 503, "requests": [1]}]})
    assert (await api.post("/v1/shipments", json=create("x"))).status_code == 503
    assert (await api.post("/_sim/reset")).status_code == 200
    state = (await api.get("/_sim/state")).json()
    assert state == {
        "requests": 0,
        "effects": 0,
        "last_request_at": None,
        "entities": {},
        "handed_ids": {},
    }
    assert await journal(api) == []
    again = await api.post("/v1/shipments", json=create(), headers={"Idempotency-Key": "k"})
    assert again.status_code == 503  # the clock restarted: request 1 again
    fresh = await api.post("/v1/shipments", json=create(), headers={"Idempotency-Key": "k"})
    assert fresh.status_code == 201 and "idempotent-replayed" not in fresh.headers


@pytest.mark.parametrize(
    ("config", "names"),
    [
        ({"bursts": [{"status": "x", "from_request": 1, "count": 1}]}, "bursts[0].status"),
        ({"slow": [{"requests": [1]}]}, "slow[0].delay_ms"),
        ({"storm": True}, "faults.storm"),
    ],
)
async def test_fault_config_is_validated(api: httpx.AsyncClient, config: Any, names: str) -> None:
    response = await api.post("/_sim/faults", json=config)
    assert response.status_code == 400 and response.json()["error"].startswith(names)


# -- files ---------------------------------------------------------------------------


async def test_ledger_and_journal_files(api: httpx.AsyncClient, files: dict[str, Path]) -> None:
    headers = {"Idempotency-Key": "evt_1:create", "traceparent": TRACE}
    await api.post("/v1/shipments", json=create(), headers=headers)
    await api.patch("/v1/shipments/ord_1", json={"address": "2 Main St", "version": 2})
    lines = [json.loads(x) for x in files["ledger"].read_text().splitlines()]
    assert lines == await ledger(api)
    first, second = lines
    assert set(first) == {"at", "partner", "route", "effect", "entity", "key", "version",
                          "idempotency_key", "traceparent", "id"}  # fmt: skip
    assert (first["effect"], second["effect"]) == ("shipment.created", "shipment.updated")
    assert (first["version"], second["version"]) == (1, 2)
    assert first["idempotency_key"] == "evt_1:create" and second["idempotency_key"] is None
    assert first["traceparent"] == TRACE and first["id"] == second["id"] == "shipment_000001"
    requests = [json.loads(x) for x in files["requests"].read_text().splitlines()]
    assert requests == await journal(api)
    assert [(r["method"], r["status"], r["route"], r["effect"], r["key"]) for r in requests] == [
        ("POST", 201, "create shipment", "shipment.created", "ord_1"),
        ("PATCH", 200, "update shipment", "shipment.updated", "ord_1"),
    ]
    assert requests[0]["idempotency_key"] == "evt_1:create" and requests[0]["duration_ms"] >= 0


# -- generic routes: matching, templating, reads -----------------------------------------


GENERIC = {
    "idempotency": {"header": "Idempotency-Key"},
    "routes": [
        {"method": "POST", "path": "/v1/contacts", "when": {"query.dry": "1"}, "status": 202},
        {"method": "POST", "path": "/v1/contacts", "effect": "contact.created",
         "key": 'body."e.mail"', "status": 201,
         "body": {"id": "{id}", "n": "{body.n}", "tags": "{body.tags}", "text": "n={body.n} {{x}}",
                  "missing": "{body.nope}", "entity": "{entity.id}", "at": "{now}"}},
        {"method": "GET", "path": "/v1/contacts/{cid}/notes/{nid}",
         "body": {"c": "{path.cid}", "n": "{path.nid}", "h": "{header.X-Tenant}"}},
        {"method": "ANY", "path_regex": "/v1/any/(?P<rest>.*)", "body_text": "plain",
         "headers": {"X-Kind": "any"}},
    ],
}  # fmt: skip


async def test_routes_match_in_order_with_conditions(
    clock: FakeClock, files: dict[str, Path]
) -> None:
    spec = resolve_partner("crm", GENERIC, REPO)
    async with await client_for(spec, clock, files) as api:
        dry = await api.post("/v1/contacts?dry=1", json={"e.mail": "a@b"})
        assert dry.status_code == 202 and await ledger(api) == []
        real = await api.post("/v1/contacts", json={"e.mail": "a@b", "n": 3, "tags": ["x"]})
        assert real.status_code == 201
        body = real.json()
        assert body["id"] == "contact_000001" and body["entity"] == "contact_000001"
        assert body["n"] == 3 and body["tags"] == ["x"] and body["text"] == "n=3 {x}"
        assert body["missing"] is None and body["at"].endswith("Z")
        notes = await api.get("/v1/contacts/c1/notes/n2", headers={"x-tenant": "acme"})
        assert notes.json() == {"c": "c1", "n": "n2", "h": "acme"}
        anything = await api.put("/v1/any/thing")
        assert anything.text == "plain" and anything.headers["x-kind"] == "any"
        assert anything.headers["content-type"].startswith("text/plain")
        assert (await api.get("/v1/contacts/c1")).status_code == 404
