"""Stripe webhook signatures: HMAC-SHA256 over "<t>.<raw body>", hex, keyed by the whole secret."""

from __future__ import annotations

import hashlib
import hmac
import time

DEFAULT_TOLERANCE_S = 300


class SignatureError(ValueError):
    pass


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header value for `payload` (used by tests and tools)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    payload: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """Check a `Stripe-Signature` header; return its timestamp or raise SignatureError.

    The time check is two-sided: a timestamp far in the future is as suspect
    as an old one (stripe-python only checks the past; stripe-php fixed that).
    """
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(f"timestamp t={value!r} is not an integer") from None
        elif name == "v1":
            candidates.append(value)
    if timestamp is None:
        raise SignatureError("no timestamp (t=) in Stripe-Signature")
    if not candidates:
        raise SignatureError("no v1 signature in Stripe-Signature")
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    # Several v1 entries appear during secret rotation; any match passes.
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("no v1 signature matches")
    current = time.time() if now is None else now
    if tolerance_s > 0 and abs(current - timestamp) > tolerance_s:
        raise SignatureError(f"timestamp outside the {tolerance_s}s tolerance")
    return timestamp
