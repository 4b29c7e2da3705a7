"""How long an answer asked its caller to wait: read the same way for partners and sources.

Standard library only, so the lab's own servers (the poll source) read a wait
as the partner simulator does without loading the simulator.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping

__all__ = ["asked_wait_s"]

# Answers that ask the caller to come back later, and may say when.
_WAIT_STATUSES = frozenset({429, 503})
_RESET_PARAM = re.compile(r"(?:^|[;,\s])(?:reset|t)=(\d+(?:\.\d+)?)")


def asked_wait_s(status: int, headers: Mapping[str, str], wall: float) -> float | None:
    """Seconds a 429/503 answer asked the caller to wait, or None when it named no time.

    Retry-After (delay-seconds or an HTTP date) first; then the RateLimit
    headers' reset, as the IETF drafts write it: `RateLimit-Reset: 3` (draft 6)
    or `RateLimit: limit=10, remaining=0, reset=3` / `RateLimit: "p";r=0;t=3`.
    """
    if status not in _WAIT_STATUSES:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    raw = lower.get("retry-after", "").strip()
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when.timestamp() - wall)
    reset = lower.get("ratelimit-reset", "").strip()
    if reset:
        try:
            return max(0.0, float(reset))
        except ValueError:
            pass
    match = _RESET_PARAM.search(lower.get("ratelimit", ""))
    return float(match.group(1)) if match else None
