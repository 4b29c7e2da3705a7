"""The hardened consumer's durable inbox: events done, and each order's applied version.

One SQLite file in the state folder, so a restarted consumer still knows what
it did. Each call is one short transaction with no await inside it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS done (event_id TEXT PRIMARY KEY, outcome TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, version INTEGER NOT NULL);
"""


class Inbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.executescript(SCHEMA)

    def done(self, event_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM done WHERE event_id = ?", (event_id,)).fetchone()
        return row is not None

    def applied_version(self, order_id: str) -> int | None:
        row = self._db.execute(
            "SELECT version FROM orders WHERE order_id = ?", (order_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def finish(self, event_id: str, outcome: str, order_id: str = "", version: int = 0) -> None:
        """Record the event done (and the order's version) in one transaction."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR IGNORE INTO done (event_id, outcome) VALUES (?, ?)", (event_id, outcome)
            )
            if order_id:
                self._db.execute(
                    "INSERT INTO orders (order_id, version) VALUES (?, ?) ON CONFLICT(order_id) "
                    "DO UPDATE SET version = MAX(version, excluded.version)",
                    (order_id, version),
                )

    def close(self) -> None:
        self._db.close()
