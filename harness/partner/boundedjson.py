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
from collections.abc import Iterator
from typing import Any

__all__ = ["MAX_DEPTH", "JsonTooDeep", "depth_exceeded_at", "loads"]

# Real payloads, mappings and exports stay within a dozen levels.
MAX_DEPTH = 64

# Strings as "unrolled loops": a run of plain characters, then escapes each
# followed by another run; a third of the time of one alternation per character.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|(")|[\[\]{}]', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_INNERMOST_PAIR = re.compile(r"\[\]|\{\}")
# What the cheap skeleton keeps of the UTF-8 bytes: quotes, brackets, and the
# NUL that marks an escaped quote (input holding a NUL of its own is not
# shortened). bytes.translate deletes the rest in one table-driven pass.
_MARK = b"\x00"
_DROP = bytes(b for b in range(256) if b not in b'"[]{}\x00')


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


def _brackets_outside_strings(text: str) -> str | None:
    """The brackets ``_TOKEN`` finds outside strings, in order; None if this cannot tell.

    A regex walk over every character costs ~10 ns each (4 ms for a 300 kB
    body); byte-level replace, translate and split do it in a fraction. Escape
    pairs go first (``\\\\``, then ``\\"`` becomes a mark); the quotes left
    pair up from the left, a last unpaired one opening nothing, as the regex
    has it. That holds while escaped quotes sit only inside strings, as in
    any valid JSON; a mark found outside means malformed input whose strings
    this shortcut would misplace, so it answers None and the exact scan runs.
    """
    data = text.encode("utf-8", "surrogatepass")  # a UTF-8 byte < 0x80 is that ASCII character
    if _MARK in data:
        return None
    if b"\\" in data:
        # Same-length replacements: cheaper than shrinking, and the filler is dropped below.
        data = data.replace(b"\\\\", b"\x01\x01").replace(b'\\"', _MARK * 2)
    parts = data.translate(None, _DROP).split(b'"')
    outside = b"".join(parts[0::2])
    if len(parts) % 2 == 0:  # an odd number of quotes: the last one opens nothing
        outside += parts[-1]
    if _MARK in outside:
        return None
    return outside.decode("ascii")


def _within_by_peeling(skeleton: str, limit: int) -> bool:
    """True when a string of brackets pairs up within ``limit`` levels.

    Each pass removes the innermost pairs in C, so it costs a handful of
    regex passes for ordinary documents. False means "not shown": too deep,
    or unbalanced (malformed), which the exact scan then decides.
    """
    for _ in range(limit):
        if not skeleton:
            return True
        skeleton, removed = _INNERMOST_PAIR.subn("", skeleton)
        if not removed:
            return False
    return not skeleton


def _tokens(text: str) -> Iterator[re.Match[str]]:
    """Strings and the brackets outside them, as ``_TOKEN`` finds them, in one pass.

    A quote that no later quote closes is no string: the scan goes on after
    it. Every quote after it fails the same way (its scan falls in step with
    this one after the escape it ends), so the rest holds brackets only. Going
    on with a bracket search keeps hostile input such as ``"`` followed by
    thousands of ``\\"`` linear, where retrying at each quote was quadratic.
    """
    for token in _TOKEN.finditer(text):
        if token.group(1) is not None:
            yield from _BRACKET.finditer(text, token.end())
            return
        yield token


def depth_exceeded_at(text: str, limit: int = MAX_DEPTH) -> int | None:
    """The offset in ``text`` where nesting passes ``limit`` levels, or None."""
    if text.count("[") + text.count("{") <= limit:
        return None
    skeleton = _brackets_outside_strings(text)
    if skeleton is not None and (len(skeleton) <= limit or _within_by_peeling(skeleton, limit)):
        return None
    depth = 0
    for token in _tokens(text):
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
