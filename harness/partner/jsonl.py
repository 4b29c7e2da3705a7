"""Append-only JSON Lines logs (the ledger of effects, the journal of requests).

Each entry is written and flushed the moment it is appended, so a drill that
kills the simulator with SIGKILL still finds every line up to the kill.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any


class JsonLines:
    """One append-only log, in memory and, when `path` is given, on disk; the caller closes it."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] = []
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def append(self, entry: dict[str, Any]) -> None:
        """Keep `entry` and write it out as one flushed line at once."""
        self.entries.append(entry)
        if self._file is not None:
            self._file.write(json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n")
            self._file.flush()

    def clear(self) -> None:
        """Forget every entry, on disk too, so file and memory keep telling the same story."""
        self.entries.clear()
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
