"""Standard Webhooks signature check: HMAC-SHA256 over "<id>.<timestamp>.<raw body>".

The key is the base64-decoded part of the `whsec_…` secret. The header may
carry several space-separated signatures (secret rotation); one match is enough.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass


class SignatureError(ValueError):
    pass


@dataclass(frozen=True)
class Verified:
    message_id: str
    timestamp: int


def secret_key(secret: str) -> bytes:
    encoded = secret.removeprefix("whsec_")
    # Secrets get shown without padding and in the URL-safe alphabet; accept both.
    encoded = encoded.replace("-", "+").replace("_", "/") + "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("secret is not whsec_ followed by base64") from None
    if not key:
        raise SignatureError("secret decodes to an empty key")
    return key


def _header(headers: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = headers.get(name)
        if value:
            return value
    return ""


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> Verified:
    """Check the signature headers (case-insensitive mapping expected); raise SignatureError."""
    msg_id = _header(headers, "webhook-id", "svix-id")
    stamp = _header(headers, "webhook-timestamp", "svix-timestamp")
    signatures = _header(headers, "webhook-signature", "svix-signature")
    if not (msg_id and stamp and signatures):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError(f"webhook-timestamp {stamp[:20]!r} is not an integer") from None
    current = time.time() if now is None else now
    # Two-sided: a far-future timestamp is as suspect as an old one.
    if tolerance_s > 0 and abs(current - timestamp) > tolerance_s:
        raise SignatureError(f"webhook-timestamp outside the {tolerance_s:g}s tolerance")
    mac = hmac.new(secret_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    expected = mac.digest()
    for entry in signatures.split():
        version, sep, value = entry.partition(",")
        if version != "v1" or not sep:
            continue
        try:
            candidate = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, candidate):
            return Verified(message_id=msg_id, timestamp=timestamp)
    raise SignatureError("no v1 signature matches the body")
