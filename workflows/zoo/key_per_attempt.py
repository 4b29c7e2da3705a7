"""key-per-attempt: a fresh Idempotency-Key on every retry.

The classic: the key is made inside the retry loop (a new UUID per HTTP call)
instead of once per logical operation. A call whose answer was lost (a
timeout after the partner applied it) is retried under a new key, so the
partner applies it again: a second shipment. Caught by exactly_once
(duplicated) under a lost answer or a partner timeout.
"""

from __future__ import annotations

import uuid
from types import ModuleType
from typing import Any

import httpx

from workflows.hardened.client import PartnerClient

from .memory import add_request_hook


async def _fresh_key(request: httpx.Request) -> None:
    if "Idempotency-Key" in request.headers:
        request.headers["Idempotency-Key"] = uuid.uuid4().hex


class KeyPerAttemptClient(PartnerClient):
    def __init__(self, http: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        super().__init__(http, *args, **kwargs)
        add_request_hook(http, _fresh_key)


def install(app: ModuleType) -> None:
    app.PartnerClient = KeyPerAttemptClient  # type: ignore[attr-defined]
