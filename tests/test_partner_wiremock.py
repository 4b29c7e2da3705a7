"""WireMock stub mappings imported as routes, annotated with effects, and served."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from harness.partner import PartnerSpecError, create_app, resolve_partner
from harness.partner.wiremock import load

DATA = Path(__file__).resolve().parent / "data" / "partners"


def test_mappings_become_routes_in_priority_order() -> None:
    routes = load(DATA / "crm" / "mappings")
    assert [(r.method, r.path or r.path_regex or r.url_regex) for r in routes] == [
        ("GET", "/crm/v3/objects/contacts"),  # priority 1 first
        ("POST", "/crm/v3/objects/contacts"),
        ("PATCH", "/crm/v3/objects/contacts/{contactId}"),
        ("ANY", r"/crm/v3/owners\?.*"),
        ("GET", "/crm/v3/health(/.*)?"),
    ]
    page, create, patch, owners, health = routes
    assert page.when == {"query.limit": {"equal": "1"}} and '"paging"' in (page.body_text or "")
    assert create.name == "create contact" and create.status == 201 and not create.template
    assert create.when == {"header.Content-Type": {"contains": "application/json"}}
    assert patch.delay_ms == 5 and owners.fault == "CONNECTION_RESET_BY_PEER"
    assert owners.when == {"body.owner.id": {"present": True}}
    assert health.body_text == "ok"


def test_the_wiremock_root_folder_works_too() -> None:
    assert len(load(DATA / "crm")) == 5


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing-method.json", "missing-method.json: request.method: required"),
        (
            "transformers.json",
            "transformers.json: mappings[1].response.transformers: not supported",
        ),
        (
            "matcher.json",
            "matcher.json: request.headers.Accept: matcher doesNotMatch not supported",
        ),
    ],
)
def test_unsupported_or_broken_stubs_fail_on_one_line(name: str, message: str) -> None:
    with pytest.raises(PartnerSpecError) as caught:
        load(DATA / "bad" / name)
    assert str(caught.value) == f"{DATA / 'bad' / message}"


def test_missing_folder_is_one_line() -> None:
    with pytest.raises(PartnerSpecError, match="no such WireMock mappings"):
        load(DATA / "nope")


DECL = {
    "wiremock": "crm/mappings",
    "annotate": {
        "create contact": {"effect": "contact.created", "key": "body.properties.email"},
        "PATCH /crm/v3/objects/contacts/{contactId}": {
            "effect": "contact.updated", "key": "path.contactId", "needs_entity": True,
        },
    },
}  # fmt: skip


async def test_annotated_stubs_cause_effects(tmp_path: Path) -> None:
    spec = resolve_partner("crm", DECL, DATA)
    app = create_app(spec, ledger_path=tmp_path / "ledger.jsonl")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as api:
        early = await api.patch("/crm/v3/objects/contacts/a@b", json={})
        assert early.status_code == 404 and early.json()["error"]["message"] == (
            "contact a@b not found"
        )
        body = {"properties": {"email": "a@b"}}
        created = await api.post("/crm/v3/objects/contacts", json=body)
        assert created.status_code == 201 and created.json()["id"] == "512"
        assert (await api.patch("/crm/v3/objects/contacts/a@b", json={})).status_code == 200
        page = await api.get("/crm/v3/objects/contacts?limit=1")
        assert page.json()["paging"]["next"]["after"] == "513"
        effects = [(e["effect"], e["key"]) for e in (await api.get("/_sim/ledger")).json()]
        assert effects == [("contact.created", "a@b"), ("contact.updated", "a@b")]


def test_an_annotation_that_matches_nothing_is_an_error() -> None:
    decl = {"wiremock": "crm/mappings", "annotate": {"POST /crm/v3/nothing": {"effect": "x.y"}}}
    with pytest.raises(PartnerSpecError) as caught:
        resolve_partner("crm", decl, DATA)
    assert str(caught.value) == "partners.crm: annotate.'POST /crm/v3/nothing': matches no route"


def test_annotation_by_wiremock_id() -> None:
    decl = {
        "wiremock": "crm/mappings",
        "annotate": {"8c5db8b0-2db4-4ad7-a99f-38c9b00da3f7": {"effect": "contact.created",
                                                             "key": "body.id"}},
    }  # fmt: skip
    routes = resolve_partner("crm", decl, DATA)["routes"]
    assert [r["effect"] for r in routes if r["effect"]] == ["contact.created"]
