"""no-key-memory-dedupe: no Idempotency-Key, and event ids deduped in a short-lived memory cache.

The classic: "we dedupe on the event id" with a dict (or a cache with an
expiry) in the process, and no key on the partner call. It holds on a calm
day. A redelivery after a restart (or after the cache forgot the id) is new
again, and so is every retry after a lost answer: the partner ships twice.
Caught by exactly_once (duplicated) after a workflow restart or a lost answer.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from workflows.hardened.client import PartnerClient

from .memory import MemoryInbox, add_request_hook

# How long a finished event id is remembered (seconds).
FORGET_AFTER_S = float(os.environ.get("ZOO_DEDUPE_TTL_S", "5"))


async def _no_key(request: httpx.Request) -> None:
    request.headers.pop("Idempotency-Key", None)


class KeylessClient(PartnerClient):
    def __init__(self, http: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        super().__init__(http, *args, **kwargs)
        add_request_hook(http, _no_key)


class CacheInbox(MemoryInbox):
    def __init__(self, path: Path) -> None:
        super().__init__(path, forget_after_s=FORGET_AFTER_S)


def install(app: ModuleType) -> None:
    app.PartnerClient = KeylessClient  # type: ignore[attr-defined]
    app.Inbox = CacheInbox  # type: ignore[attr-defined]
