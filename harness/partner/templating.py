"""Answer templates: JSON with `{selector}` placeholders filled from the request.

A string that is exactly one placeholder keeps the selected value's JSON type
(so `"{body.version}"` answers the number 3, not "3"); placeholders inside a
longer string are formatted as text. `{{` and `}}` stand for literal braces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from .selectors import MISSING, Selector, parse_selector

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]+)\}")


@lru_cache(maxsize=1024)
def _selector(text: str) -> Selector:
    return parse_selector(text)


def placeholders(template: Any) -> Iterator[str]:
    """Every placeholder in a template, to check them when a declaration loads."""
    if isinstance(template, str):
        for match in _PLACEHOLDER.finditer(template):
            if match.group(1) is not None:
                yield match.group(1)
    elif isinstance(template, dict):
        for key, value in template.items():
            yield from placeholders(key)
            yield from placeholders(value)
    elif isinstance(template, list):
        for item in template:
            yield from placeholders(item)


def check(template: Any) -> None:
    """Raise ValueError naming the first placeholder that is not a valid selector."""
    for text in placeholders(template):
        try:
            _selector(text)
        except ValueError as exc:
            raise ValueError(f"body: placeholder {{{text}}}: {exc}") from None


def as_text(value: Any) -> str:
    """A selected value as text for a template or a comparison:
    JSON for containers, "" when absent."""
    if value is MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _render_string(template: str, sources: Mapping[str, Any]) -> Any:
    whole = _PLACEHOLDER.fullmatch(template)
    if whole is not None and whole.group(1) is not None:
        value = _selector(whole.group(1)).get(sources)
        return None if value is MISSING else value

    def fill(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)[0]
        return as_text(_selector(match.group(1)).get(sources))

    return _PLACEHOLDER.sub(fill, template)


def render(template: Any, sources: Mapping[str, Any]) -> Any:
    """The template with every placeholder filled; a missing value becomes null / ""."""
    if isinstance(template, str):
        return _render_string(template, sources)
    if isinstance(template, dict):
        return {as_text(render(k, sources)): render(v, sources) for k, v in template.items()}
    if isinstance(template, list):
        return [render(item, sources) for item in template]
    return template
