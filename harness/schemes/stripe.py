"""Stripe: ``Stripe-Signature: t=<ts>,v1=<hex>``.

HMAC-SHA256 over ``b"<ts>." + body``, keyed with the whole secret string.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping

from harness.schemes._scheme import (
    DEFAULT_TOLERANCE_S,
    Scheme,
    SignatureError,
    check_now,
    check_secret,
    check_time,
    header,
    hmac_sha256,
    parse_int,
)

HEADER = "Stripe-Signature"


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """Lower-case hex HMAC of ``b"<t>." + body``, keyed with the whole secret string."""
    check_secret(secret, "stripe")
    return hmac_sha256(secret.encode("utf-8"), f"{timestamp}.".encode() + body).hex()


def verify_header(
    body: bytes,
    value: str | None,
    secret: str,
    *,
    now: float,
    tolerance: float | None = DEFAULT_TOLERANCE_S,
) -> int:
    """Check a ``Stripe-Signature`` value; return its timestamp. Any ``v1`` may match."""
    if not value:
        raise SignatureError("stripe: no Stripe-Signature header")
    timestamps: list[str] = []
    candidates: list[str] = []
    for item in value.split(","):
        key, sep, part = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamps.append(part)
        elif key == "v1":
            candidates.append(part)
    if len(timestamps) != 1:
        raise SignatureError("stripe: header needs exactly one t= timestamp")
    timestamp = parse_int("stripe", timestamps[0])
    if not candidates:
        raise SignatureError("stripe: no v1 signature in header")
    expected = signature(body, secret, timestamp)
    # Bytes, not str: compare_digest refuses non-ASCII str, and a header may hold anything.
    if not any(hmac.compare_digest(expected.encode(), c.encode("utf-8")) for c in candidates):
        raise SignatureError("stripe: no v1 signature matches the body")
    check_time("stripe", timestamp, now, tolerance)
    return timestamp


def _sign(body: bytes, secret: str, now: float, event_id: str, fixture: str) -> dict[str, str]:
    t = check_now(now)
    return {HEADER: f"t={t},v1={signature(body, secret, t)}"}


def _verify(
    body: bytes, headers: Mapping[str, str], secret: str, now: float, tolerance: float | None
) -> None:
    verify_header(body, header(headers, HEADER), secret, now=now, tolerance=tolerance)


def _new_secret() -> str:
    # Stripe keys its HMAC with the whole string, so any printable token will do.
    return "whsec_" + secrets.token_urlsafe(24)


SCHEME = Scheme(
    name="stripe",
    rank=10,
    signature_headers=frozenset({HEADER.lower()}),
    sign=_sign,
    verify=_verify,
    new_secret=_new_secret,
)
