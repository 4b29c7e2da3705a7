"""A matched request against its route's `required`, `types`, key and version selectors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .selectors import MISSING, Selector, parse_selector
from .spec import RouteSpec, type_alternatives


@lru_cache(maxsize=1024)
def _selector(text: str) -> Selector:
    return parse_selector(text)


def _is(value: Any, kind: str) -> bool:
    # JSON has no separate bool-is-int: true is never an integer or a number.
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "boolean":
        return isinstance(value, bool)
    return value is None  # "null"


def _absent(value: Any) -> bool:
    return value is MISSING or value is None or value == ""


@dataclass(frozen=True)
class Checked:
    """The outcome of checking a request against its route:
    a problem (answer 400), or the key and version its effect is about."""

    problem: str | None = None  # one line: "<selector>: required", "<selector>: must be integer"
    key: str | None = None
    version: int | None = None


def _uses_body(spec: RouteSpec) -> bool:
    selectors = [*spec.required, *spec.types, spec.key, spec.version, spec.known_id]
    return spec.body_schema is not None or any(s.startswith("body") for s in selectors if s)


def check(spec: RouteSpec, sources: Mapping[str, Any], *, body_is_json: bool) -> Checked:
    """Check a request against its route's required fields,
    types and body schema; the first problem wins."""
    if not body_is_json and _uses_body(spec):
        return Checked("body: not valid JSON")
    for text in spec.required:
        if _absent(_selector(text).get(sources)):
            return Checked(f"{text}: required")
    for text, kinds in spec.types.items():
        value = _selector(text).get(sources)
        alternatives = type_alternatives(kinds)
        if value is not MISSING and not any(_is(value, k) for k in alternatives):
            return Checked(f"{text}: must be {' or '.join(alternatives)}")
    body = sources.get("body", MISSING)
    if spec.body_schema is not None and body is not MISSING:
        from .body_schema import body_problem  # jsonschema only where a schema is given

        problem = body_problem(spec.body_schema, body)
        if problem is not None:
            return Checked(problem)
    key: str | None = None
    if spec.key:
        raw = _selector(spec.key).get(sources)
        if _absent(raw):
            return Checked(f"{spec.key}: required")
        if not (_is(raw, "string") or _is(raw, "integer")):
            return Checked(f"{spec.key}: must be string or integer")
        key = str(raw)
    version: int | None = None
    if spec.version:
        raw = _selector(spec.version).get(sources)
        if raw is not MISSING and raw is not None:
            if not _is(raw, "integer"):
                return Checked(f"{spec.version}: must be integer", key=key)
            version = raw
    return Checked(key=key, version=version)
