"""Turn a HAR 1.2 export (browser devtools, mitmproxy, Charles…) into fixtures.

Each request entry that carries a body becomes one ``CapturedRequest``. The
signing scheme is guessed from the signature headers present, and the
business keys are read from a JSON event envelope (``id``, ``type``,
``data.object``) and the scheme's own headers (``harness.schemes``):

    event_id        the scheme's delivery id header, else body "id" (unless
                    the scheme's body is the resource itself)
    event_type      body "type", else the scheme's event header (a topic, say)
    entity_id       data.object.id, else the scheme's (the body's own "id")
    entity_version  data.object.version or data.object.metadata.version
                    (integer or digit string); else 1 if there is an entity, 0 if not

These are generic defaults: which field names the entity is the pilot's
business (``[[expectations]]`` key and version), applied by ``har_pilot``.

Anything that cannot be read is a ``HarError`` naming the file and the JSON
location (``capture.har: log.entries[3].request.url: missing``). Entries
without a body are skipped, and every default that was used is reported as
a note, so an import never silently invents data.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlsplit

from harness.inputs.fixtures import (
    HOP_BY_HOP,
    CapturedRequest,
    FixtureError,
    Signing,
    escape_surrogates,
    lone_surrogate,
    parse_rfc3339,
)
from harness.partner import boundedjson
from harness.schemes import SCHEMES, detect

# Captures often hold session cookies or API tokens; fixtures are committed.
CREDENTIAL_HEADERS = frozenset(("cookie", "authorization", "proxy-authorization"))


class HarError(ValueError):
    """The HAR file cannot be imported; the message is one line."""

    def __init__(self, message: str) -> None:
        # A bad value quoted in the message may hold a lone surrogate; keep it printable.
        super().__init__(escape_surrogates(message))


@dataclass(frozen=True)
class HarImport:
    """What an import produced: the records, and one-line notes on what was skipped
    or defaulted (``file: log.entries[i]: ...``)."""

    records: list[CapturedRequest]
    notes: list[str] = field(default_factory=list)
    # The HAR entry index each record came from, in step with ``records``.
    entries: list[int] = field(default_factory=list)


def guess_signing(headers: Mapping[str, str]) -> Signing:
    """The signing scheme suggested by the signature headers present."""
    return detect(headers)


@dataclass(frozen=True)
class BusinessKeys:
    event_id: str
    event_type: str
    entity_id: str
    entity_version: int
    notes: tuple[str, ...] = ()


class _KeyError(ValueError):
    """A business key is present but unusable: (location, problem)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


def _lookup(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _event_json(body: bytes, headers: Mapping[str, str]) -> dict[str, Any] | None:
    """The body as a JSON object, if it is one (form posts of a JSON payload included)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    content_type = (_lookup(headers, "content-type") or "").lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        # A form delivery: payload=<urlencoded JSON>.
        payload = parse_qs(text).get("payload")
        if not payload:
            return None
        text = payload[0]
    try:
        obj = boundedjson.loads(text)
    except boundedjson.JsonTooDeep as exc:
        raise _KeyError("body", exc.msg) from None
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _is_id(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool) and str(value) != ""


def _as_version(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise _KeyError(where, f"not an integer: {json.dumps(value)}")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        return int(value.strip())
    raise _KeyError(where, f"not a non-negative integer: {json.dumps(value, ensure_ascii=False)}")


def business_keys(body: bytes, headers: Mapping[str, str], signing: str) -> BusinessKeys:
    """Read the event's business keys from its headers and JSON envelope body.

    Missing keys get documented defaults and a note; a key that is present
    but of the wrong type raises ValueError naming its JSON location.
    """
    notes: list[str] = []
    event = _event_json(body, headers) or {}
    if not event:
        notes.append("body is not a JSON object; business keys from headers only")

    scheme = SCHEMES.get(signing)
    event_id = ""
    for name in scheme.delivery_id_headers if scheme else ():
        event_id = (_lookup(headers, name) or "").strip()
        if event_id:
            break
    # Some providers' bodies are the resource itself: their "id" names it, not the event.
    if not event_id and "id" in event and (scheme is None or scheme.body_id_is_event):
        if _is_id(event["id"]):
            event_id = str(event["id"])
        else:
            raise _KeyError("id", "must be a non-empty string")

    event_type = ""
    if isinstance(event.get("type"), str):
        event_type = event["type"]
    elif scheme is not None:
        event_type = scheme.event_type(event, headers)
    if not event_type:
        notes.append("no event type found; event_type left empty")

    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    entity_id = ""
    version: int | None = None
    if isinstance(obj, dict):
        metadata = obj.get("metadata")
        if _is_id(obj.get("id")):
            entity_id = str(obj["id"])
        if obj.get("version") is not None:
            version = _as_version(obj["version"], "data.object.version")
        elif isinstance(metadata, dict) and metadata.get("version") is not None:
            version = _as_version(metadata["version"], "data.object.metadata.version")
    elif scheme is not None:
        entity_id = scheme.entity_id(event)
    if not entity_id:
        notes.append("no data.object.id; entity_id left empty")
    if version is None:
        # An unversioned entity counts as its first version, like a create;
        # with no entity at all there is nothing to version.
        version = 1 if entity_id else 0
    return BusinessKeys(event_id, event_type, entity_id, version, tuple(notes))


def _read_json(path: Path) -> tuple[Any, str]:
    """The parsed document and its text (kept to point at lines)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HarError(f"{path}: cannot read file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
        return boundedjson.loads(text), text
    except UnicodeDecodeError as exc:
        raise HarError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except boundedjson.JsonTooDeep as exc:
        raise HarError(f"{path}:{exc.lineno}: {exc.msg}") from None
    except json.JSONDecodeError as exc:
        raise HarError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


# Every JSON string literal, and the escape that spells half a UTF-16 pair.
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _line_of(text: str, value: str) -> int | None:
    """The line of the JSON string literal in ``text`` that decodes to ``value``."""
    for match in _STRING_LITERAL.finditer(text):
        literal = match.group()
        if _SURROGATE_ESCAPE.search(literal) and json.loads(literal) == value:
            return text.count("\n", 0, match.start()) + 1
    return None


def _refuse_lone_surrogates(doc: Any, text: str, name: str) -> None:
    """HarError (file:line: location) for the first request string that is not Unicode.

    JSON lets "\\ud800" through, but such a string has no UTF-8 bytes, so the
    request it belongs to cannot be stored or sent.
    """
    entries = doc.get("log", {}).get("entries") if isinstance(doc, dict) else None
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict):
            continue
        where = f"log.entries[{index}].request"
        fields = [(f"{where}.method", request.get("method")), (f"{where}.url", request.get("url"))]
        post = request.get("postData")
        if isinstance(post, dict) and str(post.get("encoding") or "").lower() != "base64":
            fields.append((f"{where}.postData.text", post.get("text")))
        headers = request.get("headers")
        for i, item in enumerate(headers if isinstance(headers, list) else []):
            if isinstance(item, dict):
                fields.append((f"{where}.headers[{i}].name", item.get("name")))
                fields.append((f"{where}.headers[{i}].value", item.get("value")))
        for location, value in fields:
            if isinstance(value, str) and (problem := lone_surrogate(value)) is not None:
                line = _line_of(text, value)
                at = f"{name}:{line}" if line is not None else name
                raise HarError(f"{at}: {location}: {problem}")


def _headers(
    raw: Any, where: str, fail: Callable[[str, str], NoReturn]
) -> tuple[dict[str, str], list[str]]:
    if not isinstance(raw, list):
        fail(f"{where}", "must be an array of {name, value} objects")
    merged: dict[str, str] = {}
    names: dict[str, str] = {}
    dropped: list[str] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            fail(f"{where}[{i}]", "must be an object with name and value")
        name, value = item.get("name"), item.get("value")
        if not isinstance(name, str) or not name:
            fail(f"{where}[{i}].name", "must be a non-empty string")
        if not isinstance(value, str):
            fail(f"{where}[{i}].value", "must be a string")
        folded = name.lower()
        if name.startswith(":") or folded in HOP_BY_HOP:
            continue
        if folded in CREDENTIAL_HEADERS:
            dropped.append(name)
            continue
        if folded in names:
            # Repeated request headers fold into one, per RFC 9110 §5.3.
            merged[names[folded]] += ", " + value
        else:
            names[folded] = name
            merged[name] = value
    return merged, dropped


def _safe_prefix(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem).strip("-")
    return stem or "har"


Fail = Callable[[str, str], NoReturn]


def import_har(path: str | os.PathLike[str], *, id_prefix: str | None = None) -> HarImport:
    """Convert a HAR file's request entries with a body into CapturedRequests.

    Fixture ids are ``<prefix>-<entry number>`` (1-based, so a record points back
    to its entry); the prefix defaults to the HAR file's name.
    """
    har_path = Path(path)
    name = str(path)
    prefix = id_prefix or _safe_prefix(har_path)
    doc, source = _read_json(har_path)
    _refuse_lone_surrogates(doc, source, name)

    def fail(where: str, problem: str) -> NoReturn:
        raise HarError(f"{name}: {where}: {problem}")

    if not isinstance(doc, dict) or not isinstance(doc.get("log"), dict):
        fail("log", "missing; not a HAR file (expected an object with a 'log' object)")
    entries = doc["log"].get("entries")
    if not isinstance(entries, list):
        fail("log.entries", "must be an array")

    records: list[CapturedRequest] = []
    notes: list[str] = []
    positions: list[int] = []
    for index, entry in enumerate(entries):
        where = f"log.entries[{index}]"
        said: list[str] = []
        record = _record(entry, where, f"{prefix}-{index + 1:04d}", fail, said)
        notes.extend(f"{name}: {where}: {note}" for note in said)
        if record is not None:
            records.append(record)
            positions.append(index)
    return HarImport(records=records, notes=notes, entries=positions)


def _request_line(entry: Any, where: str, fail: Fail) -> tuple[dict[str, Any], str, str]:
    """The entry's request object, method and URL, each checked."""
    if not isinstance(entry, dict):
        fail(where, "must be an object")
    request = entry.get("request")
    if not isinstance(request, dict):
        fail(f"{where}.request", "missing or not an object")
    method = request.get("method")
    if not isinstance(method, str) or not method:
        fail(f"{where}.request.method", "must be a non-empty string")
    url = request.get("url")
    if not isinstance(url, str) or not url:
        fail(f"{where}.request.url", "must be a non-empty string")
    return request, method, url


def _body(
    request: dict[str, Any], method: str, where: str, fail: Fail, notes: list[str]
) -> bytes | None:
    """The request's exact body bytes, or None (with a note) when the capture lacks them."""
    post = request.get("postData")
    if post is None:
        notes.append(f"skipped: {method} request has no body")
        return None
    if not isinstance(post, dict):
        fail(f"{where}.request.postData", "must be an object")
    text = post.get("text")
    if text is None or text == "":
        reason = "form params without the raw text" if post.get("params") else "empty body"
        notes.append(f"skipped: {reason}; the exact bytes are unknown")
        return None
    if not isinstance(text, str):
        fail(f"{where}.request.postData.text", "must be a string")
    encoding = post.get("encoding")
    if encoding in (None, ""):
        return text.encode("utf-8")
    if isinstance(encoding, str) and encoding.lower() == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            fail(f"{where}.request.postData.text", "encoding is base64 but the text is not")
    fail(
        f"{where}.request.postData.encoding",
        f"unsupported encoding {json.dumps(encoding)} (only base64 or none)",
    )


def _record(
    entry: Any, where: str, fixture_id: str, fail: Fail, notes: list[str]
) -> CapturedRequest | None:
    """One HAR entry as a fixture, or None (with a note) when it has no usable body."""
    request, method, url = _request_line(entry, where, fail)
    body = _body(request, method, where, fail, notes)
    if body is None:
        return None
    started = entry.get("startedDateTime")
    if not isinstance(started, str):
        fail(f"{where}.startedDateTime", "must be an ISO 8601 string")
    try:
        captured_at = parse_rfc3339(started)
    except ValueError as exc:
        fail(f"{where}.startedDateTime", str(exc))

    headers, dropped = _headers(request.get("headers"), f"{where}.request.headers", fail)
    if dropped:
        notes.append(f"dropped credential headers: {', '.join(sorted(dropped))}")
    parts = urlsplit(url)
    req_path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not req_path.startswith("/"):
        fail(f"{where}.request.url", f"not an absolute URL or path: {json.dumps(url)}")

    signing = guess_signing(headers)
    try:
        keys = business_keys(body, headers, signing)
    except _KeyError as exc:
        fail(f"{where}.request.postData.text", f"{exc.where}: {exc.problem}")
    notes.extend(keys.notes)
    event_id = keys.event_id
    if not event_id:
        event_id = fixture_id
        notes.append(
            "no event id in headers or body; "
            f"using the fixture id {fixture_id!r}, so this capture dedupes with nothing"
        )
    try:
        return CapturedRequest(
            id=fixture_id,
            captured_at=captured_at,
            method=method,
            path=req_path,
            headers=headers,
            body=body,
            signing=signing,
            event_id=event_id,
            event_type=keys.event_type,
            entity_id=keys.entity_id,
            entity_version=keys.entity_version,
        )
    except FixtureError as exc:
        fail(where, f"{exc.field}: {exc.problem}")
