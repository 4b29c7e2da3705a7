"""Import an OpenAPI 3 document (JSON or YAML) as routes, one per operation.

The answer is the lowest 2xx response (else `default`, as 200); its body is
the media type's `example`, else the first of `examples`, else generated from
the schema. Required query/header parameters become `required`; a JSON request
body's schema is kept whole as the route's `body_schema` (`allOf`, nested
objects, enums, formats, lengths: see body_schema.py), and a required body is
`required = ["body"]`. Path templates are kept as written, so `{id}` is `path.id`.

Ids: a POST on a collection (`/tickets`) whose answer has an `id` (at the top
or inside a one-key envelope, `ticket.id`) hands out a fresh one per call, and
the operations on `/tickets/{ticketId}` accept only ids it handed out.

A `$ref` naming another file (`schemas/ticket.yaml#/Ticket`) is read with the
same care as the document (openapi_refs.py): inside the pilot's folder, a
regular file, bounded; a web address is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .body_schema import openapi_request_schema
from .documents import read_document
from .openapi_refs import join_files
from .schema_example import example
from .spec import PartnerSpecError, RouteSpec, describe

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_SELECTOR_SPECIAL = frozenset('.[]" ')


class _Document:
    def __init__(self, path: Path, doc: dict[str, Any], *, oas30: bool) -> None:
        self.path, self.doc, self.oas30 = path, doc, oas30

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
                raise self.fail(
                    key, f"$ref {ref[:80]}: only $refs within this document (#/...) are followed"
                )
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


def _checks(doc: _Document, op: dict[str, Any], params: list[Any], key: str) -> dict[str, Any]:
    required: list[str] = []
    for i, raw in enumerate(params):
        param = doc.resolve(raw, f"{key}.parameters[{i}]")
        where = {"query": "query", "header": "header"}.get(str(param.get("in")))
        name = _selector_name(str(param.get("name", "")))
        if where and name and param.get("required") is True:
            required.append(f"{where}.{name}")
    body = doc.resolve(op.get("requestBody", {}), f"{key}.requestBody")
    media = _media(body.get("content") if isinstance(body, dict) else None)
    fields: dict[str, Any] = {"required": required}
    if media is None or "json" not in media[0]:
        return fields
    if body.get("required") is True:
        required.append("body")
    schema = media[1].get("schema")
    if isinstance(schema, dict) and schema:
        where = f"{key}.requestBody.content.schema"
        fields["body_schema"] = openapi_request_schema(
            schema,
            oas30=doc.oas30,
            resolve=lambda ref: doc.resolve({"$ref": ref}, where),
        )
    return fields


def _id_place(body: Any) -> str | None:
    """Where an answer carries its resource's id: `id`, or `ticket.id` in an envelope."""
    if not isinstance(body, dict):
        return None
    if "id" in body:
        return "id"
    if len(body) == 1:
        ((name, inner),) = body.items()
        sel = _selector_name(str(name))
        if sel and isinstance(inner, dict) and "id" in inner:
            return f"{sel}.id"
    return None


def _link_ids(fields: list[dict[str, Any]]) -> None:
    """Creates hand out fresh ids; `<collection>/{param}` operations take only those."""
    spaces: dict[str, str] = {}
    for f in fields:
        place = _id_place(f.get("body"))
        if f["method"] == "POST" and place and 200 <= f.get("status", 200) < 300:
            f["answer_id"], f["id_space"] = place, f["path"]
            spaces[f["path"].rstrip("/")] = f["path"]
    for f in fields:
        collection, _, last = f["path"].rstrip("/").rpartition("/")
        param = last[1:-1] if last.startswith("{") and last.endswith("}") else ""
        if param and collection in spaces and _selector_name(param) == param:
            f["known_id"], f["id_space"] = f"path.{param}", spaces[collection]


def _operations(doc: _Document) -> list[RouteSpec]:
    paths = doc.doc.get("paths")
    if not isinstance(paths, dict):
        raise doc.fail("paths", "required (an object of path templates)")
    found: list[tuple[str, dict[str, Any]]] = []
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
            found.append((key, {
                "method": method.upper(),
                "path": template,
                "name": str(op.get("operationId", "")),
                **_answer(doc, op.get("responses"), key),
                **_checks(doc, op, [*shared, *(op.get("parameters") or [])], key),
            }))  # fmt: skip
    _link_ids([fields for _, fields in found])
    routes = []
    for key, fields in found:
        try:
            routes.append(RouteSpec.model_validate(fields))
        except ValidationError as exc:
            raise doc.fail(key, describe(exc)) from None
    return routes


def load(path: Path, *, root: Path | None = None) -> list[RouteSpec]:
    """The document's operations as routes; `root`: the folder it must be inside."""
    decoded = read_document(path, root=root)
    if not isinstance(decoded, dict):
        raise PartnerSpecError(f"{path}: must be an OpenAPI document (an object)")
    version = str(decoded.get("openapi", ""))
    if not version.startswith("3"):
        raise PartnerSpecError(f"{path}: openapi: only OpenAPI 3 is supported, got {version!r}")
    # Refs to other files are read inside `root` (else the document's own folder).
    refs_root = root if root is not None else path.parent
    joined = join_files(path, decoded, lambda named: read_document(named, root=refs_root))
    return _operations(_Document(path, joined, oas30=version.startswith("3.0")))
