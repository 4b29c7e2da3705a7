"""OpenAPI 3 documents imported as routes: answers from examples or schemas, checks."""

from __future__ import annotations

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
    assert create.required == ("body.subject", "body.requester")
    assert create.types["body.priority"] == "string|null" and create.types["body.tags"] == "array"
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
        body = {"subject": "help", "requester": {"email": "a@b"}}
        created = await api.post("/api/v2/tickets", json=body)
        assert created.status_code == 201 and created.json()["status"] == "new"
        assert (await api.get("/api/v2/tickets/7")).json()["error"]["message"] == (
            "header.X-Tenant: required"
        )
        assert (await api.get("/api/v2/tickets/7", headers={"x-tenant": "t"})).status_code == 200
        (effect,) = (await api.get("/_sim/ledger")).json()
        assert (effect["effect"], effect["entity"], effect["key"]) == (
            "ticket.created",
            "ticket",
            "a@b",
        )
