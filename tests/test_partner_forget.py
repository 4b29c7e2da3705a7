"""Partner faults that make it forget: idempotency keys lost between a call and its
retry, and answers lost after the effect was applied; and the wait a throttling
answer asks for, as the request journal records it."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import http_kit
import httpx
import pytest
from process_kit import Service, partner
from test_partner import FakeClock, client_for, create, faults, journal, ledger, logistics

from harness.partner import FaultConfigError, parse_faults
from harness.partner.waits import asked_wait_s

REPO = Path(__file__).resolve().parents[1]
KEY = {"Idempotency-Key": "evt_1:create"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {"ledger": tmp_path / "ledger.jsonl", "requests": tmp_path / "requests.jsonl"}


@pytest.fixture
async def api(clock: FakeClock, files: dict[str, Path]) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(logistics(), clock, files) as client:
        yield client


async def test_a_retry_after_the_partner_forgot_its_keys_applies_twice(
    api: httpx.AsyncClient,
) -> None:
    await faults(api, {"forget_keys": [{"requests": [3]}]})
    first = await api.post("/v1/shipments", json=create(), headers=KEY)
    replay = await api.post("/v1/shipments", json=create(), headers=KEY)
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.headers.get("idempotent-replayed") == "true"
    assert len(await ledger(api)) == 1
    forgot = await api.post("/v1/shipments", json=create(), headers=KEY)  # request 3
    assert forgot.status_code == 201 and "idempotent-replayed" not in forgot.headers
    assert len(await ledger(api)) == 2
    assert [e["fault"] for e in await journal(api)] == [None, None, "forgot_keys"]


async def test_an_answer_lost_in_process_is_a_502_after_the_effect(
    api: httpx.AsyncClient,
) -> None:
    await faults(api, {"lost_answers": [{"from_request": 1, "count": 1}]})
    lost = await api.post("/v1/shipments", json=create(), headers=KEY)
    assert lost.status_code == 502 and lost.headers["x-sim-fault"] == "LOST_ANSWER"
    assert len(await ledger(api)) == 1
    # The key was completed with the real answer: the retry is a replay, not a second parcel.
    retry = await api.post("/v1/shipments", json=create(), headers=KEY)
    assert retry.status_code == 201 and retry.headers.get("idempotent-replayed") == "true"
    assert len(await ledger(api)) == 1
    assert [e["fault"] for e in await journal(api)] == ["lost_answer:timeout", None]


async def test_the_journal_records_the_wait_a_429_asked_for(api: httpx.AsyncClient) -> None:
    await faults(api, {"rate_limit": {"capacity": 1, "refill_per_s": 0.5}})
    await api.post("/v1/shipments", json=create("a"))
    limited = await api.post("/v1/shipments", json=create("b"))
    assert limited.status_code == 429
    rows = await journal(api)
    assert rows[0]["retry_after_s"] is None
    assert rows[1]["retry_after_s"] == float(limited.headers["retry-after"]) == 2.0


def test_asked_wait_reads_every_way_a_partner_says_when() -> None:
    wall = time.time()
    assert asked_wait_s(429, {"Retry-After": "3"}, wall) == 3.0
    assert asked_wait_s(503, {"retry-after": formatdate(wall + 10, usegmt=True)}, wall) == (
        pytest.approx(10.0, abs=1.0)
    )
    assert asked_wait_s(429, {"RateLimit-Reset": "4"}, wall) == 4.0
    assert asked_wait_s(429, {"RateLimit": "limit=10, remaining=0, reset=5"}, wall) == 5.0
    assert asked_wait_s(429, {"RateLimit": '"default";r=0;t=7'}, wall) == 7.0
    assert asked_wait_s(429, {}, wall) is None
    assert asked_wait_s(200, {"Retry-After": "3"}, wall) is None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"forget_keys": [{"request": 3}]}, "forget_keys[0].request: unknown key"),
        ({"forget_keys": {"requests": [3]}}, "forget_keys: must be a list"),
        ({"lost_answers": [{"requests": [1], "how": "drop"}]}, "lost_answers[0].how: must be"),
        ({"lost_answers": [{"from_request": 0, "count": 1}]}, "lost_answers[0].from_request"),
    ],
)
def test_bad_forget_and_lost_settings_name_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_faults(config)


DECL = {
    "idempotency": {"header": "Idempotency-Key"},
    "routes": [
        {"method": "PUT", "path": "/v1/items/{sku}", "effect": "item.saved", "key": "path.sku",
         "status": 200, "body": {"ok": True}},
    ],
}  # fmt: skip


# The module's partner process is started once per xdist worker: one worker runs them all.
pytestmark = pytest.mark.xdist_group("partner-forget")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("partner-lost")
    with partner(
        DECL,
        name="shop",
        ledger=workdir / "ledger.jsonl",
        requests=workdir / "requests.jsonl",
        cwd=REPO,
    ) as svc:
        yield svc


@pytest.mark.parametrize(
    ("how", "error"), [("timeout", httpx.ReadTimeout), ("reset", httpx.TransportError)]
)
def test_a_lost_answer_on_any_route_leaves_the_effect_and_no_answer(
    sim: Service, how: str, error: type[Exception]
) -> None:
    with http_kit.client(base_url=sim.url, timeout=5) as admin:
        assert admin.post("/_sim/reset").status_code == 200
        config = {"lost_answers": [{"requests": [1], "how": how}]}
        assert admin.post("/_sim/faults", content=json.dumps(config)).status_code == 200
        started = time.monotonic()
        with (
            http_kit.client(base_url=sim.url, timeout=0.5) as caller,
            pytest.raises(error),
        ):
            caller.put("/v1/items/sku-1", json={"n": 1})
        # Held until the caller gave up, not for the simulator's whole hold.
        assert time.monotonic() - started < 5
        assert len(admin.get("/_sim/ledger").json()) == 1
        rows = admin.get("/_sim/requests").json()
        assert rows[-1]["status"] is None and rows[-1]["fault"] == f"lost_answer:{how}"
        again = admin.put("/v1/items/sku-2", json={"n": 2})
        assert again.status_code == 200


def test_a_partner_process_that_forgot_its_keys_applies_a_retry_again(sim: Service) -> None:
    key = {"Idempotency-Key": "op-1"}
    with http_kit.client(base_url=sim.url, timeout=5) as client:
        assert client.post("/_sim/reset").status_code == 200
        config = {"forget_keys": [{"requests": [3]}]}
        assert client.post("/_sim/faults", content=json.dumps(config)).status_code == 200
        for _ in range(3):
            assert client.put("/v1/items/sku-1", json={"n": 1}, headers=key).status_code == 200
        ledger = client.get("/_sim/ledger").json()
        rows = client.get("/_sim/requests").json()
    # Call 2 was a replay; call 3 came after the partner forgot, so it ran again.
    assert len(ledger) == 2
    assert [r["reason"] for r in rows] == [None, "idempotent replay", None]
    assert rows[2]["fault"] == "forgot_keys"
