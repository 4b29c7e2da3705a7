"""contacts-sync's durable state: the inbox, outcomes and what the CRM holds, in one SQLite file.

The webhook handler commits an event before answering 2xx, so an acknowledged
event survives a crash, and `webhook-id` is the primary key, so a redelivery
cannot enter twice. All access is from the event loop's thread, one short
transaction per call with no await inside.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    payload BLOB NOT NULL,
    traceparent TEXT NOT NULL,
    state TEXT NOT NULL,            -- pending | waiting | done
    waiting_since REAL,
    user_id TEXT,
    revision INTEGER,
    problem TEXT
);
CREATE INDEX IF NOT EXISTS inbox_state ON inbox (state, seq);
CREATE INDEX IF NOT EXISTS inbox_user ON inbox (user_id, state);
CREATE TABLE IF NOT EXISTS outcomes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    user_id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    revision INTEGER NOT NULL,
    created_by TEXT NOT NULL
);
"""

_COLUMNS = "event_id, type, payload, traceparent, state, waiting_since, user_id, revision, problem"


@dataclass(frozen=True)
class Queued:
    event_id: str
    type: str
    payload: bytes
    traceparent: str
    state: str
    waiting_since: float | None
    user_id: str | None
    revision: int | None
    problem: str | None


@dataclass(frozen=True)
class Contact:
    user_id: str
    email: str
    revision: int
    created_by: str


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def accept(self, queued: Queued) -> bool:
        """Store a new event as pending; False (and a `duplicate` outcome) for a redelivery."""
        with self.db:
            cursor = self.db.execute(
                f"INSERT OR IGNORE INTO inbox ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    queued.event_id,
                    queued.type,
                    queued.payload,
                    queued.traceparent,
                    "pending",
                    None,
                    queued.user_id,
                    queued.revision,
                    queued.problem,
                ),
            )
            if cursor.rowcount == 1:
                return True
            self._outcome(queued.event_id, "duplicate", "redelivery of a webhook-id already held")
            return False

    def _select(self, where: str, args: tuple[object, ...] = ()) -> list[Queued]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM inbox WHERE {where} ORDER BY seq", args)
        return [Queued(*row) for row in rows.fetchall()]

    def pending(self) -> list[Queued]:
        return self._select("state = 'pending'")

    def waiting(self) -> list[Queued]:
        return self._select("state = 'waiting'")

    def open_for(self, user_id: str) -> list[Queued]:
        return self._select("user_id = ? AND state != 'done'", (user_id,))

    def set_waiting(self, event_id: str) -> None:
        with self.db:
            self.db.execute(
                "UPDATE inbox SET state = 'waiting', waiting_since = COALESCE(waiting_since, ?)"
                " WHERE event_id = ?",
                (time.time(), event_id),
            )

    def release_waiting(self, user_id: str) -> int:
        with self.db:
            cursor = self.db.execute(
                "UPDATE inbox SET state = 'pending' WHERE user_id = ? AND state = 'waiting'",
                (user_id,),
            )
            return cursor.rowcount

    def finish(self, event_id: str, outcome: str, detail: str) -> None:
        with self.db:
            self.db.execute("UPDATE inbox SET state = 'done' WHERE event_id = ?", (event_id,))
            self._outcome(event_id, outcome, detail)

    def _outcome(self, event_id: str, outcome: str, detail: str) -> None:
        self.db.execute(
            "INSERT INTO outcomes (event_id, outcome, detail) VALUES (?, ?, ?)",
            (event_id, outcome, detail),
        )

    def contact(self, user_id: str) -> Contact | None:
        row = self.db.execute(
            "SELECT user_id, email, revision, created_by FROM contacts WHERE user_id = ?",
            (user_id,),
        ).fetchone()
        return Contact(*row) if row else None

    def save_contact(self, contact: Contact) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO contacts (user_id, email, revision, created_by)"
                " VALUES (?, ?, ?, ?)",
                (contact.user_id, contact.email, contact.revision, contact.created_by),
            )

    def pending_count(self) -> int:
        row = self.db.execute("SELECT COUNT(*) FROM inbox WHERE state != 'done'").fetchone()
        return int(row[0])

    def outcomes(self) -> list[dict[str, str]]:
        rows = self.db.execute("SELECT event_id, outcome, detail FROM outcomes ORDER BY seq")
        return [{"event_id": e, "outcome": o, "detail": d} for e, o, d in rows.fetchall()]
