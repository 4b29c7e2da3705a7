"""errors-swallowed: a partner error is logged and forgotten: no retry, no dead letter.

The classic: `try: call() except Exception: log.warning(...)`, then the event
is marked done. The webhook was answered 200, so nobody sends it again, and
no dead letter says it failed: the shipment silently never exists. Caught by
exactly_once (lost, outcome "processed") when the partner fails for a moment.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import httpx

from workflows.hardened.client import PartnerClient, PartnerError, PartnerResult, RetryPolicy


class SwallowingClient(PartnerClient):
    def __init__(self, http: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        super().__init__(http, *args, **kwargs)
        self.policy = RetryPolicy(max_attempts=1, max_throttled=0)

    async def send(self, *args: Any, **kwargs: Any) -> PartnerResult:
        try:
            return await super().send(*args, **kwargs)
        except PartnerError as exc:
            # "It's fine": the error is dropped and the operation reported done.
            return PartnerResult(status=200, body={}, attempts=exc.attempts, replayed=False)


def install(app: ModuleType) -> None:
    app.PartnerClient = SwallowingClient  # type: ignore[attr-defined]
