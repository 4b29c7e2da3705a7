"""JSON decoding with a nesting limit: the one place the lab parses untrusted JSON.

Python's decoder recurses once per level, so ``[[[[…`` a few thousand deep
ends in a RecursionError, and a document a little less deep still breaks
whatever walks it next. Every JSON file, line or body the lab reads from a
pilot, a capture or an export goes through `loads`, which refuses input
nested deeper than `MAX_DEPTH` levels before the decoder sees it, naming the
line where the limit was passed.

It lives in the partner package because that package imports nothing else of
harness (it runs standalone); the rest of harness may import from it, so the
limit is kept once for all.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_DEPTH", "JsonTooDeep", "depth_exceeded_at", "loads"]

# Real payloads, mappings and exports stay within a dozen levels.
MAX_DEPTH = 64

# Strings as "unrolled loops": a run of plain characters, then escapes each
# followed by another run; a third of the time of one alternation per character.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST_PAIR = re.compile(r"\[\]|\{\}")
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class JsonTooDeep(json.JSONDecodeError):
    """Input nested deeper than the limit; ``lineno`` is where it went past.

    A JSONDecodeError, so a caller that already turns bad JSON into a
    one-line error does so for this too.
    """

    def __init__(self, doc: str, pos: int, limit: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels", doc, pos)
        self.limit = limit

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.doc, self.pos, self.limit)


def _within_by_peeling(text: str, limit: int) -> bool:
    """True when the brackets outside strings pair up within ``limit`` levels.

    Each pass removes the innermost pairs in C, so it costs a handful of
    regex passes for ordinary documents. False means "not shown": too deep,
    or unbalanced (malformed), which the exact scan then decides.
    """
    skeleton = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(limit):
        if not skeleton:
            return True
        skeleton, removed = _INNERMOST_PAIR.subn("", skeleton)
        if not removed:
            return False
    return not skeleton


def depth_exceeded_at(text: str, limit: int = MAX_DEPTH) -> int | None:
    """The offset in ``text`` where nesting passes ``limit`` levels, or None."""
    if text.count("[") + text.count("{") <= limit or _within_by_peeling(text, limit):
        return None
    depth = 0
    for token in _TOKEN.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > limit:
                return token.start()
        elif bracket in "]}":
            depth = max(depth - 1, 0)
    return None


def loads(text: str | bytes, *, limit: int = MAX_DEPTH, **options: Any) -> Any:
    """``json.loads`` that raises JsonTooDeep for input nested deeper than ``limit``.

    ``options`` go to ``json.loads`` (e.g. ``object_pairs_hook``). Bytes are
    decoded as UTF-8 first (UnicodeDecodeError as usual).
    """
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")
    at = depth_exceeded_at(text, limit)
    if at is not None:
        raise JsonTooDeep(text, at, limit)
    return json.loads(text, **options)
