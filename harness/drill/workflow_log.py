"""Errors the workflow logged while it handled a drill's events.

A crash while handling an event (an uncaught ``ConnectionResetError``) shows
to the sender only as a reset or a 500; the workflow's own log says what
happened. This reads the drill's part of ``workflow.log`` (bounded) and
finds tracebacks and error lines, each with the line a person would quote
and, when the error or the lines just before it name one of the drill's
events, that event. The log is the workflow's output: data, never trusted.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

# Enough for a drill's worth of a chatty workflow; older output is skipped.
MAX_BYTES = 2_000_000
MAX_CRASHES = 20
# How many lines before an error may name the event it was handling.
CONTEXT_LINES = 5
LINE_CHARS = 200

_TRACEBACK = "Traceback (most recent call last):"
# An exception line as Python and Node print it ("ValueError: x", "TypeError [ERR_X]: y"),
# "Uncaught"/"Unhandled" reports, and Node-RED's "[error]" log level.
_ERROR_LINE = re.compile(
    r"^\s*(?:Uncaught |Unhandled )?[A-Za-z_][\w.]*(?:Error|Exception)\b(?: \[[\w-]+\])?:\s"
    r"|\[error\]"
    r"|^\s*Unhandled(?:PromiseRejection| rejection)",
)
_TOKEN = re.compile(r"[\w.:-]{6,}")


def log_size(path: Path) -> int:
    """The log's size in bytes, 0 when it does not exist yet: where this drill's part begins."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_tail(path: Path, start: int = 0) -> str:
    """The log from byte ``start`` on, at most MAX_BYTES of its end."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            begin = max(start, size - MAX_BYTES)
            handle.seek(begin)
            data = handle.read(MAX_BYTES)
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def _clip(line: str) -> str:
    text = " ".join(line.split())
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "…"


def _exception_after(lines: list[str], start: int) -> int:
    """The index of a traceback's exception line: the first unindented line after it."""
    for index in range(start + 1, min(len(lines), start + 200)):
        if lines[index] and not lines[index][0].isspace():
            return index
    return start


def _event_named(lines: list[str], first: int, last: int, events: Collection[str]) -> str:
    if not events:
        return ""
    for line in lines[max(0, first - CONTEXT_LINES) : last + 1]:
        for token in _TOKEN.findall(line):
            if token in events:
                return token
        for event_id in events:
            if event_id in line:
                return event_id
    return ""


def crashes(text: str, events: Collection[str], name: str = "workflow.log") -> list[dict[str, Any]]:
    """Each traceback or error line: ``{"line", "where", "event_id"}`` ("" when none named)."""
    lines = text.splitlines()
    found: list[dict[str, Any]] = []
    index = 0
    wanted = set(events)
    while index < len(lines) and len(found) < MAX_CRASHES:
        line = lines[index]
        if _TRACEBACK in line:
            end = _exception_after(lines, index)
            quoted = lines[end] if end != index else line
            found.append(
                {
                    "line": _clip(quoted),
                    "where": f"{name}:{end + 1}",
                    "event_id": _event_named(lines, index, end, wanted),
                }
            )
            index = end + 1
            continue
        if _ERROR_LINE.search(line):
            found.append(
                {
                    "line": _clip(line),
                    "where": f"{name}:{index + 1}",
                    "event_id": _event_named(lines, index, index, wanted),
                }
            )
        index += 1
    return found
