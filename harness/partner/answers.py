"""Building HTTP answers: a route's templated answer, error bodies, idempotent replays."""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse, Response

from .entities import Entity
from .handed_ids import with_fresh_id
from .idempotency import StoredResponse
from .selectors import MISSING
from .spec import RouteSpec
from .templating import render

_NO_BODY = frozenset({204, 304})


def error(status: int, code: str, message: str, headers: Mapping[str, str]) -> Response:
    """A JSON error answer, `{"error": {"code", "message"}}`, with the partner's usual headers."""
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status, headers=dict(headers)
    )


def now_rfc3339(wall: float) -> str:
    """`wall` (epoch seconds) as RFC 3339 in UTC, to the millisecond, with a Z."""
    return (
        datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def template_sources(
    sources: Mapping[str, Any], entity: Entity | None, effect_id: str | None, wall: float
) -> dict[str, Any]:
    """Request selectors plus `{id}`, `{entity.*}` and `{now}`."""
    latest = entity.ids[-1] if entity is not None and entity.ids else None
    return {
        **sources,
        "id": effect_id or latest or MISSING,
        "entity": entity.view() if entity is not None else MISSING,
        "now": now_rfc3339(wall),
    }


def route_answer(
    spec: RouteSpec, sources: Mapping[str, Any], fresh_id: Callable[[Any], Any] | None = None
) -> StoredResponse:
    """The route's answer as bytes, so an idempotent replay is byte-for-byte the same.

    `fresh_id` makes the id at the route's `answer_id` from the one written there.
    """
    headers = dict(spec.headers)
    has_type = any(k.lower() == "content-type" for k in headers)
    if spec.status in _NO_BODY:
        content = b""
    elif spec.body_text is not None:
        content = spec.body_text.encode()
        if not has_type:
            headers["Content-Type"] = "text/plain; charset=utf-8"
    elif spec.body is not None:
        value = render(spec.body, sources) if spec.template else spec.body
        if fresh_id is not None and spec.answer_id:
            value = with_fresh_id(value, spec.answer_id, fresh_id)
        content = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        if not has_type:
            headers["Content-Type"] = "application/json"
    else:
        content = b""
    return StoredResponse(spec.status, content, headers)


def from_stored(
    stored: StoredResponse, headers: Mapping[str, str], *, replayed: bool = False
) -> Response:
    """The stored answer again, for an idempotent retry;
    `replayed` adds Idempotent-Replayed: true."""
    extra = {"Idempotent-Replayed": "true"} if replayed else {}
    return Response(stored.body, stored.status, headers={**stored.headers, **headers, **extra})


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
