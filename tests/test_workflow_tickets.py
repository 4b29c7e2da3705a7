"""ticket-router as a real process against a recording stub helpdesk."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
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

# Each test starts the reference workflow as a real process, with its partners:
# seconds each, so the inner loop (make check) leaves them to make test.
pytestmark = pytest.mark.slow

SECRET = "ticket-router-test-secret"


def issue_event(action: str, number: int, updated_at: str, state: str = "open") -> bytes:
    event = {
        "action": action,
        "issue": {
            "number": number,
            "title": f"Crash on start #{number} 💥",
            "body": "Steps:\n1. open the app",
            "state": state,
            "updated_at": updated_at,
        },
        "repository": {"name": "widgets", "full_name": "acme/widgets"},
    }
    return json.dumps(event, ensure_ascii=False).encode()


def github_headers(body: bytes, event: str = "issues", delivery: str = "") -> dict[str, str]:
    mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={mac}",
        "Content-Type": "application/json",
    }


def helpdesk(call: Call, earlier: list[Call]) -> Answer:
    ticket = dict(call.body["ticket"])
    if call.method == "POST":
        return Answer(201, {"ticket": {"id": 35000 + len(earlier), **ticket}})
    return Answer(200, {"ticket": {"id": 35000, **ticket}})


@pytest.fixture
def router(tmp_path: Path) -> Iterator[tuple[httpx.Client, StubPartner]]:
    with stub_partner(helpdesk) as stub:
        port = free_port()
        env = {"ROUTER_PORT": str(port), "GITHUB_WEBHOOK_SECRET": SECRET, "HELPDESK_URL": stub.url}
        with workflow_process("tickets", env, port, tmp_path / "tickets.log") as client:
            yield client, stub


def deliver(client: httpx.Client, body: bytes, **kwargs: str) -> httpx.Response:
    return client.post("/github/webhook", content=body, headers=github_headers(body, **kwargs))


def test_each_issue_gets_one_ticket_kept_current(router: tuple[httpx.Client, StubPartner]) -> None:
    client, helpdesk_stub = router
    sequence = [
        issue_event("opened", 1, "2026-11-02T09:00:00Z"),
        issue_event("opened", 2, "2026-11-02T09:01:00Z"),
        issue_event("edited", 1, "2026-11-02T09:05:00Z"),
        issue_event("closed", 2, "2026-11-02T09:06:40Z", state="closed"),
    ]
    for body in sequence:
        assert deliver(client, body).status_code == 200
    creates = helpdesk_stub.matching("POST")
    assert [c.body["ticket"]["external_id"] for c in creates] == ["gh-widgets-1", "gh-widgets-2"]
    assert creates[0].body["ticket"]["revision"] == 1793610000  # 2026-11-02T09:00:00Z
    updates = helpdesk_stub.matching("PUT")
    assert [c.path for c in updates] == [
        "/api/v2/tickets/external/gh-widgets-1",
        "/api/v2/tickets/external/gh-widgets-2",
    ]
    assert updates[1].body["ticket"]["status"] == "closed"
    assert updates[1].body["ticket"]["revision"] == 1793610000 + 400
    results = [d["result"] for d in client.get("/debug/deliveries").json()]
    assert results == ["ok"] * 4


def test_first_version_opens_a_second_ticket_on_redelivery(
    router: tuple[httpx.Client, StubPartner],
) -> None:
    # The flaw a duplicates drill should find: nothing remembers a delivery id.
    client, helpdesk_stub = router
    body = issue_event("opened", 7, "2026-11-02T10:00:00Z")
    delivery = str(uuid.uuid4())
    assert deliver(client, body, delivery=delivery).status_code == 200
    assert deliver(client, body, delivery=delivery).status_code == 200
    assert len(helpdesk_stub.matching("POST", "/api/v2/tickets")) == 2


def test_other_events_and_actions_are_skipped(router: tuple[httpx.Client, StubPartner]) -> None:
    client, helpdesk_stub = router
    ping = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
    assert deliver(client, ping, event="ping", delivery="d-ping").status_code == 200
    labeled = issue_event("labeled", 3, "2026-11-02T11:00:00Z")
    assert deliver(client, labeled, delivery="d-labeled").status_code == 200
    assert helpdesk_stub.calls == []
    rows = client.get("/debug/deliveries").json()
    assert [(r["delivery"], r["result"]) for r in rows] == [
        ("d-ping", "skipped"),
        ("d-labeled", "skipped"),
    ]


def test_a_forged_delivery_is_refused(router: tuple[httpx.Client, StubPartner]) -> None:
    client, helpdesk_stub = router
    body = issue_event("opened", 9, "2026-11-02T12:00:00Z")
    headers = {**github_headers(body), "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert client.post("/github/webhook", content=body, headers=headers).status_code == 401
    assert helpdesk_stub.calls == []


class FakeHelpdesk:
    """A helpdesk that keeps tickets by external id; a PUT for an unknown one answers 404."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.revisions: dict[str, int] = {}

    def __call__(self, call: Call, earlier: list[Call]) -> Answer:
        ticket = call.body["ticket"]
        if call.method == "POST":
            self.opened.append(ticket["external_id"])
        elif call.path.rsplit("/", 1)[1] not in self.revisions:
            return Answer(404, {"error": "RecordNotFound", "description": "Not found"})
        self.revisions[ticket["external_id"]] = ticket["revision"]
        return Answer(201 if call.method == "POST" else 200, {"ticket": {"id": 1, **ticket}})


def test_the_captured_day_replayed_in_order(tmp_path: Path) -> None:
    records = load_fixtures(REPO / "fixtures/ticket-router/events.jsonl")
    desk = FakeHelpdesk()
    with stub_partner(desk) as stub:
        port = free_port()
        env = {"ROUTER_PORT": str(port), "GITHUB_WEBHOOK_SECRET": SECRET, "HELPDESK_URL": stub.url}
        with workflow_process("tickets", env, port, tmp_path / "tickets.log") as client:
            for rec in records:
                client.post(rec.path, content=rec.body, headers=replay_headers(rec, SECRET, 0))
            results = {d["delivery"]: d["result"] for d in client.get("/debug/deliveries").json()}
    # What this first version should do with the capture, worked out from the records.
    expected: dict[str, str] = {}
    seen: set[str] = set()
    for rec in records:
        action = rec.event_type.removeprefix("issues.")
        if action == "opened":
            seen.add(rec.entity_id)
        routed = action in ("opened", "edited", "closed")
        ok = action == "opened" or rec.entity_id in seen
        expected[rec.event_id] = ("ok" if ok else "failed") if routed else "skipped"
    assert results == expected
    opened = [r.entity_id for r in records if r.event_type == "issues.opened"]
    # No dedupe: the captured redelivery opens a second ticket.
    assert sorted(desk.opened) == sorted(opened)
    assert len(opened) > len(set(opened))


def test_the_committed_fixtures_are_what_the_generator_writes(tmp_path: Path) -> None:
    committed = (REPO / "fixtures/ticket-router/events.jsonl").read_bytes()
    assert regenerate_fixtures("ticket-router", tmp_path / "events.jsonl") == committed
