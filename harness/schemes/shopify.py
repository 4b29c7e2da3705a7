"""Shopify: ``X-Shopify-Hmac-Sha256: <base64>`` over the body, keyed with the secret.

No timestamp is signed. A Shopify body is the resource itself (the order),
so its "id" names the entity, not the event; the topic header is the type.
"""

from __future__ import annotations

import base64
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
    is_id,
)

HEADER = "X-Shopify-Hmac-Sha256"
# Newer deliveries drop the X- prefix.
BARE_HEADER = "shopify-hmac-sha256"


def signature(body: bytes, secret: str) -> str:
    """Base64 (not hex) HMAC over the body."""
    check_secret(secret, "shopify")
    return base64.b64encode(hmac_sha256(secret.encode("utf-8"), body)).decode("ascii")


def verify_header(body: bytes, value: str | None, secret: str) -> None:
    """Check an ``X-Shopify-Hmac-Sha256`` value (base64). No timestamp is signed."""
    if not value:
        raise SignatureError("shopify: no X-Shopify-Hmac-Sha256 header")
    if not hmac.compare_digest(signature(body, secret).encode(), value.strip().encode()):
        raise SignatureError("shopify: signature does not match the body")


def _sign(body: bytes, secret: str, now: float, event_id: str, fixture: str) -> dict[str, str]:
    return {HEADER: signature(body, secret)}


def _verify(
    body: bytes, headers: Mapping[str, str], secret: str, now: float, tolerance: float | None
) -> None:
    verify_header(body, header(headers, HEADER) or header(headers, BARE_HEADER), secret)


def _event_type(event: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    return header(headers, "x-shopify-topic") or header(headers, "shopify-topic") or ""


def _entity_id(event: Mapping[str, Any]) -> str:
    return str(event["id"]) if is_id(event.get("id")) else ""


SCHEME = Scheme(
    name="shopify",
    rank=40,
    signature_headers=frozenset({HEADER.lower(), BARE_HEADER}),
    sign=_sign,
    verify=_verify,
    new_secret=lambda: secrets.token_hex(32),
    delivery_id_headers=("x-shopify-webhook-id", "shopify-webhook-id"),
    body_id_is_event=False,
    event_type=_event_type,
    entity_id=_entity_id,
)
