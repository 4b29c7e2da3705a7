"""The outside-style workflow as a process: DEDUPE=0 books a redelivery twice, DEDUPE=1 once."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from stub_partner import (
    REPO,
    Answer,
    Call,
    StubPartner,
    free_port,
    regenerate_fixtures,
    stub_partner,
    workflow_process,
)

from harness.inputs.fixtures import load_fixtures
from harness.replay.signing import replay_headers

KEY = "outside-hook-key"


def paid(event_id: str, invoice: str, cents: int) -> bytes:
    data = {"invoice": invoice, "amount_cents": cents, "customer_name": "Søren Kierkegård 📚"}
    return json.dumps({"id": event_id, "type": "invoice.paid", "data": data}).encode()


def deliver(client: httpx.Client, body: bytes) -> httpx.Response:
    mac = hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": f"sha256={mac}", "Content-Type": "application/json"}
    return client.post("/hooks/billing", content=body, headers=headers)


def ledger(call: Call, earlier: list[Call]) -> Answer:
    return Answer(201, {"entry": f"le_{len(earlier) + 1}", **call.body})


@pytest.fixture
def upstream() -> Iterator[StubPartner]:
    with stub_partner(ledger) as stub:
        yield stub


def run(dedupe: str, upstream: StubPartner, data_dir: Path) -> AbstractContextManager[httpx.Client]:
    port = free_port()
    env = {
        "LISTEN_PORT": str(port),
        "HOOK_KEY": KEY,
        "UPSTREAM_BASE": upstream.url,
        "DATA_DIR": str(data_dir),
        "DEDUPE": dedupe,
    }
    # No health route: any answer to "/" (a 404 here) means the server is up.
    return workflow_process("outside", env, port, data_dir.parent / "outside.log", ready_path="/")


def test_without_dedupe_a_redelivery_is_booked_twice(upstream: StubPartner, tmp_path: Path) -> None:
    body = paid("evt_1", "inv_1", 4200)
    with run("0", upstream, tmp_path / "data") as client:
        assert deliver(client, body).status_code == 200
        assert deliver(client, body).status_code == 200
    booked = upstream.matching("POST", "/ledger/entries")
    assert [c.body for c in booked] == [{"invoice": "inv_1", "amount_cents": 4200}] * 2
    assert "idempotency-key" not in booked[0].headers
    assert "traceparent" not in booked[0].headers


@pytest.mark.slow
def test_with_dedupe_a_redelivery_is_booked_once_even_after_a_restart(
    upstream: StubPartner, tmp_path: Path
) -> None:
    body = paid("evt_2", "inv_2", 999)
    with run("1", upstream, tmp_path / "data") as client:
        assert deliver(client, body).status_code == 200
        assert deliver(client, body).json()["duplicate"] is True
    with run("1", upstream, tmp_path / "data") as client:
        assert deliver(client, body).status_code == 200
        assert deliver(client, paid("evt_3", "inv_3", 1)).status_code == 200
    booked = upstream.matching("POST", "/ledger/entries")
    assert [c.body["invoice"] for c in booked] == ["inv_2", "inv_3"]
    assert booked[0].headers["idempotency-key"] == "evt_2"


def test_a_bad_signature_and_other_types_book_nothing(
    upstream: StubPartner, tmp_path: Path
) -> None:
    with run("1", upstream, tmp_path / "data") as client:
        body = paid("evt_4", "inv_4", 10)
        headers = {"X-Hub-Signature-256": "sha256=" + "0" * 64}
        assert client.post("/hooks/billing", content=body, headers=headers).status_code == 401
        created = json.dumps({"id": "evt_5", "type": "invoice.created", "data": {}}).encode()
        assert deliver(client, created).json() == {"ignored": "invoice.created"}
    assert upstream.calls == []


@pytest.mark.parametrize("dedupe", ["0", "1"])
def test_the_captured_day_books_per_delivery_or_per_event(
    dedupe: str, upstream: StubPartner, tmp_path: Path
) -> None:
    records = load_fixtures(REPO / "fixtures/outside/events.jsonl")
    with run(dedupe, upstream, tmp_path / "data") as client:
        for rec in records:
            answer = client.post(rec.path, content=rec.body, headers=replay_headers(rec, KEY, 0))
            assert answer.status_code == 200, rec.id
    paid = [r for r in records if r.event_type == "invoice.paid"]
    booked = upstream.matching("POST", "/ledger/entries")
    wanted = len({r.event_id for r in paid}) if dedupe == "1" else len(paid)
    assert len(booked) == wanted
    assert len({r.event_id for r in paid}) < len(paid)  # the capture holds a redelivery


def test_the_committed_fixtures_are_what_the_generator_writes(tmp_path: Path) -> None:
    committed = (REPO / "fixtures/outside/events.jsonl").read_bytes()
    assert regenerate_fixtures("outside", tmp_path / "events.jsonl") == committed
