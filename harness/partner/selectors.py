"""Field selectors: one small syntax that names a value in a request or an event.

    path.id   body.a.b[0].c   body."a.b"   query.page   header.Content-Type   event_id

The first segment names a source (the caller decides what sources exist); the
rest walks into it. Parsing is separate from lookup so a declaration is
checked once, when it is loaded, and a bad selector fails there with a
one-line reason instead of at the first request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final


class _Missing:
    """The selected value does not exist (distinct from a JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

# Header names are case-insensitive on the wire (RFC 9110), so lookups are too.
CASE_INSENSITIVE_ROOTS = frozenset({"header"})
_STOP = frozenset('.["]')


@dataclass(frozen=True)
class Selector:
    """A parsed selector such as `body.items[0].id` or `header.Idempotency-Key`:
    a root source and steps into it."""

    text: str
    root: str
    steps: tuple[str | int, ...]

    def get(self, sources: Mapping[str, Any]) -> Any:
        """The selected value, or MISSING when any step does not exist."""
        value: Any = sources.get(self.root, MISSING)
        for i, step in enumerate(self.steps):
            if isinstance(step, int):
                if not isinstance(value, Sequence) or isinstance(value, str | bytes):
                    return MISSING
                if not -len(value) <= step < len(value):
                    return MISSING
                value = value[step]
            elif isinstance(value, Mapping):
                if i == 0 and self.root in CASE_INSENSITIVE_ROOTS:
                    value = _get_folded(value, step)
                else:
                    value = value.get(step, MISSING)
            else:
                return MISSING
            if value is MISSING:
                return MISSING
        return value

    def __str__(self) -> str:
        return self.text


def _get_folded(mapping: Mapping[str, Any], name: str) -> Any:
    folded = name.lower()
    for key, value in mapping.items():
        if str(key).lower() == folded:
            return value
    return MISSING


def _name(text: str, pos: int) -> tuple[str, int]:
    """A bare or quoted key starting at pos; returns it and the position after it."""
    if pos < len(text) and text[pos] == '"':
        end = text.find('"', pos + 1)
        if end < 0:
            raise ValueError(f"{text}: unclosed quote")
        if end == pos + 1:
            raise ValueError(f"{text}: empty quoted key")
        return text[pos + 1 : end], end + 1
    start = pos
    while pos < len(text) and text[pos] not in _STOP:
        pos += 1
    if pos == start:
        raise ValueError(f"{text}: empty key at position {start}")
    return text[start:pos], pos


def _index(text: str, pos: int) -> tuple[int, int]:
    end = text.find("]", pos)
    if end < 0:
        raise ValueError(f"{text}: unclosed [")
    raw = text[pos + 1 : end].strip()
    try:
        return int(raw), end + 1
    except ValueError:
        raise ValueError(f"{text}: [{raw}] is not a list index") from None


def parse_selector(text: str) -> Selector:
    """Parse a selector; a bad one raises ValueError with a one-line reason."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{text!r}: a selector must be a non-empty string")
    if text != text.strip() or any(c.isspace() for c in text if c != " "):
        raise ValueError(f"{text!r}: a selector has no surrounding or control whitespace")
    root, pos = _name(text, 0)
    steps: list[str | int] = []
    while pos < len(text):
        char = text[pos]
        if char == ".":
            name, pos = _name(text, pos + 1)
            steps.append(name)
        elif char == "[":
            index, pos = _index(text, pos)
            steps.append(index)
        else:
            raise ValueError(f"{text}: unexpected {char!r} at position {pos}")
    return Selector(text=text, root=root, steps=tuple(steps))
