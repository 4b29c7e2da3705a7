"""GitHub `issues` deliveries: the signature check and the ticket an issue maps to.

GitHub signs the raw body with HMAC-SHA256 (`X-Hub-Signature-256: sha256=<hex>`)
and no timestamp. An issue carries no version counter, so its `updated_at`
(as Unix seconds) serves as the ticket's revision.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class DeliveryError(ValueError):
    pass


def verify(body: bytes, header: str | None, secret: str) -> None:
    if not header:
        raise DeliveryError("missing X-Hub-Signature-256")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), header.strip().encode()):
        raise DeliveryError("X-Hub-Signature-256 does not match the body")


@dataclass(frozen=True)
class IssueChange:
    action: str
    external_id: str
    subject: str
    description: str
    status: str
    revision: int

    def ticket(self) -> dict[str, Any]:
        return {
            "external_id": self.external_id,
            "subject": self.subject,
            "description": self.description,
            "status": self.status,
            "revision": self.revision,
        }


def issue_change(body: bytes) -> IssueChange:
    try:
        payload = json.loads(body)
        action = payload["action"]
        issue = payload["issue"]
        repo = payload["repository"]["name"]
        number = int(issue["number"])
        updated = datetime.fromisoformat(issue["updated_at"].replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DeliveryError(f"not an issues payload: {type(exc).__name__}: {exc}") from None
    return IssueChange(
        action=str(action),
        external_id=f"gh-{repo}-{number}",
        subject=str(issue.get("title") or ""),
        description=str(issue.get("body") or ""),
        # The helpdesk speaks open/closed only; GitHub's close reasons are details.
        status="closed" if issue.get("state") == "closed" else "open",
        revision=int(updated.timestamp()),
    )
