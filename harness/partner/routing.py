"""Route matching: method, path (template or regex) and `when` conditions, first match wins."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .selectors import MISSING, Selector, parse_selector
from .spec import RouteSpec, condition
from .templating import as_text

_PARAM = re.compile(r"\{([^{}/]+)\}")


def template_regex(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """`/v1/items/{id}` → a regex with one group per parameter, and the parameter names."""
    pattern, names, last = "", [], 0
    for match in _PARAM.finditer(template):
        pattern += re.escape(template[last : match.start()]) + "([^/]+)"
        names.append(match.group(1))
        last = match.end()
    pattern += re.escape(template[last:])
    return re.compile(pattern), tuple(names)


def _holds(selector: Selector, expected: Any, sources: Mapping[str, Any]) -> bool:
    operator, operand = condition(expected)
    value = selector.get(sources)
    if operator == "absent":
        return (value is MISSING) == bool(operand)
    if operator == "present":
        return (value is MISSING) != bool(operand)
    if value is MISSING:
        return False
    if operator == "equal":
        # Query strings and headers are text: `when = {"query.limit" = 10}` means "10".
        return bool(value == operand) or (isinstance(value, str) and value == as_text(operand))
    if operator == "contains":
        if isinstance(value, list):
            return operand in value
        return as_text(operand) in as_text(value)
    return re.fullmatch(str(operand), as_text(value)) is not None  # "matches"


@dataclass(frozen=True)
class CompiledRoute:
    """A route with its path pattern and `when` conditions compiled once, at start."""

    spec: RouteSpec
    pattern: re.Pattern[str]
    params: tuple[str, ...]
    on_url: bool  # the regex sees path?query, not only the path
    conditions: tuple[tuple[Selector, Any], ...]

    @classmethod
    def of(cls, spec: RouteSpec) -> CompiledRoute:
        """Compile a route spec;
        a bad regex raises re.error (the spec's validator caught it earlier)."""
        if spec.path:
            pattern, params = template_regex(spec.path)
        else:
            pattern = re.compile(spec.path_regex or spec.url_regex)
            params = tuple(pattern.groupindex)
        conditions = tuple((parse_selector(s), v) for s, v in spec.when.items())
        return cls(spec, pattern, params, bool(spec.url_regex), conditions)

    def match_path(self, path: str, query: str) -> dict[str, str] | None:
        """The path parameters when the path (and query, for a url regex) matches, else None."""
        target = f"{path}?{query}" if self.on_url and query else path
        found = self.pattern.fullmatch(target)
        if found is None:
            return None
        if self.spec.path:
            return dict(zip(self.params, found.groups(), strict=True))
        return {k: v for k, v in found.groupdict().items() if v is not None}


class Router:
    """The partner's routes in declaration order; the first that matches answers."""

    def __init__(self, routes: Sequence[RouteSpec]) -> None:
        self.routes = [CompiledRoute.of(r) for r in routes]

    def match(
        self, method: str, path: str, query: str, sources: dict[str, Any]
    ) -> CompiledRoute | None:
        """The first matching route; fills `sources["path"]` with its path parameters."""
        for route in self.routes:
            if route.spec.method not in (method, "ANY"):
                continue
            params = route.match_path(path, query)
            if params is None:
                continue
            candidate = {**sources, "path": params}
            if all(_holds(sel, expected, candidate) for sel, expected in route.conditions):
                sources["path"] = params
                return route
        return None
