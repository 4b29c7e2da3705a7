"""The durable inbox: every accepted event, its progress and outcome, in one SQLite file.

The webhook handler commits an event here before answering 200, so an event
the sender saw acknowledged survives a crash. The event id is the primary key:
a redelivery cannot be inserted twice, it is recorded as a `duplicate` outcome.

All access happens on the event loop's thread through one connection. Each
call is a short local transaction with no await inside it, so coroutines never
interleave within a transaction.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    payload BLOB NOT NULL,
    traceparent TEXT NOT NULL,
    received_at REAL NOT NULL,
    state TEXT NOT NULL,            -- pending | waiting | done
    waiting_since REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    order_id TEXT,
    version INTEGER,
    problem TEXT                    -- why the event cannot be processed, or NULL
);
CREATE INDEX IF NOT EXISTS inbox_state ON inbox (state, seq);
CREATE INDEX IF NOT EXISTS inbox_order ON inbox (order_id, state);
CREATE TABLE IF NOT EXISTS outcomes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    event_id TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
-- What this workflow knows the partner holds, per order.
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    shipment_id TEXT NOT NULL,
    applied_version INTEGER NOT NULL,
    created_by TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class InboxEvent:
    seq: int
    event_id: str
    type: str
    payload: bytes
    traceparent: str
    state: str
    attempts: int
    order_id: str | None
    version: int | None
    problem: str | None
    waiting_since: float | None


@dataclass(frozen=True)
class OrderState:
    order_id: str
    shipment_id: str
    applied_version: int
    created_by: str


_EVENT_COLUMNS = (
    "seq, event_id, type, payload, traceparent, state, attempts, order_id, version, problem,"
    " waiting_since"
)


def _event(row: tuple[Any, ...]) -> InboxEvent:
    return InboxEvent(*row)


class Inbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Default isolation: the module opens a transaction before each write and
        # `with self.db` commits it, so multi-statement writes are atomic.
        self.db = sqlite3.connect(path)
        # WAL + NORMAL survives a killed process, which is the failure drills cause.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def accept(
        self,
        *,
        event_id: str,
        event_type: str,
        payload: bytes,
        traceparent: str,
        order_id: str | None,
        version: int | None,
        problem: str | None,
    ) -> bool:
        """Store a new event; False (and a `duplicate` outcome) if the id is already known."""
        now = time.time()
        with self.db:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO inbox (event_id, type, payload, traceparent, received_at,"
                " state, order_id, version, problem) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                (event_id, event_type, payload, traceparent, now, order_id, version, problem),
            )
            if cursor.rowcount == 1:
                return True
            self.db.execute(
                "INSERT INTO outcomes (event_id, outcome, detail, at) VALUES (?, ?, ?, ?)",
                (event_id, "duplicate", "redelivery of an event already in the inbox", now),
            )
            return False

    def pending(self) -> list[InboxEvent]:
        rows = self.db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM inbox WHERE state = 'pending' ORDER BY seq"
        ).fetchall()
        return [_event(r) for r in rows]

    def get(self, event_id: str) -> InboxEvent | None:
        row = self.db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM inbox WHERE event_id = ?", (event_id,)
        ).fetchone()
        return _event(row) if row else None

    def open_events_for(self, order_id: str) -> list[InboxEvent]:
        rows = self.db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM inbox WHERE order_id = ? AND state != 'done'"
            " ORDER BY seq",
            (order_id,),
        ).fetchall()
        return [_event(r) for r in rows]

    def waiting(self) -> list[InboxEvent]:
        rows = self.db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM inbox WHERE state = 'waiting' ORDER BY seq"
        ).fetchall()
        return [_event(r) for r in rows]

    def set_attempts(self, event_id: str, attempts: int) -> None:
        with self.db:
            self.db.execute(
                "UPDATE inbox SET attempts = ? WHERE event_id = ?", (attempts, event_id)
            )

    def set_waiting(self, event_id: str) -> None:
        with self.db:
            self.db.execute(
                "UPDATE inbox SET state = 'waiting', waiting_since = COALESCE(waiting_since, ?)"
                " WHERE event_id = ?",
                (time.time(), event_id),
            )

    def release_waiting(self, order_id: str) -> int:
        with self.db:
            cursor = self.db.execute(
                "UPDATE inbox SET state = 'pending' WHERE order_id = ? AND state = 'waiting'",
                (order_id,),
            )
            return cursor.rowcount

    def finish(self, event_id: str, outcome: str, detail: str) -> None:
        """Make an event terminal; a `dead_lettered` one also lands in dead_letters."""
        now = time.time()
        with self.db:
            self.db.execute("UPDATE inbox SET state = 'done' WHERE event_id = ?", (event_id,))
            self.db.execute(
                "INSERT INTO outcomes (event_id, outcome, detail, at) VALUES (?, ?, ?, ?)",
                (event_id, outcome, detail, now),
            )
            if outcome == "dead_lettered":
                self.db.execute(
                    "INSERT OR REPLACE INTO dead_letters (event_id, reason, at) VALUES (?, ?, ?)",
                    (event_id, detail, now),
                )

    def order(self, order_id: str) -> OrderState | None:
        row = self.db.execute(
            "SELECT order_id, shipment_id, applied_version, created_by FROM orders"
            " WHERE order_id = ?",
            (order_id,),
        ).fetchone()
        return OrderState(*row) if row else None

    def record_created(self, order_id: str, shipment_id: str, version: int, event_id: str) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO orders (order_id, shipment_id, applied_version, created_by)"
                " VALUES (?, ?, ?, ?)",
                (order_id, shipment_id, version, event_id),
            )

    def record_version(self, order_id: str, version: int) -> None:
        with self.db:
            self.db.execute(
                "UPDATE orders SET applied_version = ? WHERE order_id = ?", (version, order_id)
            )

    def pending_count(self) -> int:
        row = self.db.execute("SELECT COUNT(*) FROM inbox WHERE state != 'done'").fetchone()
        return int(row[0])

    def outcomes(self) -> list[dict[str, str]]:
        rows = self.db.execute(
            "SELECT event_id, outcome, detail FROM outcomes ORDER BY seq"
        ).fetchall()
        return [{"event_id": e, "outcome": o, "detail": d} for e, o, d in rows]

    def dead_letters(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT event_id, reason, at FROM dead_letters ORDER BY at"
        ).fetchall()
        return [{"event_id": e, "reason": r, "at": a} for e, r, a in rows]
