"""The JSONL fixture format, the shipped order-sync fixtures and `fixtures check`."""

from __future__ import annotations

import base64
import dataclasses
import importlib.util
import json
import sys
import unicodedata
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from harness.commands.fixtures import app
from harness.inputs.fixtures import (
    SIGNING_SCHEMES,
    CapturedRequest,
    FixtureError,
    check_fixtures,
    dump_fixtures,
    dumps_fixtures,
    load_fixtures,
)
from harness.schemes.stripe import verify_header as verify_stripe

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "fixtures" / "order-sync" / "events.jsonl"
BAD_LINES = ROOT / "fixtures" / "order-sync" / "bad-lines.jsonl"
GENERATOR = ROOT / "fixtures" / "order-sync" / "make_events.py"


def make(**changes: object) -> CapturedRequest:
    fields: dict[str, object] = {
        "id": "t-1",
        "captured_at": datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        "method": "POST",
        "path": "/webhooks/payments",
        "headers": {"Content-Type": "application/json"},
        "body": b'{"id": "evt_1"}',
        "signing": "stripe",
        "event_id": "evt_1",
        "event_type": "payment_intent.succeeded",
        "entity_id": "ord_1",
        "entity_version": 1,
    }
    fields.update(changes)
    return CapturedRequest(**fields)  # type: ignore[arg-type]


def line_of(**changes: object) -> str:
    obj: dict[str, object] = {
        "id": "t-1",
        "captured_at": "2026-11-02T09:00:00Z",
        "method": "POST",
        "path": "/webhooks/payments",
        "headers": {},
        "body": "{}",
        "signing": "none",
        "event_id": "evt_1",
        "event_type": "x",
        "entity_id": "ord_1",
        "entity_version": 1,
    }
    for key, value in changes.items():
        if value is _DROP:
            obj.pop(key)
        else:
            obj[key] = value
    return json.dumps(obj)


_DROP = object()


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_events", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve string annotations through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- the format -------------------------------------------------------------


def test_round_trip_keeps_every_field_and_the_exact_bytes(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "José 🚲")
    records = [
        make(id="a", body=f'{{"name": "{nfd}"}}\r\n  '.encode()),
        make(id="b", body=b"\x1f\x8b\x08\x00\xff binary", signing="none", note="gzip"),
        make(
            id="c",
            captured_at=datetime(
                2026, 11, 2, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))
            ),
            signing="github",
            entity_version=7,
        ),
    ]
    path = tmp_path / "f.jsonl"
    dump_fixtures(records, path)
    assert load_fixtures(path) == records
    lines = [json.loads(raw) for raw in path.read_text(encoding="utf-8").splitlines()]
    assert "body" in lines[0] and "body_b64" not in lines[0]
    assert "body_b64" in lines[1] and "body" not in lines[1]
    assert lines[1]["note"] == "gzip" and "note" not in lines[0]
    assert lines[2]["captured_at"] == "2026-11-02T10:00:00.123456+02:00"


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=300), text=st.text(max_size=80))
def test_any_body_survives_dump_and_load(
    tmp_path_factory: pytest.TempPathFactory, body: bytes, text: str
) -> None:
    path = tmp_path_factory.mktemp("rt") / "f.jsonl"
    records = [make(id="bin", body=body), make(id="txt", body=text.encode("utf-8"))]
    dump_fixtures(records, path)
    loaded = load_fixtures(path)
    assert [r.body for r in loaded] == [body, text.encode("utf-8")]
    # One request per line whatever the body holds (newlines, U+2028...).
    assert len(path.read_bytes().rstrip(b"\n").split(b"\n")) == 2


def test_blank_lines_crlf_and_bom_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    text = "\ufeff" + line_of(id="a") + "\r\n\r\n   \n" + line_of(id="b") + "\r\n\n"
    path.write_bytes(text.encode("utf-8"))
    assert [r.id for r in load_fixtures(path)] == ["a", "b"]
    assert check_fixtures(path) == []


def test_shipped_bad_lines_report_every_problem_with_file_line_and_field() -> None:
    problems = check_fixtures(BAD_LINES)
    located = [p.split(": ", 2)[:2] for p in problems]
    name = str(BAD_LINES)
    assert located == [
        [f"{name}:3", "json"],
        [f"{name}:4", "json"],
        [f"{name}:5", "event_id"],
        [f"{name}:6", "entity_version"],
        [f"{name}:7", "signing"],
        [f"{name}:8", "id"],
        [f"{name}:9", "body"],
        [f"{name}:10", "body_b64"],
        [f"{name}:11", "captured_at"],
        [f"{name}:12", "headers.X-Retry-Count"],
        [f"{name}:13", "entity_version"],
        [f"{name}:13", "entity_verison"],
        [f"{name}:15", "json"],
    ]
    assert all("\n" not in p for p in problems)
    assert problems[3].endswith('entity_version: must be an integer, got string "2"')
    assert 'unknown scheme "hmac-sha1"' in problems[4]
    assert problems[5].endswith('duplicate id "ok-1" (first on line 1)')
    assert problems[12].endswith('json: duplicate key "id"')


def test_load_raises_for_the_first_bad_line_only() -> None:
    with pytest.raises(FixtureError) as caught:
        load_fixtures(BAD_LINES)
    assert caught.value.line == 3
    assert caught.value.field == "json"
    assert str(caught.value).startswith(f"{BAD_LINES}:3: json: not valid JSON")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"signing": "hmac"}, "signing", 'unknown scheme "hmac"'),
        ({"entity_version": True}, "entity_version", "got boolean"),
        ({"entity_version": 1.5}, "entity_version", "must be an integer"),
        ({"entity_version": -1}, "entity_version", "0 or more"),
        ({"event_id": ""}, "event_id", "must not be empty"),
        ({"entity_id": _DROP}, "entity_id", "missing"),
        ({"headers": ["Content-Type: x"]}, "headers", "must be an object"),
        ({"headers": {"Content-Type": "a", "content-type": "b"}}, "headers", "case-insensitive"),
        ({"headers": {"X-A": "a\r\nInjected: 1"}}, "headers.X-A", "CR or LF"),
        ({"path": "webhooks"}, "path", "must start with /"),
        ({"method": "PO ST"}, "method", "method token"),
        ({"captured_at": "2026-13-02T09:00:00Z"}, "captured_at", "not a valid date-time"),
        ({"captured_at": 1700000000}, "captured_at", "must be a string"),
        ({"body": _DROP}, "body", "missing"),
        ({"note": 3}, "note", "must be a string"),
    ],
)
def test_each_rule_names_its_field(
    tmp_path: Path, changes: dict[str, object], field: str, fragment: str
) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(line_of(**changes) + "\n", encoding="utf-8")
    problems = check_fixtures(path)
    assert problems, "the line should have been rejected"
    assert problems[0].startswith(f"{path}:1: {field}: ")
    assert fragment in problems[0]


def test_valid_alternatives_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(
        "\n".join(
            [
                line_of(id="a", captured_at="2026-11-02t09:00:00.123456789+05:30"),
                line_of(id="b", body=_DROP, body_b64=base64.b64encode(b"\xff").decode()),
                line_of(id="c", event_type="", entity_id="", entity_version=0),
            ]
        ),
        encoding="utf-8",
    )
    assert check_fixtures(path) == []
    loaded = load_fixtures(path)
    assert loaded[0].captured_at == datetime(
        2026, 11, 2, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30))
    )
    assert loaded[1].body == b"\xff"


def test_missing_file_is_one_line() -> None:
    problems = check_fixtures("no/such/file.jsonl")
    assert len(problems) == 1
    assert problems[0].startswith("no/such/file.jsonl: cannot read file:")
    with pytest.raises(FixtureError):
        load_fixtures("no/such/file.jsonl")


def test_records_validate_and_stay_immutable() -> None:
    with pytest.raises(FixtureError, match="signing: unknown scheme"):
        make(signing="hmac")
    with pytest.raises(FixtureError, match="captured_at: must carry a timezone"):
        make(captured_at=datetime(2026, 11, 2))
    rec = make(captured_at="2026-11-02T09:00:00Z")  # text is parsed
    assert rec.captured_at == datetime(2026, 11, 2, 9, tzinfo=UTC)
    with pytest.raises(TypeError):
        rec.headers["X-New"] = "1"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.body = b""  # type: ignore[misc]
    assert rec.header("content-type") == "application/json"
    assert hash(rec) == hash(make(captured_at="2026-11-02T09:00:00Z"))


def test_repr_names_the_request_but_not_the_body() -> None:
    rec = make(body=b"x" * 5000)
    text = repr(rec)
    assert "t-1" in text and "<5000 bytes>" in text
    assert "xxxx" not in text


def test_dump_refuses_duplicate_ids(tmp_path: Path) -> None:
    with pytest.raises(FixtureError, match='duplicate id "t-1"'):
        dump_fixtures([make(), make()], tmp_path / "f.jsonl")
    assert not (tmp_path / "f.jsonl").exists()


def test_all_schemes_are_known() -> None:
    assert SIGNING_SCHEMES == ("stripe", "standard", "github", "shopify", "none")


# --- the shipped order-sync fixtures -------------------------------------------


@pytest.fixture(scope="module")
def events() -> list[CapturedRequest]:
    return load_fixtures(EVENTS)


def test_order_sync_file_is_clean_and_stripe_signed(events: list[CapturedRequest]) -> None:
    assert check_fixtures(EVENTS) == []
    assert {r.signing for r in events} == {"stripe"}
    assert {r.method for r in events} == {"POST"}
    assert {r.path for r in events} == {"/webhooks/payments"}
    assert [r.captured_at for r in events] == sorted(r.captured_at for r in events)


def test_order_sync_has_one_create_per_order_and_updates_for_a_third(
    events: list[CapturedRequest],
) -> None:
    creates = {r.event_id: r for r in events if r.event_type == "payment_intent.succeeded"}
    updates = {r.event_id: r for r in events if r.event_type == "order.updated"}
    assert len(creates) == 30
    assert len({r.entity_id for r in creates.values()}) == 30
    assert all(r.entity_version == 1 for r in creates.values())
    updated_orders = {r.entity_id for r in updates.values()}
    assert 9 <= len(updated_orders) <= 11
    assert updated_orders <= {r.entity_id for r in creates.values()}
    assert all(r.entity_version in (2, 3) for r in updates.values())
    for rec in creates.values():
        body = json.loads(rec.body)
        assert body["id"] == rec.event_id and body["object"] == "event"
        assert body["type"] == "payment_intent.succeeded"
        pi = body["data"]["object"]
        assert pi["object"] == "payment_intent" and pi["id"].startswith("pi_")
        assert pi["metadata"]["order_id"] == rec.entity_id
        assert int(pi["amount"]) > 0
        assert pi["shipping"]["address"]["country"]
    for rec in updates.values():
        order = json.loads(rec.body)["data"]["object"]
        assert order["id"] == rec.entity_id
        assert int(order["version"]) == rec.entity_version


def test_order_sync_carries_the_ugly_cases(events: list[CapturedRequest]) -> None:
    by_event = Counter(r.event_id for r in events)
    duplicated = [e for e, n in by_event.items() if n > 1]
    assert len(duplicated) >= 1
    for event_id in duplicated:
        copies = [r for r in events if r.event_id == event_id]
        assert len({r.id for r in copies}) == len(copies)
        assert len({r.body for r in copies}) == 1  # a redelivery is the same bytes

    first_seen: dict[str, str] = {}
    versions_seen: dict[str, list[int]] = defaultdict(list)
    for rec in events:
        first_seen.setdefault(rec.entity_id, rec.event_type)
        versions_seen[rec.entity_id].append(rec.entity_version)
    assert "order.updated" in first_seen.values(), "an update captured before its create"
    assert any(v != sorted(v) for v in versions_seen.values()), "versions out of order"

    bodies = [r.body.decode("utf-8") for r in events]
    assert max(len(r.body) for r in events) > 250_000
    assert any("🌸" in b for b in bodies) and any("山田" in b for b in bodies)
    assert any(unicodedata.normalize("NFC", b) != b for b in bodies), "decomposed text"
    assert any("\\u00" in b for b in bodies), "non-ASCII escaped in the raw bytes"
    parsed = [json.loads(b) for b in bodies]
    objects = [p["data"]["object"] for p in parsed]
    assert any(isinstance(o.get("amount"), str) for o in objects)
    assert any(isinstance(o.get("version"), str) for o in objects)
    addresses = [o["shipping"]["address"] for o in objects if o.get("shipping")]
    assert any("line2" in a and a["line2"] is None for a in addresses)
    assert any("line2" not in a for a in addresses)
    assert any(p.get("api_version") is None for p in parsed)
    assert any("request" not in p for p in parsed)
    assert any(isinstance(p.get("request"), str) for p in parsed)
    assert any("context" in p for p in parsed), "unknown new top-level field"
    assert any(r.header("stripe-signature") and "Stripe-Signature" not in r.headers for r in events)
    assert any(r.header("Stripe-Signature").count("v1=") == 2 for r in events)  # type: ignore[union-attr]


def test_order_sync_captured_signatures_match_the_stored_bytes(
    events: list[CapturedRequest],
) -> None:
    secret = load_generator().CAPTURE_SECRET
    assert len(events) >= 40
    for rec in events:
        verify_stripe(rec.body, rec.header("Stripe-Signature"), secret, now=0, tolerance=None)


def test_generator_is_deterministic_and_matches_the_committed_file(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    assert load_generator().main(["--out", str(out)]) == 0
    assert out.read_bytes() == EVENTS.read_bytes(), (
        "events.jsonl is stale: rerun fixtures/order-sync/make_events.py and commit it"
    )


# --- the CLI -------------------------------------------------------------------


def test_cli_check_ok_prints_a_summary() -> None:
    result = CliRunner().invoke(app, ["check", str(EVENTS)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "46 requests" in lines[0] and "30 entities" in lines[0]


def test_cli_check_bad_file_prints_each_problem_and_exits_2() -> None:
    result = CliRunner().invoke(app, ["check", str(BAD_LINES)])
    assert result.exit_code == 2
    assert result.stdout.strip().splitlines() == check_fixtures(BAD_LINES)
    assert "Traceback" not in result.output


def test_cli_check_missing_file_exits_2_without_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "cannot read file" in result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_dumps_matches_dump(tmp_path: Path) -> None:
    records = [make(id="a"), make(id="b", body=b"\xfe")]
    dump_fixtures(records, tmp_path / "f.jsonl")
    assert (tmp_path / "f.jsonl").read_text(encoding="utf-8") == dumps_fixtures(records)


# --- inputs that used to crash or pass ------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"body": '{"name": "\ud800"}'}, "body"),
        ({"event_id": "evt_\udfff"}, "event_id"),
        ({"note": "\ud83d"}, "note"),
        ({"headers": {"X-Trace": "a\udc00"}}, "headers.X-Trace"),
    ],
)
def test_a_lone_surrogate_escape_is_a_located_problem(
    tmp_path: Path, changes: dict[str, object], field: str
) -> None:
    path = tmp_path / "f.jsonl"
    # json.dumps writes a lone surrogate as the escape "\ud800", as a capture would hold it.
    path.write_text(line_of(id="ok") + "\n" + line_of(id="t-2", **changes) + "\n")
    problems = check_fixtures(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:2: {field}: holds a lone surrogate \\u")
    problems[0].encode("utf-8")  # printable: the surrogate is spelt out, not embedded
    with pytest.raises(FixtureError) as caught:
        load_fixtures(path)
    assert (caught.value.line, caught.value.field) == (2, field)


def test_a_surrogate_pair_is_ordinary_text(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(line_of(body="\U0001f6b2") + "\n")
    assert "\\ud83d\\udeb2" in path.read_text()
    assert check_fixtures(path) == []
    assert load_fixtures(path)[0].body == "🚲".encode()


@pytest.mark.parametrize("content", ["", "\n\n  \n", "\ufeff\n"])
def test_a_file_without_requests_is_bad_input(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(content, encoding="utf-8")
    assert check_fixtures(path) == [f"{path}: no requests"]
    with pytest.raises(FixtureError, match="no requests"):
        load_fixtures(path)
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert result.stdout.strip() == f"{path}: no requests"
