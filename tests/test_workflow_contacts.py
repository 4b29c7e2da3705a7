"""contacts-sync as a real process against a recording stub CRM."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from stub_partner import (
    REPO,
    Answer,
    Answerer,
    Call,
    StubPartner,
    free_port,
    regenerate_fixtures,
    stub_partner,
    wait_until,
    workflow_process,
)

from harness.inputs.fixtures import load_fixtures
from harness.replay.signing import replay_headers

# Each test starts the reference workflow as a real process, with its partners:
# seconds each, so the inner loop (make check) leaves them to make test.
pytestmark = pytest.mark.slow

KEY = b"contacts-test-key-0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def user_event(kind: str, user_id: str, revision: int, name: str = "Zoë Ångström") -> bytes:
    data = {"id": user_id, "email": f"{user_id}@example.com", "name": name, "revision": revision}
    event = {"type": kind, "timestamp": "2026-11-02T09:00:00Z", "data": data}
    return json.dumps(event, ensure_ascii=False).encode()


def signed(msg_id: str, body: bytes, secret_key: bytes = KEY) -> dict[str, str]:
    stamp = str(int(time.time()))
    mac = hmac.new(secret_key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
        "content-type": "application/json",
        "traceparent": TRACE,
    }


def crm_ok(call: Call, earlier: list[Call]) -> Answer:
    if call.method == "POST":
        return Answer(201, {"id": str(1000 + len(earlier)), "properties": call.body["properties"]})
    return Answer(200, {"id": "1000", "properties": call.body["properties"]})


Started = tuple[httpx.Client, StubPartner]
Start = Callable[[Answerer], Started]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    with ExitStack() as stack:

        def _start(answer: Answerer) -> Started:
            stub = stack.enter_context(stub_partner(answer))
            port = free_port()
            env = {
                "CONTACTS_PORT": str(port),
                "IDP_SIGNING_SECRET": SECRET,
                "CRM_BASE_URL": stub.url,
                "CONTACTS_DATA_DIR": str(tmp_path / "state"),
                "CRM_TIMEOUT_S": "2",
                "CRM_BACKOFF_BASE_S": "0.01",
                "CONTACTS_WORKERS": "2",
            }
            log = tmp_path / "contacts.log"
            client = stack.enter_context(workflow_process("contacts", env, port, log))
            return client, stub

        yield _start


def settle(client: httpx.Client) -> None:
    wait_until(lambda: client.get("/admin/status").json()["pending"] == 0, 10.0)


def outcomes(client: httpx.Client) -> dict[str, list[str]]:
    by_event: dict[str, list[str]] = {}
    for row in client.get("/admin/outcomes").json():
        by_event.setdefault(row["event_id"], []).append(row["outcome"])
    return by_event


def test_a_redelivery_is_acknowledged_but_creates_one_contact(
    start: Start,
) -> None:
    client, crm = start(crm_ok)
    body = user_event("user.created", "usr_1", 1)
    first = client.post("/webhooks/idp", content=body, headers=signed("msg_1", body))
    second = client.post("/webhooks/idp", content=body, headers=signed("msg_1", body))
    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True
    settle(client)
    [create] = crm.matching("POST")
    assert create.path == "/crm/v3/objects/contacts"
    assert create.body["properties"] == {
        "email": "usr_1@example.com",
        "firstname": "Zoë",
        "lastname": "Ångström",
        "revision": 1,
    }
    assert create.headers["idempotency-key"] == "msg_1:create"
    assert create.headers["traceparent"] == TRACE
    assert sorted(outcomes(client)["msg_1"]) == ["duplicate", "processed"]


def test_a_throttled_create_waits_for_retry_after(start: Start) -> None:
    def throttle_first(call: Call, earlier: list[Call]) -> Answer:
        if call.method == "POST" and not earlier:
            return Answer(429, {"status": "error", "category": "RATE_LIMITS"}, {"Retry-After": "1"})
        return crm_ok(call, earlier)

    client, crm = start(throttle_first)
    body = user_event("user.created", "usr_2", 1)
    assert client.post("/webhooks/idp", content=body, headers=signed("msg_2", body)).is_success
    wait_until(lambda: len(crm.matching("POST")) == 2, 10.0)
    first, second = crm.matching("POST")
    # Backoff alone would come back within 10 ms; Retry-After asked for a second.
    assert second.at - first.at >= 0.95
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    settle(client)
    assert outcomes(client)["msg_2"] == ["processed"]


def test_an_update_before_its_create_waits_and_a_stale_one_is_superseded(
    start: Start,
) -> None:
    client, crm = start(crm_ok)
    sequence = [
        ("msg_u3", user_event("user.updated", "usr_3", 3, "Zoë 🌸 Ångström")),
        ("msg_c1", user_event("user.created", "usr_3", 1)),
    ]
    for msg_id, body in sequence:
        assert client.post("/webhooks/idp", content=body, headers=signed(msg_id, body)).is_success
    settle(client)
    stale = user_event("user.updated", "usr_3", 2)
    assert client.post("/webhooks/idp", content=stale, headers=signed("msg_u2", stale)).is_success
    settle(client)
    [patch] = crm.matching("PATCH")
    assert patch.path == "/crm/v3/objects/contacts/usr_3@example.com"
    assert patch.query == "idProperty=email"
    assert patch.body["properties"]["revision"] == 3
    assert patch.body["properties"]["firstname"] == "Zoë"
    seen = outcomes(client)
    assert (seen["msg_c1"], seen["msg_u3"], seen["msg_u2"]) == (
        ["processed"],
        ["processed"],
        ["superseded"],
    )


def test_a_bad_signature_is_refused_and_nothing_is_called(
    start: Start,
) -> None:
    client, crm = start(crm_ok)
    body = user_event("user.created", "usr_4", 1)
    forged = signed("msg_4", body, secret_key=b"someone-else")
    assert client.post("/webhooks/idp", content=body, headers=forged).status_code == 401
    assert client.get("/admin/status").json() == {"pending": 0}
    assert crm.calls == []


class FakeCrm:
    """A CRM that holds contacts by email: 409 on a second create, 404 on an unknown update."""

    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}

    def __call__(self, call: Call, earlier: list[Call]) -> Answer:
        props = call.body["properties"]
        if call.method == "POST":
            if props["email"] in self.contacts:
                return Answer(409, {"status": "error", "category": "CONFLICT"})
            self.contacts[props["email"]] = dict(props)
            return Answer(201, {"id": str(len(self.contacts)), "properties": props})
        email = call.path.rsplit("/", 1)[1]
        if email not in self.contacts:
            return Answer(404, {"status": "error", "category": "OBJECT_NOT_FOUND"})
        self.contacts[email].update(props)
        return Answer(200, {"id": "1", "properties": self.contacts[email]})


def test_the_captured_day_ends_with_one_contact_per_user_at_its_newest_revision(
    start: Start,
) -> None:
    records = load_fixtures(REPO / "fixtures/contacts-sync/events.jsonl")
    crm_state = FakeCrm()
    client, crm = start(crm_state)
    for rec in records:
        headers = replay_headers(rec, SECRET, time.time())
        assert client.post(rec.path, content=rec.body, headers=headers).is_success, rec.id
    settle(client)
    newest: dict[str, int] = {}
    for rec in records:
        if rec.event_type.startswith("user."):
            email = json.loads(rec.body)["data"]["email"]
            newest[email] = max(newest.get(email, 0), rec.entity_version)
    assert {e: c["revision"] for e, c in crm_state.contacts.items()} == newest
    assert len(crm.matching("POST")) == len(newest)
    assert "dead_lettered" not in {o for seen in outcomes(client).values() for o in seen}


def test_the_committed_fixtures_are_what_the_generator_writes(tmp_path: Path) -> None:
    committed = (REPO / "fixtures/contacts-sync/events.jsonl").read_bytes()
    assert regenerate_fixtures("contacts-sync", tmp_path / "events.jsonl") == committed
