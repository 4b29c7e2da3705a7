"""retry-after-ignored: a throttled call is retried at once, in a tight loop.

The classic retry storm: a 429 is treated like any error, its Retry-After
unread, with no backoff, so a throttling partner is hammered until the
allowance runs out (30 throttled answers per call here, on loopback). Caught
by retry_after_honoured and call_budget when the partner throttles.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from types import ModuleType

from workflows.hardened import client

# Throttled answers it retries before giving up: the hardened default is 32,
# spread over the waits the partner asks for; here they come at once.
MAX_THROTTLED = 30


@dataclass(frozen=True)
class NoBackoff(client.RetryPolicy):
    def backoff(self, failures: int, rng: random.Random) -> float:
        return 0.0


def storm_policy(
    max_attempts: int = 8, max_throttled: int = 32, base_s: float = 0.05, cap_s: float = 2.0
) -> client.RetryPolicy:
    return NoBackoff(
        max_attempts=max_attempts,
        max_throttled=min(max_throttled, MAX_THROTTLED),
        base_s=base_s,
        cap_s=cap_s,
    )


def _never_asked(response: object, now: float | None = None) -> float | None:
    return None


def install(app: ModuleType) -> None:
    app.RetryPolicy = storm_policy  # type: ignore[attr-defined]
    client.retry_after_s = _never_asked
