"""OpenAPI 3 documents imported as routes: answers from examples or schemas, checks."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from harness.partner import PartnerSpecError, create_app, resolve_partner
from harness.partner.openapi import load

DATA = Path(__file__).resolve().parent / "data" / "partners"


def test_operations_become_routes() -> None:
    routes = {r.name: r for r in load(DATA / "helpdesk.yaml")}
    assert set(routes) == {"createTicket", "getTicket", "updateTicket"}
    create, get, put = routes["createTicket"], routes["getTicket"], routes["updateTicket"]
    assert (create.method, create.path, create.status) == ("POST", "/api/v2/tickets", 201)
    assert create.required == ("body",)
    schema = create.body_schema or {}
    new_ticket = schema["components"]["schemas"]["NewTicket"]
    assert new_ticket["required"] == ["subject", "requester"]
    assert new_ticket["properties"]["priority"]["type"] == ["string", "null"]
    assert get.required == ("header.X-Tenant",)
    assert get.body == {"id": 35436, "subject": "Printer on fire", "status": "open"}
    assert put.status == 200 and put.body == {"id": 35436, "status": "solved"}


def test_body_generated_from_schema_with_refs_and_allof() -> None:
    (create,) = [r for r in load(DATA / "helpdesk.yaml") if r.name == "createTicket"]
    assert create.body == {
        "subject": "string",
        "priority": "low",
        "requester": {"email": "user@example.com", "name": "string"},
        "tags": ["string"],
        "id": 1,
        "created_at": "2024-01-01T00:00:00Z",
        "status": "new",
    }


def test_openapi_31_json_default_response_and_type_lists() -> None:
    (pets,) = load(DATA / "petstore.json")
    assert pets.status == 200 and pets.required == ("query.limit",)
    assert pets.body == [{"id": 0, "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("swagger2.yaml", "openapi: only OpenAPI 3 is supported, got ''"),
        ("badref.yaml", "paths./x.get.responses.200.content.schema: "
                        "$ref #/components/schemas/Nope points nowhere"),
        ("broken.yaml", "not valid YAML (line 4): expected ',' or ']', but got '<stream end>'"),
        ("absent.yaml", "cannot read: No such file or directory"),
    ],
)  # fmt: skip
def test_bad_documents_fail_on_one_line(name: str, message: str) -> None:
    with pytest.raises(PartnerSpecError) as caught:
        load(DATA / name)
    assert str(caught.value) == f"{DATA / name}: {message}"


async def test_served_with_validation_and_annotations(tmp_path: Path) -> None:
    decl = {
        "openapi": "helpdesk.yaml",
        "annotate": {"createTicket": {"effect": "ticket.created", "key": "body.requester.email"}},
    }
    app = create_app(resolve_partner("helpdesk", decl, DATA))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as api:
        bad = await api.post("/api/v2/tickets", json={"subject": "x"})
        assert (
            bad.status_code == 400 and bad.json()["error"]["message"] == "body.requester: required"
        )
        wrong = await api.post("/api/v2/tickets", json={"subject": 1, "requester": {}})
        assert wrong.json()["error"]["message"] == "body.subject: must be string"
        mail = {"subject": "x", "requester": {"email": "nobody"}}
        assert (await api.post("/api/v2/tickets", json=mail)).json()["error"]["message"] == (
            'body.requester.email: must be a valid email, got "nobody"'
        )
        body = {"subject": "help", "requester": {"email": "a@b"}}
        created = await api.post("/api/v2/tickets", json=body)
        assert created.status_code == 201 and created.json()["status"] == "new"
        assert (await api.get("/api/v2/tickets/7")).json()["error"]["message"] == (
            "header.X-Tenant: required"
        )
        tenant = {"x-tenant": "t"}
        assert (await api.get("/api/v2/tickets/7", headers=tenant)).status_code == 404
        ticket = created.json()["id"]
        assert (await api.get(f"/api/v2/tickets/{ticket}", headers=tenant)).status_code == 200
        (effect,) = (await api.get("/_sim/ledger")).json()
        assert (effect["effect"], effect["entity"], effect["key"]) == (
            "ticket.created",
            "ticket",
            "a@b",
        )


TICKETS = DATA / "tickets-allof.yaml"


async def _tickets_api(decl: dict[str, object]) -> httpx.AsyncClient:
    app = create_app(resolve_partner("desk", {"openapi": TICKETS.name, **decl}, DATA))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")


GOOD = {"title": "Printer on fire", "requester_email": "ana@example.com", "state": "new"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({**GOOD, "title": None}, "body.title: must be string"),
        ({k: v for k, v in GOOD.items() if k != "requester_email"},
         "body.requester_email: required"),
        ({k: v for k, v in GOOD.items() if k != "title"}, "body.title: required"),
        ({**GOOD, "state": "bogus"},
         'body.state: must be one of ["new", "open", "pending", "closed"], got "bogus"'),
        ({**GOOD, "title": "x" * 81}, "body.title: at most 80 characters"),
        ({**GOOD, "due_at": "tomorrow"}, 'body.due_at: must be a valid date-time, got "tomorrow"'),
        ({**GOOD, "due_at": "2026-12-06"},
         'body.due_at: must be a valid date-time, got "2026-12-06"'),
        ({**GOOD, "assignee": "bob"}, 'body.assignee: must be a valid uuid, got "bob"'),
        ({**GOOD, "priority": 2**31}, "body.priority: must be a valid int32, got 2147483648"),
        ({**GOOD, "priority": "high"}, "body.priority: must be integer or null"),
        ([GOOD], "body: must be object"),
    ],
)  # fmt: skip
async def test_allof_request_bodies_are_checked_as_the_document_says(
    body: object, reason: str
) -> None:
    """Bodies composed with allOf keep every required field, type, enum, format and length."""
    async with await _tickets_api({}) as api:
        answer = await api.post("/tickets", json=body)
        assert (answer.status_code, answer.json()["error"]["message"]) == (400, reason)
        assert (await api.get("/_sim/state")).json()["handed_ids"] == {}


async def test_unusual_but_valid_bodies_are_accepted() -> None:
    """Nullable enums' null, offsets in date-times, an absent readOnly id: all as declared."""
    body = {
        **GOOD,
        "priority": None,
        "due_at": "2026-12-06T09:30:00.5+01:00",
        "assignee": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "x-extra": {"any": ["thing"]},
    }
    async with await _tickets_api({}) as api:
        assert (await api.post("/tickets", json=body)).status_code == 201
        assert (await api.post("/tickets", content=b"")).json()["error"]["message"] == (
            "body: required"
        )


async def test_each_create_hands_out_a_fresh_id_and_updates_take_only_those() -> None:
    annotate = {
        "createTicket": {"effect": "ticket.created", "key": "body.requester_email"},
        "updateTicket": {"effect": "ticket.updated"},
    }
    async with await _tickets_api({"annotate": annotate}) as api:
        ids = []
        for who in ("ana@example.com", "bo@example.com", "cy@example.com"):
            created = await api.post("/tickets", json={**GOOD, "requester_email": who})
            assert created.status_code == 201
            ids.append(created.json()["id"])
        assert len(set(ids)) == 3 and 4711 not in ids  # never the example's id
        assert all(isinstance(i, int) for i in ids)
        update = {"state": "closed"}
        never = await api.patch("/tickets/4711", json=update)
        assert never.status_code == 404
        assert never.json()["error"]["message"] == ("path.ticketId 4711: no such id was handed out")
        assert (await api.patch(f"/tickets/{ids[1]}", json=update)).status_code == 200
        assert (await api.patch(f"/tickets/{ids[1]}", json={"state": "x"})).status_code == 400
        ledger = (await api.get("/_sim/ledger")).json()
        # The update is recorded against the ticket that id was handed out for.
        assert [(e["effect"], e["key"]) for e in ledger] == [
            ("ticket.created", "ana@example.com"),
            ("ticket.created", "bo@example.com"),
            ("ticket.created", "cy@example.com"),
            ("ticket.updated", "bo@example.com"),
        ]


async def test_an_idempotent_replay_answers_the_same_id() -> None:
    async with await _tickets_api({}) as api:
        key = {"Idempotency-Key": "k1"}
        first = await api.post("/tickets", json=GOOD, headers=key)
        again = await api.post("/tickets", json=GOOD, headers=key)
        other = await api.post("/tickets", json=GOOD)
        assert first.json()["id"] == again.json()["id"] != other.json()["id"]


def test_ids_are_linked_from_the_document() -> None:
    routes = {r.name: r for r in load(TICKETS)}
    assert (routes["createTicket"].answer_id, routes["createTicket"].id_space) == ("id", "/tickets")
    assert (routes["updateTicket"].known_id, routes["updateTicket"].id_space) == (
        "path.ticketId", "/tickets",
    )  # fmt: skip


def _refused(path: Path, root: Path) -> str:
    with pytest.raises(PartnerSpecError) as caught:
        load(path, root=root)
    return str(caught.value)


def test_a_document_outside_the_folder_or_not_a_file_is_never_read(tmp_path: Path) -> None:
    pilots = tmp_path / "pilots"
    pilots.mkdir()
    secret = tmp_path / "secret.yaml"
    secret.write_text("openapi: 3.0.3\npaths: {}\n")
    link = pilots / "api.yaml"
    link.symlink_to(secret)  # inside by name, outside once followed
    assert _refused(link, pilots) == (f"{link}: outside {pilots} (files are read only inside it)")
    fifo = pilots / "fifo.yaml"
    os.mkfifo(fifo)  # no writer: a plain open would wait forever
    assert _refused(fifo, pilots) == f"{fifo}: not a regular file"
    assert load(secret, root=tmp_path) == []  # the same file, from a folder that holds it


def _laughs(levels: int) -> str:
    lines = ["openapi: 3.0.3", "x:", "  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join([*lines, "paths: {}", ""])


def test_yaml_aliases_are_bounded(tmp_path: Path) -> None:
    laughs = tmp_path / "laughs.yaml"
    laughs.write_text(_laughs(9))  # 90 aliases, 10^9 strings once expanded
    assert _refused(laughs, tmp_path) == (
        f"{laughs}: its aliases expand to more than 2,000,000 nodes (or into themselves); refused"
    )
    chuckles = tmp_path / "chuckles.yaml"
    chuckles.write_text(_laughs(3))  # the same shape, small: aliases are fine in moderation
    assert load(chuckles, root=tmp_path) == []
    loop = tmp_path / "loop.yaml"
    loop.write_text("openapi: 3.0.3\nx: &x [*x]\npaths: {}\n")
    assert _refused(loop, tmp_path).endswith("(or into themselves); refused")


SPLIT_MAIN = """\
openapi: 3.0.3
info: { title: split, version: "1" }
paths:
  /tickets:
    post:
      operationId: createTicket
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "schemas/ticket.yaml#/NewTicket" }
      responses:
        "201":
          description: created
          content:
            application/json:
              schema: { $ref: "schemas/ticket.yaml#/Ticket" }
"""
SPLIT_TICKET = """\
NewTicket:
  type: object
  required: [title, state]
  properties:
    title: { type: string }
    state: { $ref: "../common/state.yaml" }
Ticket:
  allOf:
    - { $ref: "#/NewTicket" }
    - { type: object, properties: { id: { type: integer, example: 7 } } }
"""


def _split(tmp_path: Path, state: str) -> Path:
    (tmp_path / "api" / "schemas").mkdir(parents=True)
    (tmp_path / "api" / "common").mkdir()
    (tmp_path / "api" / "openapi.yaml").write_text(SPLIT_MAIN)
    (tmp_path / "api" / "schemas" / "ticket.yaml").write_text(SPLIT_TICKET)
    (tmp_path / "api" / "common" / "state.yaml").write_text(state)
    return tmp_path / "api" / "openapi.yaml"


async def test_refs_to_other_files_in_the_pilots_folder_are_followed(tmp_path: Path) -> None:
    doc = _split(tmp_path, "type: string\nenum: [new, open]\n")
    (create,) = load(doc, root=tmp_path)
    assert create.body == {"title": "string", "state": "new", "id": 7}  # through three files
    app = create_app(resolve_partner("desk", {"openapi": "api/openapi.yaml"}, tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as api:
        bad = await api.post("/tickets", json={"title": "t", "state": "gone"})
        assert bad.json()["error"]["message"] == (
            'body.state: must be one of ["new", "open"], got "gone"'
        )
        good = await api.post("/tickets", json={"title": "t", "state": "open"})
        assert good.status_code == 201 and good.json()["id"] == 8  # fresh, after the example


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("../../../secret.yaml", "(files are read only inside it)"),
        ("https://example.com/state.yaml", "a web address; only files in the pilot's folder"),
        ("../common/fifo.yaml", "not a regular file"),
    ],
)
def test_refs_outside_the_folder_or_to_odd_files_are_refused(
    tmp_path: Path, ref: str, reason: str
) -> None:
    pilots = tmp_path / "pilots"
    pilots.mkdir()
    (tmp_path / "secret.yaml").write_text("type: string\n")
    doc = _split(pilots, "type: string\n")
    os.mkfifo(pilots / "api" / "common" / "fifo.yaml")
    ticket = pilots / "api" / "schemas" / "ticket.yaml"
    ticket.write_text(SPLIT_TICKET.replace("../common/state.yaml", ref))
    message = _refused(doc, pilots)
    # The line names the file holding the ref, the ref, and why.
    assert message.startswith(f"{ticket.resolve()}: $ref {ref}: ") and reason in message, message
    assert len(message.splitlines()) == 1
