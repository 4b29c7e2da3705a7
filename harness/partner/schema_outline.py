"""A JSON Schema as the lines a person checks: one per field, with what it must be.

    body.ticket.status    string, one of "new" "open" "closed", required

`allOf` parts are merged (that is what they mean for a body), `oneOf`/`anyOf`
are named as alternatives, and `$ref`s are followed within the schema. Only
for showing: bodies are judged by body_schema.py against the schema itself.
"""

from __future__ import annotations

import json
from typing import Any

_MAX_DEPTH = 8  # recursive schemas (a tree of comments) are shown this deep
_MAX_ENUM_SHOWN = 8
_LIMITS = (
    ("format", "format"), ("maxLength", "at most"), ("minLength", "at least"),
    ("minimum", "min"), ("maximum", "max"), ("pattern", "matching"),
)  # fmt: skip
MAX_ROWS = 300  # a wide recursive schema could otherwise list fields without end


def _follow(root: dict[str, Any], node: Any, seen: frozenset[str]) -> tuple[Any, frozenset[str]]:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if ref in seen or not ref.startswith("#/"):
            return {}, seen
        seen = seen | {ref}
        target: Any = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        node = target
    return node, seen


def _merged(root: dict[str, Any], node: Any, seen: frozenset[str]) -> dict[str, Any]:
    """The schema with its allOf parts laid together (properties and required united)."""
    node, seen = _follow(root, node, seen)
    if not isinstance(node, dict):
        return {}
    out = {k: v for k, v in node.items() if k != "allOf"}
    props = dict(out.get("properties") or {})
    required = list(out.get("required") or [])
    for part in node.get("allOf") or []:
        sub = _merged(root, part, seen)
        props.update(sub.get("properties") or {})
        required += [r for r in sub.get("required") or [] if r not in required]
        for key, value in sub.items():
            if key not in ("properties", "required"):
                out.setdefault(key, value)
    if props:
        out["properties"] = props
    if required:
        out["required"] = required
    return out


def _describe(schema: dict[str, Any], required: bool) -> str:
    parts = []
    kind = schema.get("type")
    if isinstance(kind, list):
        parts.append(" or ".join(str(k) for k in kind))
    elif kind:
        parts.append(str(kind))
    if isinstance(schema.get("enum"), list):
        values = [json.dumps(v) for v in schema["enum"][:_MAX_ENUM_SHOWN]]
        more = " ..." if len(schema["enum"]) > _MAX_ENUM_SHOWN else ""
        parts.append(f"one of {' '.join(values)}{more}")
    if "const" in schema:
        parts.append(f"= {json.dumps(schema['const'])}")
    for key, label in _LIMITS:
        if key in schema:
            parts.append(f"{label} {schema[key]}")
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list):
            parts.append(f"{key} {len(schema[key])} shapes")
    if schema.get("additionalProperties") is False:
        parts.append("no other fields")
    if required:
        parts.append("required")
    return ", ".join(parts) or "anything"


def outline(schema: dict[str, Any], where: str = "body") -> list[tuple[str, str]]:
    """`(field, what it must be)` for the schema and every field under it."""
    rows: list[tuple[str, str]] = []

    def walk(node: Any, at: str, required: bool, depth: int, seen: frozenset[str]) -> None:
        if len(rows) >= MAX_ROWS:
            return
        node, seen = _follow(schema, node, seen)
        merged = _merged(schema, node, seen)
        rows.append((at, _describe(merged, required)))
        if depth >= _MAX_DEPTH:
            return
        needed = set(merged.get("required") or [])
        for name, sub in (merged.get("properties") or {}).items():
            shown = f'"{name}"' if any(c in name for c in '.[]" ') else name
            walk(sub, f"{at}.{shown}", name in needed, depth + 1, seen)
        if isinstance(merged.get("items"), dict):
            walk(merged["items"], f"{at}[]", False, depth + 1, seen)

    walk(schema, where, False, 0, frozenset())
    if len(rows) >= MAX_ROWS:
        rows.append(("...", f"more fields than the {MAX_ROWS} shown"))
    return rows
