"""HAR 1.2 import: bodies kept byte for byte, schemes guessed, business keys read."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.commands.fixtures import app
from harness.inputs.expectations import ExpectationRule
from harness.inputs.fixtures import CapturedRequest, check_fixtures, load_fixtures
from harness.inputs.har import HarError, business_keys, guess_signing, import_har
from harness.inputs.har_pilot import key_by_rules
from harness.inputs.pilot import load_pilot
from harness.replay.signing import verify

DATA = Path(__file__).resolve().parent / "data"
CAPTURE = DATA / "capture.har"
REPO = Path(__file__).resolve().parent.parent
EVENTS = REPO / "fixtures" / "order-sync" / "events.jsonl"
PILOT = REPO / "pilots" / "order-sync.toml"

# The secrets tests/data/capture.har was signed with (test values only).
SECRETS = {
    "stripe": "whsec_har_test_stripe",
    "standard": "whsec_" + base64.b64encode(b"har-test-standard-webhooks-key!!").decode(),
    "github": "har-test-github",
    "shopify": "har-test-shopify",
}


@pytest.fixture(scope="module")
def imported() -> dict[str, CapturedRequest]:
    return {r.id: r for r in import_har(CAPTURE).records}


def test_entries_with_a_body_become_fixtures(imported: dict[str, CapturedRequest]) -> None:
    assert list(imported) == [
        "capture-0001",
        "capture-0003",
        "capture-0004",
        "capture-0005",
        "capture-0007",
        "capture-0008",
    ]
    assert {r.id: r.signing for r in imported.values()} == {
        "capture-0001": "stripe",
        "capture-0003": "standard",
        "capture-0004": "github",
        "capture-0005": "shopify",
        "capture-0007": "stripe",
        "capture-0008": "none",
    }


def test_notes_say_what_was_skipped_or_defaulted() -> None:
    notes = import_har(CAPTURE).notes
    assert any("log.entries[1]: skipped: GET request has no body" in n for n in notes)
    assert any("log.entries[5]: skipped: form params" in n for n in notes)
    assert any("log.entries[0]: dropped credential headers: Cookie" in n for n in notes)
    assert any("log.entries[7]: no event id" in n for n in notes)
    assert all(n.startswith(f"{CAPTURE}: log.entries[") and "\n" not in n for n in notes)


def test_stripe_entry_keys_headers_path_and_time(imported: dict[str, CapturedRequest]) -> None:
    rec = imported["capture-0001"]
    assert (rec.event_id, rec.event_type, rec.entity_id, rec.entity_version) == (
        "evt_3HarStripe0001",
        "payment_intent.succeeded",
        "pi_3HarPi0001",  # generic default: data.object.id, whatever the domain
        1,
    )
    assert rec.path == "/webhooks/payments?src=stripe"
    assert rec.captured_at == datetime(
        2026, 11, 2, 9, 0, 1, 250000, tzinfo=timezone(timedelta(hours=1))
    )
    lowered = {k.lower() for k in rec.headers}
    assert not lowered & {"host", "content-length", "cookie"}
    assert rec.header("accept") == "*/*; q=0.5, application/xml"  # repeated header folded
    assert "Zoë Ångström".encode() in rec.body


def test_other_schemes_keys(imported: dict[str, CapturedRequest]) -> None:
    std = imported["capture-0003"]
    assert (std.event_id, std.event_type, std.entity_id, std.entity_version) == (
        "msg_HarStd0002",
        "order.updated",
        "ord_HarOrder0002",
        4,
    )
    assert not any(k.startswith(":") for k in std.headers)
    gh = imported["capture-0004"]
    assert (gh.event_id, gh.event_type, gh.entity_id, gh.entity_version) == (
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "issues.opened",
        "",
        0,
    )
    shop = imported["capture-0005"]
    assert (shop.event_id, shop.event_type, shop.entity_id, shop.entity_version) == (
        "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "orders/updated",
        "820982911946154508",  # 64-bit id kept exactly
        1,
    )
    assert shop.header("authorization") is None
    upd = imported["capture-0007"]
    assert (upd.event_id, upd.entity_id, upd.entity_version) == (
        "evt_1HarUpdate0006",
        "ord_HarOrder0001",
        3,  # sent as the string "3"
    )
    blob = imported["capture-0008"]
    assert blob.body == bytes(range(0, 256, 7)) + b"\xff\xfe\x00"
    assert (blob.event_id, blob.event_type, blob.entity_id, blob.entity_version) == (
        "capture-0008",
        "",
        "",
        0,
    )


def test_captured_signatures_still_match_the_imported_bytes(
    imported: dict[str, CapturedRequest],
) -> None:
    # Proves text, base64 and form bodies came through byte for byte.
    checked = set()
    for rec in imported.values():
        if rec.signing != "none":
            verify(rec.signing, rec.body, rec.headers, SECRETS[rec.signing], now=0, tolerance=None)
            checked.add(rec.signing)
    assert checked == set(SECRETS)  # every scheme in the capture was really checked


def test_imported_records_dump_and_load(tmp_path: Path) -> None:
    records = import_har(CAPTURE).records
    out = tmp_path / "capture.jsonl"
    result = CliRunner().invoke(app, ["import", str(CAPTURE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert check_fixtures(out) == []
    assert load_fixtures(out) == records
    assert "imported 6 requests" in result.stderr


def test_cli_import_to_stdout() -> None:
    result = CliRunner().invoke(app, ["import", str(CAPTURE)])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 6
    assert json.loads(lines[0])["id"] == "capture-0001"


def har_of(records: list[CapturedRequest]) -> dict[str, Any]:
    entries = []
    for rec in records:
        headers = [{"name": k, "value": v} for k, v in rec.headers.items()]
        entries.append(
            {
                "startedDateTime": rec.captured_at.isoformat(),
                "request": {
                    "method": rec.method,
                    "url": "http://127.0.0.1:8080" + rec.path,
                    "headers": headers,
                    "postData": {"mimeType": "application/json", "text": rec.body.decode()},
                },
            }
        )
    return {"log": {"version": "1.2", "entries": entries}}


def test_order_sync_fixtures_survive_a_trip_through_har(tmp_path: Path) -> None:
    # The pilot's rules must recover the keys the generator chose, on every
    # ugly body (string versions, null fields, the 300 KB one...).
    records = load_fixtures(EVENTS)
    path = tmp_path / "order-sync.har"
    path.write_text(json.dumps(har_of(records), ensure_ascii=False), encoding="utf-8")
    spec = load_pilot(PILOT, require_fixtures=False).spec
    plain = import_har(path)
    back = key_by_rules(
        plain, str(path), str(PILOT), spec.expectations, sorted(spec.partners)
    ).records
    assert len(back) == len(records)
    for before, after in zip(records, back, strict=True):
        assert after.body == before.body
        assert after.signing == "stripe"
        assert after.captured_at == before.captured_at
        keys = (after.event_id, after.event_type, after.entity_id, after.entity_version)
        assert keys == (before.event_id, before.event_type, before.entity_id, before.entity_version)


def test_guess_signing() -> None:
    assert guess_signing({"stripe-signature": "t=1,v1=x"}) == "stripe"
    assert guess_signing({"Svix-Signature": "v1,x"}) == "standard"
    assert guess_signing({"X-Hub-Signature": "sha1=x"}) == "github"
    assert guess_signing({"shopify-hmac-sha256": "x"}) == "shopify"
    assert guess_signing({"Content-Type": "application/json"}) == "none"


def test_business_keys_reject_a_bad_version() -> None:
    body = json.dumps({"id": "evt_1", "type": "t", "data": {"object": {"id": "o", "version": 2.5}}})
    with pytest.raises(
        ValueError, match=r"data\.object\.version: not a non-negative integer: 2\.5"
    ):
        business_keys(body.encode(), {}, "stripe")
    keys = business_keys(b'{"id": "evt_1", "type": "t"}', {}, "stripe")
    assert (keys.event_id, keys.entity_id, keys.entity_version) == ("evt_1", "", 0)
    assert any("entity_id left empty" in n for n in keys.notes)


def entry(**request: Any) -> dict[str, Any]:
    req: dict[str, Any] = {
        "method": "POST",
        "url": "http://127.0.0.1/hook",
        "headers": [],
        "postData": {"mimeType": "application/json", "text": '{"id": "evt_1"}'},
    }
    req.update(request)
    return {"startedDateTime": "2026-11-02T09:00:00Z", "request": req}


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ("{not json", "not valid JSON: Expecting property name"),
        ([], "log: missing; not a HAR file"),
        ({"log": {"entries": {}}}, "log.entries: must be an array"),
        ({"log": {"entries": [entry(url=None)]}}, "log.entries[0].request.url: must be"),
        (
            {"log": {"entries": [entry(postData={"text": "!!", "encoding": "base64"})]}},
            "log.entries[0].request.postData.text: encoding is base64 but the text is not",
        ),
        (
            {"log": {"entries": [entry(postData={"text": "x", "encoding": "gzip"})]}},
            'log.entries[0].request.postData.encoding: unsupported encoding "gzip"',
        ),
        (
            {"log": {"entries": [entry(headers=[{"name": "X-A", "value": 3}])]}},
            "log.entries[0].request.headers[0].value: must be a string",
        ),
        (
            {"log": {"entries": [{**entry(), "startedDateTime": "yesterday"}]}},
            "log.entries[0].startedDateTime: must be an RFC 3339 timestamp",
        ),
        (
            {
                "log": {
                    "entries": [
                        entry(
                            postData={
                                "text": json.dumps(
                                    {"id": "e", "data": {"object": {"id": "o", "version": "v2"}}}
                                )
                            }
                        )
                    ]
                }
            },
            "log.entries[0].request.postData.text: data.object.version: "
            'not a non-negative integer: "v2"',
        ),
        (
            {"log": {"entries": [entry(method="GET POST")]}},
            "log.entries[0]: method: not an HTTP method token",
        ),
    ],
)
def test_bad_har_is_one_clear_line(tmp_path: Path, doc: Any, fragment: str) -> None:
    path = tmp_path / "bad.har"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    with pytest.raises(HarError) as caught:
        import_har(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert fragment in message
    assert "\n" not in message
    result = CliRunner().invoke(app, ["import", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == message
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_cli_import_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["import", str(tmp_path / "nope.har")])
    assert result.exit_code == 2
    assert "cannot read file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_captured_at_is_kept_in_utc_when_given_so(imported: dict[str, CapturedRequest]) -> None:
    assert imported["capture-0008"].captured_at == datetime(2026, 11, 2, 8, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("request_fields", "location"),
    [
        ({"postData": {"text": '{"id": "evt_\ud800"}'}}, "request.postData.text"),
        ({"headers": [{"name": "X-Trace", "value": "\udc00"}]}, "request.headers[0].value"),
        ({"url": "http://127.0.0.1/hook/\udbff"}, "request.url"),
    ],
)
def test_a_lone_surrogate_names_the_line_and_the_location(
    tmp_path: Path, request_fields: dict[str, Any], location: str
) -> None:
    path = tmp_path / "sur.har"
    # One entry per line; json.dumps writes the lone surrogate as its escape.
    entries = [entry(), entry(**request_fields)]
    path.write_text('{"log": {"entries": [\n' + ",\n".join(map(json.dumps, entries)) + "\n]}}")
    with pytest.raises(HarError) as caught:
        import_har(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: log.entries[1].{location}: holds a lone surrogate \\u")
    result = CliRunner().invoke(app, ["import", str(path), "--out", str(tmp_path / "f.jsonl")])
    assert result.exit_code == 2
    assert result.stderr.strip() == message
    assert not (tmp_path / "f.jsonl").exists()


def test_a_base64_body_may_hold_any_bytes(tmp_path: Path) -> None:
    path = tmp_path / "b64.har"
    body = base64.b64encode(b"\xed\xa0\x80").decode()  # the CESU-8 bytes of U+D800
    path.write_text(
        json.dumps({"log": {"entries": [entry(postData={"text": body, "encoding": "base64"})]}})
    )
    assert import_har(path).records[0].body == b"\xed\xa0\x80"


def test_an_import_without_requests_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "gets.har"
    path.write_text(json.dumps({"log": {"entries": [entry(method="GET", postData=None)]}}))
    out = tmp_path / "f.jsonl"
    result = CliRunner().invoke(app, ["import", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{path}: no request with a body to import"
    assert not out.exists()


def cli_keys(argv: list[str]) -> tuple[dict[str, tuple[str, int]], list[str]]:
    """(fixture id -> (entity_id, entity_version), note lines) of a CLI import."""
    result = CliRunner().invoke(app, ["import", str(CAPTURE), *argv])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    return {r["id"]: (r["entity_id"], r["entity_version"]) for r in rows}, notes


def test_import_without_a_pilot_uses_the_generic_keys() -> None:
    keys, notes = cli_keys([])
    assert keys["capture-0001"] == ("pi_3HarPi0001", 1)  # the payment, data.object.id
    assert keys["capture-0007"] == ("ord_HarOrder0001", 3)
    assert not any("[[expectations]]" in n for n in notes)


def test_import_with_a_pilot_takes_keys_from_its_rules() -> None:
    keys, notes = cli_keys(["--pilot", str(PILOT)])
    plain, _ = cli_keys([])
    # order-sync keys a payment by the order in its metadata, and an update by its object.
    assert keys["capture-0001"] == ("ord_HarOrder0001", 1)
    assert keys["capture-0003"] == ("ord_HarOrder0002", 4)
    assert keys["capture-0007"] == ("ord_HarOrder0001", 3)
    # GitHub, Shopify and the binary upload match no rule: defaults kept, noted once.
    for unmatched in ("capture-0004", "capture-0005", "capture-0008"):
        assert keys[unmatched] == plain[unmatched]
    summary = [n for n in notes if "match no [[expectations]] rule" in n]
    assert summary == [
        f"note: {CAPTURE}: 3 of 6 events match no [[expectations]] rule of {PILOT}; they "
        "keep the generic keys (log.entries[3], log.entries[4], log.entries[7])"
    ]


def test_a_rule_that_finds_no_key_keeps_the_default_and_says_so() -> None:
    rules = [
        ExpectationRule(
            when={"event_type": "payment_intent.succeeded"},
            effect="",
            key="body.data.object.metadata.nowhere",
            version="body.data.object.metadata.nowhere",
        )
    ]
    result = key_by_rules(import_har(CAPTURE), "c.har", "p.toml", rules, [])
    first = result.records[0]
    assert (first.entity_id, first.entity_version) == ("pi_3HarPi0001", 1)
    assert "c.har: log.entries[0]: p.toml: [[expectations]] #1 key " in "\n".join(result.notes)
    assert any("entity_id kept 'pi_3HarPi0001'" in n for n in result.notes)
    assert any("entity_version kept 1" in n for n in result.notes)
    assert any("5 of 6 events match no [[expectations]] rule" in n for n in result.notes)


def test_a_bad_pilot_stops_the_import_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "f.jsonl"
    result = CliRunner().invoke(
        app, ["import", str(CAPTURE), "--pilot", str(tmp_path / "gone.toml"), "-o", str(out)]
    )
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == f"{tmp_path / 'gone.toml'}: cannot read pilot file (No such file or directory)"
    )
    assert not out.exists()
