"""Unit tests of the hardened workflow's partner client, with respx standing in for the partner."""

from __future__ import annotations

import asyncio
import email.utils
import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import http_kit
import httpx
import pytest
import respx

# `workflows` is not an installed package: services run from the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workflows.hardened.client import (
    CircuitBreaker,
    PartnerClient,
    PartnerGaveUp,
    PartnerRejected,
    PartnerResult,
    RetryPolicy,
    retry_after_s,
)

BASE = "http://partner.test"
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CREATED = httpx.Response(201, json={"id": "shp_1", "order_id": "ord_1", "version": 1})


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class MaxRandom(random.Random):
    """Always draws the top of the range, so full jitter shows its ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_kit.async_client(base_url=BASE) as client:
        yield client


def make_client(
    http: httpx.AsyncClient,
    fake: FakeTime,
    *,
    max_attempts: int = 8,
    threshold: int = 100,
    cooldown_s: float = 1.0,
    rng: random.Random | None = None,
) -> PartnerClient:
    return PartnerClient(
        http,
        RetryPolicy(max_attempts=max_attempts, base_s=0.05, cap_s=2.0),
        CircuitBreaker(threshold=threshold, cooldown_s=cooldown_s, clock=fake.clock),
        sleep=fake.sleep,
        rng=rng or random.Random(7),
    )


async def create(client: PartnerClient, attempts_used: int = 0) -> PartnerResult:
    return await client.create_shipment(
        order_id="ord_1",
        address="1 Main St",
        version=1,
        idempotency_key="evt_1:create",
        traceparent=TRACE,
        attempts_used=attempts_used,
    )


@respx.mock(base_url=BASE)
async def test_retries_keep_one_key_and_forward_traceparent(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient, fake: FakeTime
) -> None:
    route = respx_mock.post("/v1/shipments").mock(
        side_effect=[
            httpx.Response(503),
            httpx.ConnectError("refused"),
            httpx.Response(500),
            CREATED,
        ]
    )
    seen: list[int] = []
    result = await make_client(http, fake).create_shipment(
        order_id="ord_1",
        address="1 Main St",
        version=1,
        idempotency_key="evt_1:create",
        traceparent=TRACE,
        on_attempt=seen.append,
    )
    assert result.status == 201 and result.attempts == 4 and result.body["id"] == "shp_1"
    assert seen == [1, 2, 3, 4]
    assert route.call_count == 4
    assert {c.request.headers["idempotency-key"] for c in route.calls} == {"evt_1:create"}
    assert {c.request.headers["traceparent"] for c in route.calls} == {TRACE}
    assert len(fake.sleeps) == 3


@respx.mock(base_url=BASE)
async def test_backoff_is_full_jitter_under_an_exponential_cap(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient, fake: FakeTime
) -> None:
    respx_mock.post("/v1/shipments").mock(return_value=httpx.Response(503))
    with pytest.raises(PartnerGaveUp):
        await create(make_client(http, fake, max_attempts=8, rng=MaxRandom()))
    # Ceilings double from the base and stop at the cap; no sleep after the last attempt.
    assert fake.sleeps == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0])


@respx.mock(base_url=BASE)
async def test_jittered_sleeps_stay_within_their_ceilings(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient, fake: FakeTime
) -> None:
    respx_mock.post("/v1/shipments").mock(return_value=httpx.Response(502))
    with pytest.raises(PartnerGaveUp):
        await create(make_client(http, fake, max_attempts=8, rng=random.Random(1)))
    ceilings = [min(2.0, 0.05 * 2**i) for i in range(7)]
    assert all(0 <= s <= c for s, c in zip(fake.sleeps, ceilings, strict=True))
    assert len(set(fake.sleeps)) > 1  # jitter, not a fixed schedule


@respx.mock(base_url=BASE)
async def test_retry_after_is_a_floor_for_the_next_attempt(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient, fake: FakeTime
) -> None:
    respx_mock.post("/v1/shipments").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(503, headers={"Retry-After": "1.5"}),
            CREATED,
        ]
    )
    result = await create(make_client(http, fake))
    assert result.attempts == 3
    assert fake.sleeps[0] >= 3 and fake.sleeps[1] >= 1.5


@respx.mock(base_url=BASE)
async def test_ratelimit_reset_is_used_when_retry_after_is_missing(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient, fake: FakeTime
) -> None:
    limited = httpx.Response(429, headers={"RateLimit-Remaining": "0", "RateLimit-Reset": "4"})
    respx_mock.post("/v1/shipments").mock(side_effect=[limited, CREATED])
    await create(make_client(http, fake))
    assert fake.sleeps[0] >= 4


def test_retry_after_forms() -> None:
    request = httpx.Request("GET", BASE)
    assert retry_after_s(httpx.Response(429, headers={"Retry-After": "2"}, request=request)) == 2
    assert retry_after_s(httpx.Response(429, headers={"Retry-After": "2.0"}, request=request)) == 2
    date = email.utils.formatdate(1_000_030, usegmt=True)
    dated = httpx.Response(503, headers={"Retry-After": date}, request=request)
    assert retry_after_s(dated, now=1_000_000) == pytest.approx(30)
    junk = httpx.Response(429, headers={"Retry-After": "soon"}, request=request)
    assert retry_after_s(junk) is None
    assert retry_after_s(httpx.Response(503, request=request)) is None


@respx.mock(base_url=BASE)
async def test_gives_up_after_the_attempt_budget_counting_earlier_attempts(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient, fake: FakeTime
) -> None:
    route = respx_mock.post("/v1/shipments").mock(return_value=httpx.Response(503))
    with pytest.raises(PartnerGaveUp) as caught:
        await create(make_client(http, fake, max_attempts=8), attempts_used=5)
    assert route.call_count == 3
    assert caught.value.attempts == 8
    assert "gave up after 8 attempts" in caught.value.reason and "503" in caught.value.reason


@respx.mock(base_url=BASE)
async def test_a_4xx_that_retrying_cannot_fix_is_not_retried(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient, fake: FakeTime
) -> None:
    body = {"error": {"code": "idempotency_key_reused", "message": "different body"}}
    route = respx_mock.post("/v1/shipments").mock(return_value=httpx.Response(422, json=body))
    with pytest.raises(PartnerRejected) as caught:
        await create(make_client(http, fake))
    assert route.call_count == 1 and caught.value.status == 422
    assert "different body" in caught.value.reason
    assert fake.sleeps == []


@respx.mock(base_url=BASE)
async def test_409_key_in_flight_is_retried_and_a_replay_is_reported(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient, fake: FakeTime
) -> None:
    replay = httpx.Response(
        201,
        json={"id": "shp_1", "order_id": "ord_1", "version": 1},
        headers={"Idempotent-Replayed": "true"},
    )
    respx_mock.post("/v1/shipments").mock(side_effect=[httpx.Response(409), replay])
    result = await create(make_client(http, fake))
    assert result.replayed is True


@respx.mock(base_url=BASE)
async def test_breaker_opens_after_consecutive_failures_and_holds_calls_back(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient, fake: FakeTime
) -> None:
    call_times: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        call_times.append(fake.now)
        return httpx.Response(503) if len(call_times) <= 4 else CREATED

    respx_mock.post("/v1/shipments").mock(side_effect=answer)
    client = make_client(http, fake, threshold=3, cooldown_s=5.0, rng=MaxRandom())
    result = await create(client)
    assert result.attempts == 5
    # Calls 1-3 back off briefly; the third failure opens the breaker, so call 4
    # (the half-open probe) waits out the cool-down. The probe fails, the
    # breaker reopens, and call 5 waits a whole cool-down again.
    assert call_times[3] - call_times[2] >= 5.0
    assert call_times[4] - call_times[3] >= 5.0
    assert client.breaker.times_opened == 2
    assert client.breaker.state == "closed"


async def test_half_open_lets_exactly_one_probe_through(fake: FakeTime) -> None:
    breaker = CircuitBreaker(threshold=1, cooldown_s=1.0, clock=fake.clock)
    breaker.record_failure(probe=False)
    assert breaker.state == "open"
    fake.now += 1.0
    assert await breaker.acquire(fake.sleep) is True
    assert breaker.state == "half_open"
    async with asyncio.timeout(5), asyncio.TaskGroup() as tg:
        waiter = tg.create_task(breaker.acquire(fake.sleep))
        await asyncio.sleep(0)
        assert not waiter.done()  # held back while the probe is out
        breaker.record_success(probe=True)
    assert waiter.result() is False
    assert breaker.state == "closed"


@respx.mock(base_url=BASE)
async def test_update_uses_patch_with_its_own_key(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient, fake: FakeTime
) -> None:
    route = respx_mock.patch("/v1/shipments/ord_1").mock(
        return_value=httpx.Response(200, json={"id": "shp_1", "order_id": "ord_1", "version": 3})
    )
    result = await make_client(http, fake).update_shipment(
        order_id="ord_1",
        address="3 Main St",
        version=3,
        idempotency_key="evt_3:update",
        traceparent=TRACE,
    )
    assert result.status == 200
    [call] = route.calls
    assert call.request.headers["idempotency-key"] == "evt_3:update"
    assert call.request.headers["traceparent"] == TRACE
    assert call.request.read() == b'{"address":"3 Main St","version":3}'


@respx.mock(base_url=BASE)
async def test_throttled_answers_have_their_own_allowance(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient, fake: FakeTime
) -> None:
    limited = httpx.Response(429, headers={"Retry-After": "1"})
    respx_mock.post("/v1/shipments").mock(side_effect=[limited] * 5 + [CREATED])
    client = PartnerClient(
        http,
        RetryPolicy(max_attempts=2, max_throttled=5),
        CircuitBreaker(clock=fake.clock),
        sleep=fake.sleep,
    )
    result = await create(client)
    assert result.attempts == 6


@respx.mock(base_url=BASE)
async def test_throttling_beyond_the_allowance_spends_the_budget(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient, fake: FakeTime
) -> None:
    route = respx_mock.post("/v1/shipments").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "1"})
    )
    client = PartnerClient(
        http,
        RetryPolicy(max_attempts=2, max_throttled=3),
        CircuitBreaker(clock=fake.clock),
        sleep=fake.sleep,
    )
    with pytest.raises(PartnerGaveUp) as caught:
        await create(client)
    assert route.call_count == 5
    assert "3 of them throttled" in caught.value.reason
