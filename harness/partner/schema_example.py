"""A plausible example value generated from a JSON Schema (as OpenAPI 3 writes them).

The way mock servers do it: the schema's own example, default, enum or const
first; otherwise objects get every property, arrays one item, strings a
placeholder that fits their format, numbers their minimum or 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Resolve = Callable[[Any], Any]
_MAX_DEPTH = 8  # recursive schemas (a tree of comments) stop here

_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "byte": "ZXhhbXBsZQ==",
    "password": "********",
}


def _type(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):  # OpenAPI 3.1: ["string", "null"]
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "properties" in schema:
        return "object"
    if kind is None and "items" in schema:
        return "array"
    return kind if isinstance(kind, str) else None


def _declared(schema: dict[str, Any]) -> tuple[bool, Any]:
    for key in ("example", "default", "const"):
        if key in schema:
            return True, schema[key]
    for key in ("examples", "enum"):  # 3.1 `examples` is a list, like enum
        if isinstance(schema.get(key), list) and schema[key]:
            return True, schema[key][0]
    return False, None


def example(schema: Any, resolve: Resolve, depth: int = 0) -> Any:
    """A value `schema` allows, from its own example, default, const or enum when it has one.

    None when nothing can be built (or past a depth limit); `resolve` follows `$ref`.
    """
    schema = resolve(schema)
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    found, value = _declared(schema)
    if found:
        return value
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example(part, resolve, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return example(schema[key][0], resolve, depth + 1)
    kind = _type(schema)
    if kind == "object":
        props = schema.get("properties", {})
        return {name: example(sub, resolve, depth + 1) for name, sub in props.items()}
    if kind == "array":
        return [example(schema.get("items", {}), resolve, depth + 1)]
    if kind == "string":
        return _FORMATS.get(str(schema.get("format", "")), "string")
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return True
    return None
