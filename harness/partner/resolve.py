"""Flatten a partner declaration (file, inline routes, imports, annotations) into routes.

Sequence of routes, first match wins: inline routes, then WireMock mappings
(by priority), then OpenAPI operations. Annotations are laid over every route
they name (route name, WireMock id, operationId, or `METHOD path`); one that
names no route is an error, as it is almost certainly a typo.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .confined import FileRefused, confine
from .documents import read_document
from .spec import Annotation, PartnerDecl, PartnerSpecError, ResolvedPartner, RouteSpec, describe

_PATH_KEYS = ("wiremock", "openapi")


def _confined(path: Path, root: Path, where: str) -> Path:
    try:
        return confine(path, root)
    except FileRefused as exc:
        raise PartnerSpecError(f"{where}: {path}: {exc}") from None


def _absolute_paths(
    raw: Mapping[str, Any], base_dir: Path, root: Path, label: str
) -> dict[str, Any]:
    out = dict(raw)
    for key in _PATH_KEYS:
        if isinstance(out.get(key), str):
            out[key] = str(_confined(base_dir / out[key], root, f"{label}: {key}"))
    return out


def _with_file(
    raw: Mapping[str, Any], base_dir: Path, root: Path, label: str
) -> tuple[dict[str, Any], str]:
    """Read `file`, if named, and lay the inline keys over it."""
    inline = _absolute_paths(raw, base_dir, root, label)
    name = inline.pop("file", None)
    if name is None:
        return inline, label
    if not isinstance(name, str):
        raise PartnerSpecError(f"{label}: file: must be a path, got {type(name).__name__}")
    path = base_dir / name
    _confined(path, root, f"{label}: file")
    loaded = read_document(path, root)
    if not isinstance(loaded, dict):
        raise PartnerSpecError(f"{path}: must hold one partner declaration (a table)")
    if "file" in loaded:
        raise PartnerSpecError(f"{path}: file: a declaration file cannot name another")
    return {**_absolute_paths(loaded, path.parent, root, str(path)), **inline}, str(path)


def _decl(raw: Any, label: str) -> PartnerDecl:
    if isinstance(raw, PartnerDecl):
        return raw
    if not isinstance(raw, Mapping):
        raise PartnerSpecError(f"{label}: must be a table, got {type(raw).__name__}")
    try:
        return PartnerDecl.model_validate(dict(raw))
    except ValidationError as exc:
        raise PartnerSpecError(f"{label}: {describe(exc)}") from None


def _annotate(routes: list[RouteSpec], annotate: Mapping[str, Annotation], label: str) -> None:
    for selector, annotation in annotate.items():
        hits = [i for i, r in enumerate(routes) if selector in _names(r)]
        if not hits:
            raise PartnerSpecError(f"{label}: annotate.{selector!r}: matches no route")
        patch = annotation.model_dump(exclude_none=True)
        for i in hits:
            merged = {**routes[i].model_dump(exclude_defaults=True), **patch}
            if "effect" in patch and "entity" not in patch:
                merged.pop("entity", None)  # let the new effect name the entity
            try:
                routes[i] = RouteSpec.model_validate(merged)
            except ValidationError as exc:
                raise PartnerSpecError(f"{label}: annotate.{selector!r}: {describe(exc)}") from None


def _names(route: RouteSpec) -> set[str]:
    where = route.path or route.path_regex or route.url_regex
    return {route.name, *route.aliases, f"{route.method} {where}"} - {""}


def resolve_partner(
    name: str,
    decl: PartnerDecl | Mapping[str, Any],
    base_dir: Path,
    *,
    label: str | None = None,
    root: Path | None = None,
) -> dict[str, Any]:
    """One plain JSON-able declaration for the server process (`--spec`).

    `base_dir` is where relative paths in `decl` start (the pilot's folder);
    every file it names (`file`, `wiremock`, `openapi`) must lie inside `root`
    (default: `base_dir`), symlinks resolved. `label` names the declaration in
    errors (default `partners.<name>`).
    """
    where = label or f"partners.{name}"
    top = base_dir if root is None else root
    if isinstance(decl, PartnerDecl):
        decl = decl.model_dump(exclude_defaults=True)
    raw, where = (
        _with_file(decl, base_dir, top, where) if isinstance(decl, Mapping) else (decl, where)
    )
    parsed = _decl(raw, where)
    routes = list(parsed.routes)
    # Each importer loads only when named: the OpenAPI one brings YAML and
    # jsonschema (a tenth of a second of CPU) that inline routes never need.
    if parsed.wiremock:
        from . import wiremock

        routes += wiremock.load(Path(parsed.wiremock))
    if parsed.openapi:
        from . import openapi

        routes += openapi.load(Path(parsed.openapi), root=top)
    _annotate(routes, parsed.annotate, where)
    resolved = ResolvedPartner(
        name=name, idempotency=parsed.idempotency, faults=parsed.faults, routes=tuple(routes)
    )
    return resolved.model_dump(mode="json")
