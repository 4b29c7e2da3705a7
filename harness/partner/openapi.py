"""Import an OpenAPI 3 document (JSON or YAML) as routes, one per operation.

The answer is the lowest 2xx response (else `default`, as 200); its body is
the media type's `example`, else the first of `examples`, else generated from
the schema. Required query/header parameters and the request body's required
top-level properties become `required`; those properties' types become
`types`. Path templates are kept as written, so `{id}` is `path.id`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .documents import read_document
from .schema_example import example
from .spec import PartnerSpecError, RouteSpec, describe

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_SELECTOR_SPECIAL = frozenset('.[]" ')
_JSON_TYPES = {"string", "integer", "number", "object", "array", "boolean", "null"}


class _Document:
    def __init__(self, path: Path, doc: dict[str, Any]) -> None:
        self.path, self.doc = path, doc

    def fail(self, key: str, message: str) -> PartnerSpecError:
        return PartnerSpecError(f"{self.path}: {key}: {message}")

    def resolve(self, node: Any, key: str = "$ref") -> Any:
        """Follow `$ref`s (they may chain) inside this document."""
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen:
                raise self.fail(key, f"$ref cycle at {ref}")
            seen.add(ref)
            if not ref.startswith("#/"):
                raise self.fail(key, f"only local $refs are supported, got {ref}")
            node = self.doc
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(node, dict) or part not in node:
                    raise self.fail(key, f"$ref {ref} points nowhere")
                node = node[part]
        return node


def _selector_name(name: str) -> str | None:
    if '"' in name:
        return None  # cannot be written as a selector; leave it unchecked
    return f'"{name}"' if any(c in _SELECTOR_SPECIAL for c in name) else name


def _answer_status(responses: dict[str, Any]) -> str | None:
    ok = sorted(s for s in responses if s.isdigit() and s.startswith("2"))
    if ok:
        return ok[0]
    return "default" if "default" in responses else None


def _media(content: Any) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(content, dict) or not content:
        return None
    json_types = [t for t in content if "json" in t]
    chosen = json_types[0] if json_types else next(iter(content))
    media = content[chosen]
    return chosen, media if isinstance(media, dict) else {}


def _answer(doc: _Document, responses: Any, key: str) -> dict[str, Any]:
    if not isinstance(responses, dict) or not responses:
        raise doc.fail(f"{key}.responses", "required")
    status = _answer_status(responses)
    if status is None:
        return {}  # only error answers declared: answer a bare 200
    response = doc.resolve(responses[status], f"{key}.responses.{status}")
    fields: dict[str, Any] = {"status": 200 if status == "default" else int(status)}
    media = _media(response.get("content") if isinstance(response, dict) else None)
    if media is None:
        return fields
    media_type, spec = media
    if "example" in spec:
        body = spec["example"]
    elif isinstance(spec.get("examples"), dict) and spec["examples"]:
        first = doc.resolve(next(iter(spec["examples"].values())), f"{key}.examples")
        body = first.get("value") if isinstance(first, dict) else None
    else:
        where = f"{key}.responses.{status}.content.schema"
        body = example(spec.get("schema", {}), lambda node: doc.resolve(node, where))
    fields["headers"] = {"Content-Type": media_type}
    fields["template"] = False
    if "json" not in media_type and isinstance(body, str):
        fields["body_text"] = body
    else:
        fields["body"] = body
    return fields


def _type_spec(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    kinds = list(kind) if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    if schema.get("nullable") is True and kinds:
        kinds.append("null")
    kinds = [k for k in kinds if k in _JSON_TYPES]
    return "|".join(dict.fromkeys(kinds)) or None


def _checks(doc: _Document, op: dict[str, Any], params: list[Any], key: str) -> dict[str, Any]:
    required: list[str] = []
    types: dict[str, str] = {}
    for i, raw in enumerate(params):
        param = doc.resolve(raw, f"{key}.parameters[{i}]")
        where = {"query": "query", "header": "header"}.get(str(param.get("in")))
        name = _selector_name(str(param.get("name", "")))
        if where and name and param.get("required") is True:
            required.append(f"{where}.{name}")
    body = doc.resolve(op.get("requestBody", {}), f"{key}.requestBody")
    media = _media(body.get("content") if isinstance(body, dict) else None)
    if media is not None and "json" in media[0]:
        schema = doc.resolve(media[1].get("schema", {}), f"{key}.requestBody")
        if isinstance(schema, dict):
            for prop, sub in (schema.get("properties") or {}).items():
                name = _selector_name(prop)
                kind = _type_spec(doc.resolve(sub)) if name else None
                if kind:
                    types[f"body.{name}"] = kind
            if body.get("required") is True:
                for prop in schema.get("required") or []:
                    name = _selector_name(str(prop))
                    if name:
                        required.append(f"body.{name}")
    return {"required": required, "types": types}


def _operations(doc: _Document) -> list[RouteSpec]:
    paths = doc.doc.get("paths")
    if not isinstance(paths, dict):
        raise doc.fail("paths", "required (an object of path templates)")
    routes = []
    for template, item in paths.items():
        item = doc.resolve(item, f"paths.{template}")
        if not isinstance(item, dict):
            raise doc.fail(f"paths.{template}", "must be an object")
        shared = item.get("parameters") or []
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            key = f"paths.{template}.{method}"
            fields = {
                "method": method.upper(),
                "path": template,
                "name": str(op.get("operationId", "")),
                **_answer(doc, op.get("responses"), key),
                **_checks(doc, op, [*shared, *(op.get("parameters") or [])], key),
            }
            try:
                routes.append(RouteSpec.model_validate(fields))
            except ValidationError as exc:
                raise doc.fail(key, describe(exc)) from None
    return routes


def load(path: Path) -> list[RouteSpec]:
    decoded = read_document(path)
    if not isinstance(decoded, dict):
        raise PartnerSpecError(f"{path}: must be an OpenAPI document (an object)")
    version = str(decoded.get("openapi", ""))
    if not version.startswith("3"):
        raise PartnerSpecError(f"{path}: openapi: only OpenAPI 3 is supported, got {version!r}")
    return _operations(_Document(path, decoded))
