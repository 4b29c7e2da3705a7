"""Building HTTP answers: a route's templated answer, error bodies, idempotent replays."""

from __future__ import annotations

import json
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
