"""Captured webhook requests: the JSONL fixture format (see docs/fixtures.md).

One line is one HTTP request as it arrived, with its body's exact bytes.
Signatures cover those bytes, so the body is never parsed and re-serialised
here: it is stored as a JSON string when it is valid UTF-8, else as base64.

Every problem is reported as one line, ``file:line: field: problem``, so a
person can jump straight to it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
import types
from collections.abc import Iterable, Mapping
from dataclasses import InitVar, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.partner import boundedjson
from harness.schemes import NAMES

# A scheme's name from the registry (harness.schemes), or "none".
Signing = str
SIGNING_SCHEMES: tuple[Signing, ...] = NAMES
# Framing headers the HTTP client must compute for the bytes it sends: a
# capture's are evidence of the capture, never replayed.
HOP_BY_HOP = frozenset(
    (
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "upgrade",
        "proxy-connection",
        "trailer",
    )
)

REQUIRED_FIELDS = (
    "id",
    "captured_at",
    "method",
    "path",
    "headers",
    "signing",
    "event_id",
    "event_type",
    "entity_id",
    "entity_version",
)
OPTIONAL_FIELDS = ("body", "body_b64", "note")
KNOWN_FIELDS = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)

# RFC 3339 date-time; a timezone is required so captures from different
# machines order correctly.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
# RFC 9110 token: method and header names.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# JSON can spell half a UTF-16 pair ("\ud800"); Python keeps it as a lone
# surrogate that no UTF-8 encoder accepts, so it must be caught on load.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class FixtureError(ValueError):
    """A fixture file or record is invalid; the message is one line."""

    def __init__(self, path: str, line: int | None, field_name: str, problem: str) -> None:
        self.path = path
        self.line = line
        self.field = field_name
        self.problem = problem
        super().__init__(_format(path, line, field_name, problem))


def _format(path: str, line: int | None, field_name: str, problem: str) -> str:
    where = f"{path}:{line}" if line is not None else path
    text = f"{where}: {field_name}: {problem}" if field_name else f"{where}: {problem}"
    return escape_surrogates(text)


def escape_surrogates(text: str) -> str:
    """``text`` with lone surrogates spelt as ``\\uXXXX``, so it can be printed."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _show(value: Any, limit: int = 40) -> str:
    """A short one-line rendering of a bad value for an error message."""
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, list):
        text = "an array"
    elif isinstance(value, dict):
        text = "an object"
    else:
        text = type(value).__name__
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def lone_surrogate(text: str) -> str | None:
    """A problem sentence if ``text`` holds a lone surrogate escape, else None."""
    # Strict UTF-8 refuses exactly the surrogates, and in C: a regex search
    # costs ~6 ns a character, a 300 kB body every time a record is checked.
    if text.isascii():  # a flag Python keeps on every str: no scan
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        at = exc.start
    else:
        return None
    return (
        f"holds a lone surrogate \\u{ord(text[at]):04x} (character {at}), which is not Unicode text"
    )


def _too_deep(body: str) -> str | None:
    """A problem sentence for a JSON body nested past the limit, else None.

    The body itself is sent as captured, but selectors and salting read it
    as JSON: refused here, `fixtures check` and the drill agree.
    """
    if body.lstrip()[:1] not in ("[", "{") or boundedjson.depth_exceeded_at(body) is None:
        return None
    return f"JSON nested deeper than {boundedjson.MAX_DEPTH} levels"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (timezone required); ValueError otherwise."""
    if not _RFC3339.match(text):
        raise ValueError("must be an RFC 3339 timestamp with a timezone, e.g. 2026-11-02T09:00:00Z")
    normalised = text.upper().replace(" ", "T")
    # fromisoformat takes at most 6 fractional digits; captures may carry 9.
    normalised = re.sub(r"\.(\d{6})\d+", r".\1", normalised)
    try:
        return datetime.fromisoformat(normalised)
    except ValueError as exc:
        raise ValueError(f"not a valid date-time ({exc})") from None


def format_rfc3339(moment: datetime) -> str:
    """RFC 3339 text for an aware datetime; UTC is written with a ``Z``."""
    if moment.utcoffset() is None:
        raise ValueError("captured_at must carry a timezone")
    # Microseconds are kept whole so a load/dump round trip loses nothing.
    spec = (
        "seconds"
        if moment.microsecond == 0
        else ("milliseconds" if moment.microsecond % 1000 == 0 else "microseconds")
    )
    if moment.utcoffset() == timedelta(0):
        return moment.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")
    return moment.isoformat(timespec=spec)


@dataclass(frozen=True)
class CapturedRequest:
    """One captured HTTP request plus the business keys of the event it carries.

    ``headers`` are the captured ones (read-only); signature headers in them
    are evidence of the capture and are replaced when the request is replayed
    (see ``harness.replay.signing.replay_headers``).
    """

    id: str
    captured_at: datetime
    method: str
    path: str
    headers: Mapping[str, str] = field(hash=False)
    body: bytes
    signing: Signing
    event_id: str
    event_type: str
    entity_id: str
    entity_version: int
    note: str = ""
    # True from a fixture reader that has just checked the line this record is made
    # of (`_build`): checking again would only repeat it (half of loading a file).
    checked: InitVar[bool] = False

    def __post_init__(self, checked: bool) -> None:
        problems = [] if checked else _record_problems(_to_json_obj(self))
        if problems:
            name, problem = problems[0]
            raise FixtureError(f"record {self.id!r}", None, name, problem)
        if isinstance(self.captured_at, str):
            object.__setattr__(self, "captured_at", parse_rfc3339(self.captured_at))
        # A read-only copy so a shared record cannot be changed under a sender.
        object.__setattr__(self, "headers", types.MappingProxyType(dict(self.headers)))

    def header(self, name: str) -> str | None:
        """Case-insensitive lookup of a captured header."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    def __repr__(self) -> str:
        # Bodies can be hundreds of kilobytes; logs need the identity, not the bytes.
        return (
            f"CapturedRequest(id={self.id!r}, {self.method} {self.path}, "
            f"signing={self.signing!r}, event_id={self.event_id!r}, "
            f"event_type={self.event_type!r}, entity_id={self.entity_id!r}, "
            f"entity_version={self.entity_version}, body=<{len(self.body)} bytes>)"
        )


def _to_json_obj(rec: CapturedRequest) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": rec.id,
        "captured_at": (
            format_rfc3339(rec.captured_at)
            if isinstance(rec.captured_at, datetime) and rec.captured_at.utcoffset() is not None
            else rec.captured_at
        ),
        "method": rec.method,
        "path": rec.path,
        "headers": dict(rec.headers) if isinstance(rec.headers, Mapping) else rec.headers,
    }
    body = rec.body
    if isinstance(body, bytes | bytearray):
        try:
            obj["body"] = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            obj["body_b64"] = base64.b64encode(body).decode("ascii")
    else:
        obj["body"] = body
    obj.update(
        signing=rec.signing,
        event_id=rec.event_id,
        event_type=rec.event_type,
        entity_id=rec.entity_id,
        entity_version=rec.entity_version,
    )
    if rec.note:
        obj["note"] = rec.note
    return obj


Problems = list[tuple[str, str]]


def _record_problems(obj: Mapping[str, Any]) -> Problems:
    """Every (field, problem) of one decoded line, in field order."""
    problems: Problems = []

    def need_str(name: str, *, non_empty: bool) -> str | None:
        return _need_str(obj, problems, name, non_empty=non_empty)

    need_str("id", non_empty=True)
    _captured_at_problems(obj, problems)
    method = need_str("method", non_empty=True)
    if method is not None and not _TOKEN.match(method):
        problems.append(("method", f"not an HTTP method token: {_show(method)}"))

    path = need_str("path", non_empty=True)
    if path is not None and (not path.startswith("/") or any(c in path for c in " \r\n\t")):
        problems.append(("path", f"must start with / and hold no whitespace, got {_show(path)}"))

    _header_problems(obj, problems)
    _body_problems(obj, problems)
    signing = obj.get("signing")
    if "signing" not in obj:
        problems.append(("signing", "missing"))
    elif signing not in SIGNING_SCHEMES:
        problems.append(
            (
                "signing",
                f"unknown scheme {_show(signing)}; expected one of {', '.join(SIGNING_SCHEMES)}",
            )
        )

    need_str("event_id", non_empty=True)
    need_str("event_type", non_empty=False)
    need_str("entity_id", non_empty=False)
    _version_note_and_unknown_problems(obj, problems)
    return problems


def _need_str(
    obj: Mapping[str, Any], problems: Problems, name: str, *, non_empty: bool
) -> str | None:
    """The field as a string, or None with its problem added."""
    if name not in obj:
        problems.append((name, "missing"))
        return None
    value = obj[name]
    if not isinstance(value, str):
        problems.append((name, f"must be a string, got {_json_type(value)} {_show(value)}"))
        return None
    if non_empty and not value.strip():
        problems.append((name, "must not be empty"))
        return None
    if (surrogate := lone_surrogate(value)) is not None:
        problems.append((name, surrogate))
        return None
    return value


def _captured_at_problems(obj: Mapping[str, Any], problems: Problems) -> None:
    """captured_at: an RFC 3339 time with a timezone."""
    captured = obj.get("captured_at")
    if "captured_at" not in obj:
        problems.append(("captured_at", "missing"))
    elif isinstance(captured, datetime):
        if captured.utcoffset() is None:
            problems.append(("captured_at", "must carry a timezone"))
    elif not isinstance(captured, str):
        problems.append(
            ("captured_at", f"must be a string, got {_json_type(captured)} {_show(captured)}")
        )
    else:
        try:
            parse_rfc3339(captured)
        except ValueError as exc:
            problems.append(("captured_at", f"{exc}, got {_show(captured)}"))


def _header_problems(obj: Mapping[str, Any], problems: Problems) -> None:
    """headers: an object of valid names and one-line string values, no name twice."""
    if "headers" not in obj:
        problems.append(("headers", "missing"))
    elif not isinstance(obj["headers"], Mapping):
        headers_value = obj["headers"]
        problems.append(
            (
                "headers",
                f"must be an object, got {_json_type(headers_value)} {_show(headers_value)}",
            )
        )
    else:
        seen: dict[str, str] = {}
        for key, value in obj["headers"].items():
            if not isinstance(key, str) or not _TOKEN.match(key):
                problems.append(("headers", f"not a valid header name: {_show(key)}"))
                continue
            if not isinstance(value, str):
                problems.append(
                    (f"headers.{key}", f"must be a string, got {_json_type(value)} {_show(value)}")
                )
                continue
            if "\r" in value or "\n" in value:
                problems.append((f"headers.{key}", "must not contain CR or LF"))
            if (surrogate := lone_surrogate(value)) is not None:
                problems.append((f"headers.{key}", surrogate))
            folded = key.lower()
            if folded in seen:
                problems.append(
                    (
                        "headers",
                        f"{_show(key)} repeats {_show(seen[folded])} "
                        "(header names are case-insensitive; join the values with ', ')",
                    )
                )
            seen[folded] = key


def _body_problems(obj: Mapping[str, Any], problems: Problems) -> None:
    """body or body_b64, exactly one, decodable and not nested too deep."""
    has_body, has_b64 = "body" in obj, "body_b64" in obj
    if has_body and has_b64:
        problems.append(("body", "give either body or body_b64, not both"))
    elif not has_body and not has_b64:
        problems.append(("body", "missing (give body for UTF-8 bytes or body_b64 for others)"))
    elif has_body:
        body = obj["body"]
        if not isinstance(body, str | bytes | bytearray):
            problems.append(("body", f"must be a string, got {_json_type(body)} {_show(body)}"))
        elif isinstance(body, str) and (surrogate := lone_surrogate(body)) is not None:
            problems.append(("body", f"{surrogate}; give bytes that are not UTF-8 as body_b64"))
        elif isinstance(body, str) and (deep := _too_deep(body)) is not None:
            problems.append(("body", deep))
    else:
        b64 = obj["body_b64"]
        if not isinstance(b64, str):
            problems.append(("body_b64", f"must be a string, got {_json_type(b64)} {_show(b64)}"))
        else:
            try:
                decoded = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                problems.append(("body_b64", "not valid base64"))
            else:
                deep = _too_deep(decoded.decode("utf-8", errors="replace"))
                if deep is not None:
                    problems.append(("body_b64", deep))


def _version_note_and_unknown_problems(obj: Mapping[str, Any], problems: Problems) -> None:
    """entity_version, note, and any field the format does not know."""
    version = obj.get("entity_version")
    if "entity_version" not in obj:
        problems.append(("entity_version", "missing"))
    elif isinstance(version, bool) or not isinstance(version, int):
        problems.append(
            ("entity_version", f"must be an integer, got {_json_type(version)} {_show(version)}")
        )
    elif version < 0:
        problems.append(("entity_version", f"must be 0 or more, got {version}"))

    if "note" in obj and not isinstance(obj["note"], str):
        note = obj["note"]
        problems.append(("note", f"must be a string, got {_json_type(note)} {_show(note)}"))
    elif isinstance(obj.get("note"), str) and (surrogate := lone_surrogate(obj["note"])):
        problems.append(("note", surrogate))

    for key in obj:
        if key not in KNOWN_FIELDS:
            problems.append((str(key), "unknown field"))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _build(obj: Mapping[str, Any]) -> CapturedRequest:
    if "body_b64" in obj:
        body = base64.b64decode(obj["body_b64"], validate=True)
    else:
        body = obj["body"].encode("utf-8")
    return CapturedRequest(
        id=obj["id"],
        captured_at=parse_rfc3339(obj["captured_at"]),
        method=obj["method"],
        path=obj["path"],
        headers=dict(obj["headers"]),
        body=body,
        signing=obj["signing"],
        event_id=obj["event_id"],
        event_type=obj["event_type"],
        entity_id=obj["entity_id"],
        entity_version=obj["entity_version"],
        note=obj.get("note", ""),
        checked=True,  # every caller builds from a line `_record_problems` passed
    )


def _scan(path: str | os.PathLike[str]) -> tuple[list[CapturedRequest], list[FixtureError]]:
    """Parse a whole file; return the good records and every problem found."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return [], [FixtureError(name, None, "", f"cannot read file: {exc.strerror or exc}")]

    records: list[CapturedRequest] = []
    errors: list[FixtureError] = []
    first_line_of: dict[str, int] = {}
    lines = raw.split(b"\n")
    if lines and lines[0].startswith(b"\xef\xbb\xbf"):
        lines[0] = lines[0][3:]
    for number, line_bytes in enumerate(lines, start=1):
        if not line_bytes.strip():
            continue
        try:
            text = line_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(
                FixtureError(name, number, "json", f"not valid UTF-8 at byte {exc.start}")
            )
            continue
        try:
            obj = boundedjson.loads(text, object_pairs_hook=_no_duplicate_keys)
        except _DuplicateKey as exc:
            errors.append(FixtureError(name, number, "json", f"duplicate key {_show(exc.key)}"))
            continue
        except boundedjson.JsonTooDeep as exc:
            errors.append(FixtureError(name, number, "json", exc.msg))
            continue
        except json.JSONDecodeError as exc:
            errors.append(
                FixtureError(
                    name, number, "json", f"not valid JSON: {exc.msg} (column {exc.colno})"
                )
            )
            continue
        if not isinstance(obj, dict):
            errors.append(
                FixtureError(name, number, "json", f"expected an object, got {_json_type(obj)}")
            )
            continue
        problems = _record_problems(obj)
        fixture_id = obj.get("id")
        if isinstance(fixture_id, str) and fixture_id.strip():
            if fixture_id in first_line_of:
                problems.insert(
                    0,
                    (
                        "id",
                        f"duplicate id {_show(fixture_id)} "
                        f"(first on line {first_line_of[fixture_id]})",
                    ),
                )
            else:
                first_line_of[fixture_id] = number
        if problems:
            errors.extend(FixtureError(name, number, f, p) for f, p in problems)
            continue
        records.append(_build(obj))
    if not records and not errors:
        # A drill on no events would "fail" its SLO; an empty capture is bad input instead.
        errors.append(FixtureError(name, None, "", "no requests"))
    return records, errors


def load_fixtures(path: str | os.PathLike[str]) -> list[CapturedRequest]:
    """Load a JSONL fixture file; raise FixtureError for its first bad line."""
    records, errors = _scan(path)
    if errors:
        raise errors[0]
    return records


def check_fixtures(path: str | os.PathLike[str]) -> list[str]:
    """Every problem in a fixture file, one ``file:line: field: problem`` string each."""
    _, errors = _scan(path)
    return [str(e) for e in errors]


def fixture_line(rec: CapturedRequest) -> str:
    """One JSONL line (without the newline) for a record."""
    # ensure_ascii=False keeps names readable; JSON still escapes control
    # characters, so a body's newlines never split the line.
    return json.dumps(_to_json_obj(rec), ensure_ascii=False)


def dumps_fixtures(records: Iterable[CapturedRequest]) -> str:
    """The JSONL text for records; FixtureError if ids repeat."""
    seen: dict[str, int] = {}
    lines = []
    for number, rec in enumerate(records, start=1):
        if rec.id in seen:
            raise FixtureError(
                "<records>", number, "id", f"duplicate id {_show(rec.id)} (first at {seen[rec.id]})"
            )
        seen[rec.id] = number
        lines.append(fixture_line(rec) + "\n")
    return "".join(lines)


def dump_fixtures(records: Iterable[CapturedRequest], path: str | os.PathLike[str]) -> None:
    """Write records as a JSONL fixture file (atomically: a reader never sees half a file)."""
    text = dumps_fixtures(records)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
