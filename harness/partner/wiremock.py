"""Import WireMock stub mappings as routes.

Supported: `request.method`, one URL matcher (`url`, `urlPath`, `urlPattern`,
`urlPathPattern`, `urlPathTemplate`), `queryParameters`/`headers`/
`pathParameters` with `equalTo`, `contains`, `matches`, `absent`;
`bodyPatterns` with `equalToJson` and plain `matchesJsonPath` (`$.a.b[0]`);
`response.status`, `headers`, `body`, `jsonBody`, `base64Body`,
`bodyFileName` (a regular file under `__files/` beside `mappings/`, nothing
outside it), `fixedDelayMilliseconds`,
`fault`; `priority` ranks the stubs. Anything else is refused with one line
naming the file and key, rather than imported half-understood.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from . import boundedjson
from .confined import FileRefused, read_text
from .spec import PartnerSpecError, RouteSpec, describe

_STUB_KEYS = {"request", "response", "id", "uuid", "name", "priority", "metadata", "persistent",
              "insertionIndex"}  # fmt: skip
_REQUEST_KEYS = {"method", "url", "urlPath", "urlPattern", "urlPathPattern", "urlPathTemplate",
                 "queryParameters", "headers", "pathParameters", "bodyPatterns"}  # fmt: skip
_RESPONSE_KEYS = {"status", "statusMessage", "headers", "body", "jsonBody", "base64Body",
                  "bodyFileName", "fixedDelayMilliseconds", "fault"}  # fmt: skip
_URL_KEYS = ("url", "urlPath", "urlPattern", "urlPathPattern", "urlPathTemplate")
_JSON_PATH = re.compile(r"\$((?:\.[A-Za-z_][\w-]*|\[\d+\])+)")
_DEFAULT_PRIORITY = 5  # WireMock's own default; lower wins


class _Bad(Exception):
    """A problem at a key inside one stub; the loader adds the file name."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message

    def at(self, prefix: str) -> str:
        key = ".".join(part for part in (prefix, self.key) if part)
        return f"{key}: {self.message}" if key else self.message


def _object(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(key, f"must be an object, got {type(value).__name__}")
    return value


def _known(key: str, value: dict[str, Any], allowed: set[str]) -> None:
    for name in value:
        if name not in allowed:
            raise _Bad(f"{key}.{name}" if key else name, "not supported")


def _matcher(key: str, spec: Any) -> Any:
    """A WireMock value matcher as a `when` condition."""
    spec = _object(key, spec)
    if spec.get("absent") is True and len(spec) == 1:
        return {"absent": True}
    if "equalTo" in spec and set(spec) <= {"equalTo", "caseInsensitive"}:
        if spec.get("caseInsensitive"):
            return {"matches": f"(?i){re.escape(str(spec['equalTo']))}"}
        return {"equal": spec["equalTo"]}
    if set(spec) == {"contains"}:
        return {"contains": spec["contains"]}
    if set(spec) == {"matches"}:
        return {"matches": spec["matches"]}
    raise _Bad(key, f"matcher {', '.join(sorted(spec))} not supported")


def _json_path(key: str, expression: Any) -> str:
    found = _JSON_PATH.fullmatch(expression) if isinstance(expression, str) else None
    if found is None:
        raise _Bad(key, f"only plain JSON paths like $.a.b[0] are supported, got {expression!r}")
    return "body" + found.group(1)


def _body_patterns(patterns: Any, when: dict[str, Any]) -> None:
    if not isinstance(patterns, list):
        raise _Bad("request.bodyPatterns", "must be a list")
    for i, pattern in enumerate(patterns):
        key = f"request.bodyPatterns[{i}]"
        pattern = _object(key, pattern)
        if set(pattern) == {"equalToJson"}:
            value = pattern["equalToJson"]
            if isinstance(value, str):
                try:
                    value = boundedjson.loads(value)
                except json.JSONDecodeError as exc:
                    raise _Bad(f"{key}.equalToJson", f"not valid JSON: {exc.msg}") from None
            when["body"] = {"equal": value}
        elif set(pattern) == {"matchesJsonPath"}:
            when[_json_path(f"{key}.matchesJsonPath", pattern["matchesJsonPath"])] = {
                "present": True
            }
        else:
            raise _Bad(key, f"{', '.join(sorted(pattern))} not supported")


def _url(request: dict[str, Any], when: dict[str, Any]) -> dict[str, str]:
    given = [k for k in _URL_KEYS if k in request]
    if len(given) > 1:
        raise _Bad("request", f"give one URL matcher, got {', '.join(given)}")
    if not given:
        return {"path_regex": ".*"}  # WireMock: no URL matcher matches any URL
    kind, value = given[0], request[given[0]]
    if not isinstance(value, str):
        raise _Bad(f"request.{kind}", "must be a string")
    if kind == "urlPathTemplate":
        return {"path": value}
    if kind == "urlPathPattern":
        return {"path_regex": value}
    if kind == "urlPattern":
        return {"url_regex": value}
    path, _, query = value.partition("?")
    if kind == "url" and query:
        for pair in query.split("&"):
            name, _, text = pair.partition("=")
            when[f"query.{name}"] = {"equal": text}
    # An exact path holding braces would read as a template: match it literally.
    return {"path_regex": re.escape(path)} if "{" in path else {"path": path}


def _request(raw: Any) -> dict[str, Any]:
    request = _object("request", raw)
    _known("request", request, _REQUEST_KEYS)
    if "method" not in request:
        raise _Bad("request.method", "required")
    when: dict[str, Any] = {}
    fields: dict[str, Any] = {"method": request["method"], **_url(request, when)}
    for section, prefix in (("queryParameters", "query"), ("headers", "header"),
                            ("pathParameters", "path")):  # fmt: skip
        for name, spec in _object(f"request.{section}", request.get(section, {})).items():
            when[f"{prefix}.{name}"] = _matcher(f"request.{section}.{name}", spec)
    if "bodyPatterns" in request:
        _body_patterns(request["bodyPatterns"], when)
    if when:
        fields["when"] = when
    return fields


def _response_body(response: dict[str, Any], files: Path) -> dict[str, Any]:
    bodies = [k for k in ("body", "jsonBody", "base64Body", "bodyFileName") if k in response]
    if len(bodies) > 1:
        raise _Bad("response", f"give one body, got {', '.join(bodies)}")
    if not bodies:
        return {}
    kind, value = bodies[0], response[bodies[0]]
    if kind == "jsonBody":
        return {"body": value}
    if not isinstance(value, str):
        raise _Bad(f"response.{kind}", "must be a string")
    if kind == "body":
        return {"body_text": value}
    if kind == "base64Body":
        try:
            return {"body_text": base64.b64decode(value, validate=True).decode()}
        except (binascii.Error, UnicodeDecodeError):
            raise _Bad("response.base64Body", "not base64 of UTF-8 text") from None
    # The body is served, journaled and copied into the run's folder: only a
    # file under __files/ may become one, never /proc/self/environ or ../../.
    try:
        return {"body_text": read_text(files / value, root=files)}
    except FileRefused as exc:
        raise _Bad("response.bodyFileName", f"{value}: {exc}") from None
    except UnicodeDecodeError:
        raise _Bad("response.bodyFileName", f"{value}: not UTF-8 text") from None
    except OSError as exc:
        raise _Bad("response.bodyFileName", f"cannot read {value}: {exc.strerror}") from None


def _response(raw: Any, files: Path) -> dict[str, Any]:
    response = _object("response", raw)
    _known("response", response, _RESPONSE_KEYS)
    fields: dict[str, Any] = {"status": response.get("status", 200), "template": False}
    headers = _object("response.headers", response.get("headers", {}))
    fields["headers"] = {
        k: ", ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in headers.items()
    }
    if "fixedDelayMilliseconds" in response:
        fields["delay_ms"] = response["fixedDelayMilliseconds"]
    if "fault" in response:
        fields["fault"] = response["fault"]
    return {**fields, **_response_body(response, files)}


def stub_route(stub: Any, files: Path) -> tuple[int, RouteSpec]:
    """One stub mapping → (priority, route); raises _Bad naming the key."""
    stub = _object("", stub)
    _known("", stub, _STUB_KEYS)
    if "request" not in stub:
        raise _Bad("request", "required")
    name = stub.get("name") or stub.get("id") or ""
    aliases = [stub["id"]] if stub.get("name") and stub.get("id") else []
    fields = {**_request(stub["request"]), **_response(stub.get("response", {}), files)}
    try:
        route = RouteSpec.model_validate({**fields, "name": name, "aliases": aliases})
    except ValidationError as exc:
        key, _, message = describe(exc).partition(": ")
        raise _Bad(_WIREMOCK_KEY.get(key, key), message or key) from None
    priority = stub.get("priority", _DEFAULT_PRIORITY)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise _Bad("priority", "must be an integer")
    return priority, route


# Our route fields back to the WireMock keys a user wrote, for error messages.
_WIREMOCK_KEY = {"method": "request.method", "status": "response.status",
                 "delay_ms": "response.fixedDelayMilliseconds", "fault": "response.fault",
                 "path_regex": "request.urlPathPattern", "url_regex": "request.urlPattern",
                 "path": "request.urlPathTemplate"}  # fmt: skip


def _stubs(path: Path, decoded: Any) -> list[tuple[str, Any]]:
    if isinstance(decoded, dict) and "mappings" in decoded:
        if not isinstance(decoded["mappings"], list):
            raise PartnerSpecError(f"{path}: mappings: must be a list")
        return [(f"mappings[{i}]", s) for i, s in enumerate(decoded["mappings"])]
    return [("", decoded)]


def load(location: Path) -> list[RouteSpec]:
    """Routes from a mappings folder (or a WireMock root holding `mappings/`), or one file."""
    if location.is_dir() and (location / "mappings").is_dir():
        location = location / "mappings"
    if location.is_dir():
        files, folder = sorted(location.rglob("*.json")), location
    elif location.is_file():
        files, folder = [location], location.parent
    else:
        raise PartnerSpecError(f"{location}: no such WireMock mappings file or folder")
    bodies = folder.parent / "__files" if folder.name == "mappings" else folder / "__files"
    ranked: list[tuple[int, int, RouteSpec]] = []
    for path in files:
        try:
            decoded = boundedjson.loads(read_text(path, root=folder))
        except FileRefused as exc:
            raise PartnerSpecError(f"{path}: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PartnerSpecError(f"{path}: cannot read: {exc}") from None
        except boundedjson.JsonTooDeep as exc:
            raise PartnerSpecError(f"{path}:{exc.lineno}: {exc.msg}") from None
        except json.JSONDecodeError as exc:
            raise PartnerSpecError(
                f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}"
            ) from None
        for prefix, stub in _stubs(path, decoded):
            try:
                priority, route = stub_route(stub, bodies)
            except _Bad as exc:
                raise PartnerSpecError(f"{path}: {exc.at(prefix)}") from None
            ranked.append((priority, len(ranked), route))
    return [route for _, _, route in sorted(ranked, key=lambda r: r[:2])]
