"""Request bodies checked against their JSON Schema, with jsonschema, in one-line reasons.

An imported OpenAPI operation keeps its request body's schema whole (`allOf`,
nested objects, enums, formats, lengths), bundled with every component it
refers to, so the simulator judges a body the way the document does and
nothing is lost in a translation to simpler checks. OpenAPI 3.0 is a dialect
of draft 4 with a few differences (`nullable`, `readOnly` properties that a
request need not send); `openapi_request_schema` turns it into plain JSON
Schema. Formats are checked (date-time, date, email, uuid, int32, int64 ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any

from jsonschema import FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

DRAFT4 = "http://json-schema.org/draft-04/schema#"  # OpenAPI 3.0's schema object
DRAFT2020 = "https://json-schema.org/draft/2020-12/schema"  # OpenAPI 3.1's
_MAX_SHOWN = 120  # characters of a value quoted in a reason (bodies are hostile data)

Resolve = Callable[[str], Any]  # a local `$ref` → the node it points at


# -------------------------------------------------------------- OpenAPI → JSON Schema


def _convert(node: Any, oas30: bool, resolve: Resolve) -> Any:
    """One schema object with OpenAPI 3.0's differences from JSON Schema removed."""
    if not isinstance(node, dict):
        return node
    out = dict(node)
    for key in ("properties", "patternProperties"):
        if isinstance(out.get(key), dict):
            out[key] = {k: _convert(v, oas30, resolve) for k, v in out[key].items()}
    for key in ("items", "not", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _convert(out[key], oas30, resolve)
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        if isinstance(out.get(key), list):
            out[key] = [_convert(v, oas30, resolve) for v in out[key]]
    if oas30 and out.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
        # A readOnly property is the partner's to set: a request never has to send it.
        props = out["properties"]
        out["required"] = [n for n in out["required"] if not _read_only(props.get(n), resolve)]
    return out


def _read_only(prop: Any, resolve: Resolve) -> bool:
    if isinstance(prop, dict) and isinstance(prop.get("$ref"), str):
        prop = resolve(prop["$ref"])
    return isinstance(prop, dict) and prop.get("readOnly") is True


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _place(root: dict[str, Any], ref: str, value: Any) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in ref[2:].split("/")]
    node = root
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def openapi_request_schema(schema: Any, *, oas30: bool, resolve: Resolve) -> dict[str, Any]:
    """A self-contained JSON Schema: the body's schema plus every `#/...` it refers to.

    The referred nodes keep their place in the document (`#/components/schemas/X`),
    so `$ref`s need no rewriting; `resolve` raises for a `$ref` that points nowhere
    or outside the document, so validation never has to fetch anything.
    """
    root: dict[str, Any] = {
        "$schema": DRAFT4 if oas30 else DRAFT2020,
        "allOf": [_convert(schema, oas30, resolve)],
    }
    placed: set[str] = set()
    pending = list(_refs(root))
    while pending:
        ref = pending.pop()
        if ref in placed:
            continue
        placed.add(ref)
        target = _convert(resolve(ref), oas30, resolve)  # raises for any ref but `#/...`
        _place(root, ref, target)
        pending.extend(_refs(target))
    return root


# -------------------------------------------------------------- checking a body

_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)\Z", re.ASCII)
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    # jsonschema checks date-time only with an optional package; RFC 3339 is short enough.
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00").replace(" ", "T"))
    return True


def _int_range(bits: int) -> Callable[[object], bool]:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def check(value: object) -> bool:
        return not isinstance(value, int) or isinstance(value, bool) or low <= value <= high

    return check


FORMATS.checks("int32")(_int_range(32))
FORMATS.checks("int64")(_int_range(64))


@lru_cache(maxsize=256)
def _validator(text: str) -> Validator:
    schema = json.loads(text)
    cls = validator_for(schema, default=validator_for({"$schema": DRAFT2020}))
    cls.check_schema(schema)
    return cls(schema, format_checker=FORMATS)


def check_schema(schema: dict[str, Any]) -> None:
    """Raise ValueError (one line) when `schema` is not a valid JSON Schema."""
    try:
        _validator(json.dumps(schema, sort_keys=True))
    except SchemaError as exc:
        raise ValueError(f"body_schema: not a valid JSON Schema: {exc.message}") from None


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _where(error: ValidationError) -> str:
    out = "body"
    for part in error.absolute_path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f'."{part}"' if any(c in part for c in '.[]" ') else f".{part}"
    return out


def reason(error: ValidationError) -> str:
    """One line naming the field and what the schema asks of it."""
    where, rule, value = _where(error), error.validator, error.validator_value
    if rule == "required" and isinstance(error.instance, dict) and isinstance(value, list):
        missing = next((n for n in value if n not in error.instance), "?")
        return f"{where}.{missing}: required"
    if rule == "type":
        kinds = value if isinstance(value, list) else [value]
        return f"{where}: must be {' or '.join(str(k) for k in kinds)}"
    if rule == "enum" and isinstance(value, list):
        return f"{where}: must be one of {_shown(value)}, got {_shown(error.instance)}"
    if rule == "format":
        return f"{where}: must be a valid {value}, got {_shown(error.instance)}"
    if rule == "maxLength":
        return f"{where}: at most {value} characters"
    if rule == "additionalProperties" and value is False:
        return f"{where}: {error.message.splitlines()[0][:_MAX_SHOWN]}"
    return f"{where}: {rule} {_shown(value)} not met by {_shown(error.instance)}"


_COMPILED: dict[int, tuple[dict[str, Any], Validator]] = {}


def _compiled(schema: dict[str, Any]) -> Validator:
    # Routes are frozen, so their schema dict lives as long as the route: key by identity.
    hit = _COMPILED.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    if len(_COMPILED) > 1024:
        _COMPILED.clear()
    validator = _validator(json.dumps(schema, sort_keys=True))
    _COMPILED[id(schema)] = (schema, validator)
    return validator


def body_problem(schema: dict[str, Any], body: Any) -> str | None:
    """Why `body` does not meet `schema`, on one line, or None when it does."""
    validator = _compiled(schema)
    try:
        error = best_match(validator.iter_errors(body))
    except RecursionError:
        return "body: nested too deeply to check"
    return None if error is None else reason(error)
