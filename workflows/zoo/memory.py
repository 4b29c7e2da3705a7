"""Pieces the mutants share: an inbox that lives in memory, and a header rewrite."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from workflows.hardened.inbox import SCHEMA, Inbox

RequestHook = Callable[[httpx.Request], Awaitable[None]]


class MemoryInbox(Inbox):
    """The hardened inbox, kept in memory: gone, with everything it knew, when the process dies.

    ``forget_after_s`` also prunes finished events that old, as a dedupe cache
    with an expiry does.
    """

    def __init__(self, path: Path, forget_after_s: float | None = None) -> None:
        # The state folder is ignored on purpose: nothing reaches the disk.
        self.db = sqlite3.connect(":memory:")
        self.db.executescript(SCHEMA)
        self.forget_after_s = forget_after_s

    def accept(self, **event: object) -> bool:
        if self.forget_after_s is not None:
            with self.db:
                self.db.execute(
                    "DELETE FROM inbox WHERE state = 'done' AND received_at < ?",
                    (time.time() - self.forget_after_s,),
                )
        return super().accept(**event)  # type: ignore[arg-type]


def add_request_hook(http: httpx.AsyncClient, hook: RequestHook) -> None:
    """Run ``hook`` on every request the client sends (each retry is a request)."""
    hooks = http.event_hooks
    hooks["request"] = [*hooks.get("request", []), hook]
    http.event_hooks = hooks
