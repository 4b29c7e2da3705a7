"""GitHub: ``X-Hub-Signature-256: sha256=<hex>`` over the body, keyed with the secret.

GitHub signs no timestamp, so there is no replay window to check. Its event
type is a header (``X-GitHub-Event``, plus the body's ``action``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from harness.schemes._scheme import (
    Scheme,
    SignatureError,
    check_secret,
    header,
    hmac_sha256,
)

HEADER = "X-Hub-Signature-256"
LEGACY_HEADER = "X-Hub-Signature"


def signature(body: bytes, secret: str) -> str:
    """``sha256=<hex>`` over the body."""
    check_secret(secret, "github")
    return "sha256=" + hmac_sha256(secret.encode("utf-8"), body).hex()


def verify_header(body: bytes, value: str | None, secret: str) -> None:
    """Check an ``X-Hub-Signature-256`` value. GitHub signs no timestamp: no replay window."""
    if not value:
        raise SignatureError("github: no X-Hub-Signature-256 header")
    if not hmac.compare_digest(signature(body, secret).encode(), value.strip().encode()):
        raise SignatureError("github: signature does not match the body")


def _sign(body: bytes, secret: str, now: float, event_id: str, fixture: str) -> dict[str, str]:
    # GitHub still sends the SHA-1 header whenever a secret is set.
    check_secret(secret, "github")
    legacy = hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()
    return {HEADER: signature(body, secret), LEGACY_HEADER: f"sha1={legacy}"}


def _verify(
    body: bytes, headers: Mapping[str, str], secret: str, now: float, tolerance: float | None
) -> None:
    verify_header(body, header(headers, HEADER), secret)


def _event_type(event: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    kind = header(headers, "x-github-event") or ""
    if kind and isinstance(event.get("action"), str):
        kind += "." + event["action"]
    return kind


SCHEME = Scheme(
    name="github",
    rank=30,
    signature_headers=frozenset({HEADER.lower(), LEGACY_HEADER.lower()}),
    sign=_sign,
    verify=_verify,
    new_secret=lambda: secrets.token_hex(32),
    delivery_id_headers=("x-github-delivery",),
    event_type=_event_type,
)
