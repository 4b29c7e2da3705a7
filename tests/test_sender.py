"""The sender against a mocked workflow (respx): redelivery, signatures, journal rows."""

from datetime import UTC, datetime
from typing import Any

import http_kit
import httpx
import pytest
import respx

from harness.inputs.fixtures import CapturedRequest
from harness.inputs.pilot import DeliverySpec
from harness.plan.schedule import plan_deliveries
from harness.replay.sender import Sender, classify, trace_id_for
from harness.schemes.stripe import verify_header as verify_stripe

SECRET = "whsec_test_secret"


def event(n: int) -> CapturedRequest:
    return CapturedRequest(
        id=f"fx_{n}",
        captured_at=datetime(2026, 1, 1, tzinfo=UTC),
        method="POST",
        path="/hooks",
        headers={"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=stale"},
        body=b'{"id": "evt_%d"}' % n,
        signing="stripe",
        event_id=f"evt_{n}",
        event_type="payment_intent.succeeded",
        entity_id=f"ord_{n}",
        entity_version=1,
    )


async def drive(
    events: list[CapturedRequest], spec: DeliverySpec, route_side_effect: Any, retry: list[float]
) -> tuple[list[dict[str, Any]], list[httpx.Request], Sender]:
    rows: list[dict[str, Any]] = []
    seen: list[httpx.Request] = []
    plan = plan_deliveries([e.event_id for e in events], spec, seed=1)
    with respx.mock(base_url="http://workflow.test") as mock:

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return route_side_effect(request, len(seen))

        mock.post("/webhooks").mock(side_effect=handler)
        async with http_kit.async_client(base_url="http://workflow.test") as client:
            sender = Sender(
                client=client,
                path="/webhooks",
                events=events,
                plan=plan,
                secret=SECRET,
                retry_schedule_s=retry,
                concurrency=2,
                run_id="run1",
                scenario="s",
                record=rows.append,
            )
            await sender.run()
    return rows, seen, sender


async def test_failed_attempts_are_redelivered_until_2xx() -> None:
    # The first two tries of evt_0 fail; everything else succeeds.
    tries: list[bytes] = []

    def answer(request: httpx.Request, n: int) -> httpx.Response:
        tries.append(request.content)
        if b"evt_0" in request.content and tries.count(request.content) <= 2:
            return httpx.Response(500)
        return httpx.Response(200)

    rows, _seen, sender = await drive([event(0), event(1)], DeliverySpec(), answer, [0.01, 0.01])
    evt0 = [r for r in rows if r["event_id"] == "evt_0"]
    assert [r["attempt"] for r in evt0] == [1, 2, 3]
    assert [r["status"] for r in evt0] == [500, 500, 200]
    assert [r["error_class"] for r in evt0] == ["http_5xx", "http_5xx", ""]
    assert evt0[1]["fault_tags"] == "retry"
    assert sender.stats.redeliveries == 2 and sender.stats.gave_up == 0
    # Same trace id on every attempt of an event, a new span each time.
    parents = {r["traceparent"].split("-")[1] for r in evt0}
    assert parents == {trace_id_for("run1", "evt_0")}
    assert len({r["traceparent"] for r in evt0}) == 3


async def test_provider_gives_up_after_schedule() -> None:
    rows, _, sender = await drive(
        [event(0)], DeliverySpec(), lambda r, n: httpx.Response(503), [0.0, 0.0]
    )
    assert len(rows) == 3
    assert sender.stats.gave_up == 1


async def test_every_attempt_is_freshly_signed_over_exact_bytes() -> None:
    _rows, seen, _ = await drive([event(0)], DeliverySpec(), lambda r, n: httpx.Response(200), [])
    request = seen[0]
    header = request.headers["stripe-signature"]
    assert "stale" not in header
    verify_stripe(request.content, header, SECRET, now=datetime.now(UTC).timestamp())
    assert request.content == event(0).body
    assert request.headers["traceparent"].startswith("00-" + trace_id_for("run1", "evt_0"))


async def test_stale_signature_is_old_and_retry_is_fresh() -> None:
    spec = DeliverySpec.model_validate({"faults": [{"position": 0, "fault": "stale_signature"}]})

    def answer(request: httpx.Request, n: int) -> httpx.Response:
        try:
            verify_stripe(
                request.content,
                request.headers["stripe-signature"],
                SECRET,
                now=datetime.now(UTC).timestamp(),
                tolerance=300,
            )
        except Exception:
            return httpx.Response(400)
        return httpx.Response(200)

    rows, _, _ = await drive([event(0)], spec, answer, [0.01])
    assert [r["status"] for r in rows] == [400, 200]
    assert rows[0]["fault_tags"] == "stale_signature"


async def test_lost_delivery_is_recorded_not_sent() -> None:
    spec = DeliverySpec.model_validate(
        {"faults": [{"position": 0, "fault": "drop", "delay_s": 0.01}]}
    )
    rows, seen, _ = await drive([event(0)], spec, lambda r, n: httpx.Response(200), [0.0])
    assert len(seen) == 1
    assert [(r["error_class"], r["fault_tags"]) for r in rows] == [
        ("dropped", "dropped"),
        ("", "redelivery"),
    ]


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (200, None, ""),
        (204, None, ""),
        (429, None, "http_4xx"),
        (502, None, "http_5xx"),
        (None, httpx.ReadTimeout("t"), "timeout"),
        (None, httpx.ConnectError("c"), "connect"),
        (None, httpx.RemoteProtocolError("r"), "reset"),
    ],
)
def test_classify(status: int | None, error: BaseException | None, expected: str) -> None:
    assert classify(status, error) == expected


async def test_hook_runs_when_the_previous_delivery_has_finished() -> None:
    """Toxic windows bound to positions rely on this with one delivery at a time."""
    seen: list[tuple[int, int]] = []
    rows: list[dict[str, Any]] = []
    events = [event(n) for n in range(4)]

    class Hooks:
        async def before_dispatch(self, position: int) -> None:
            seen.append((position, len(rows)))

    plan = plan_deliveries([e.event_id for e in events], DeliverySpec(), seed=1)
    with respx.mock(base_url="http://workflow.test") as mock:
        mock.post("/webhooks").mock(return_value=httpx.Response(200))
        async with http_kit.async_client(base_url="http://workflow.test") as client:
            sender = Sender(
                client=client,
                path="/webhooks",
                events=events,
                plan=plan,
                secret=SECRET,
                retry_schedule_s=[],
                concurrency=1,
                run_id="run1",
                scenario="s",
                record=rows.append,
                hooks=Hooks(),
            )
            await sender.run()
    # Before position p is dispatched, exactly p attempts have been recorded.
    assert seen == [(0, 0), (1, 1), (2, 2), (3, 3)]
