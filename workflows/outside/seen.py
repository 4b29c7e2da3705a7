"""Event ids already booked, kept in DATA_DIR/booked.txt so a restart still knows them.

One id per line, appended and fsynced after the ledger accepted the entry.
"""

from __future__ import annotations

import os
from pathlib import Path


class Booked:
    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "booked.txt"
        self.ids: set[str] = set()
        if self.path.exists():
            self.ids = {line for line in self.path.read_text("utf-8").splitlines() if line}

    def __contains__(self, event_id: str) -> bool:
        return event_id in self.ids

    def add(self, event_id: str) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(event_id + "\n")
            out.flush()
            os.fsync(out.fileno())
        self.ids.add(event_id)
