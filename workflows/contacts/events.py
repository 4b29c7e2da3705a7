"""What contacts-sync reads out of an identity-provider event.

    {"type": "user.created", "timestamp": "2026-…Z",
     "data": {"id": "usr_…", "email": "…", "name": "…", "revision": 3}}

Only `user.created` and `user.updated` change contacts; other types are
acknowledged and ignored. The event id is not in the body: it is the
`webhook-id` header.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

USER_CREATED = "user.created"
USER_UPDATED = "user.updated"
HANDLED_TYPES = (USER_CREATED, USER_UPDATED)


class EventError(ValueError):
    pass


@dataclass(frozen=True)
class UserChange:
    user_id: str
    email: str
    name: str
    revision: int

    def properties(self) -> dict[str, Any]:
        first, _, last = self.name.strip().partition(" ")
        return {
            "email": self.email,
            "firstname": first,
            "lastname": last.strip(),
            "revision": self.revision,
        }


def event_type(raw: bytes) -> str:
    """The event's `type`; EventError when the body is not a JSON object with one."""
    body = _load(raw)
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        raise EventError("type: must be a non-empty string")
    return kind


def user_change(raw: bytes) -> UserChange:
    data = _load(raw).get("data")
    if not isinstance(data, dict):
        raise EventError("data: must be an object")
    user_id, email = data.get("id"), data.get("email")
    if not isinstance(user_id, str) or not user_id:
        raise EventError("data.id: must be a non-empty string")
    if not isinstance(email, str) or "@" not in email:
        raise EventError(f"data.email: must be an email address, got {email!r}")
    name = data.get("name")
    if name is None:
        name = ""
    if not isinstance(name, str):
        raise EventError(f"data.name: must be a string, got {name!r}")
    return UserChange(user_id=user_id, email=email, name=name, revision=_revision(data))


def _revision(data: dict[str, Any]) -> int:
    raw = data.get("revision", 1)
    # Some providers send numbers as strings; a digit string is still a revision.
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise EventError(f"data.revision: must be a non-negative integer, got {raw!r}")
    return raw


def _load(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EventError(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise EventError("body must be a JSON object")
    return body
