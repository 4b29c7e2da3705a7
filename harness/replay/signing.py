"""Webhook signatures for replaying captured requests.

Four provider schemes, all HMAC-SHA256 over the exact body bytes:

    stripe    Stripe-Signature: t=<ts>,v1=<hex>       over b"<ts>." + body, key = secret as is
    standard  webhook-id / -timestamp / -signature     over b"<id>.<ts>." + body,
              signature "v1,<base64>", key = base64-decoded part after "whsec_"
    github    X-Hub-Signature-256: sha256=<hex>       over body, key = secret
    shopify   X-Shopify-Hmac-Sha256: <base64>          over body, key = secret

A replay is signed afresh with the time the sender chooses, so a "stale
timestamp" fault is only ``sign(req, secret, now=time.time() - 600)``.

Secrets are never put into messages, reprs or logs: every error here names
the scheme and the problem, never the key or an expected signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
from collections.abc import Mapping

from harness.inputs.fixtures import CapturedRequest

DEFAULT_TOLERANCE_S = 300.0

STRIPE_HEADER = "Stripe-Signature"
STANDARD_ID = "webhook-id"
STANDARD_TIMESTAMP = "webhook-timestamp"
STANDARD_SIGNATURE = "webhook-signature"
GITHUB_HEADER = "X-Hub-Signature-256"
GITHUB_LEGACY_HEADER = "X-Hub-Signature"
SHOPIFY_HEADER = "X-Shopify-Hmac-Sha256"

# Every header that carries or frames a signature in some scheme; a replay
# drops all of them from the captured set before adding fresh ones.
SIGNATURE_HEADERS = frozenset(
    name.lower()
    for name in (
        STRIPE_HEADER,
        STANDARD_ID,
        STANDARD_TIMESTAMP,
        STANDARD_SIGNATURE,
        "svix-id",
        "svix-timestamp",
        "svix-signature",
        GITHUB_HEADER,
        GITHUB_LEGACY_HEADER,
        SHOPIFY_HEADER,
        "shopify-hmac-sha256",
    )
)
# Framing headers the HTTP client must compute for the bytes it sends.
HOP_BY_HOP = frozenset(
    (
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "upgrade",
        "proxy-connection",
        "trailer",
    )
)


class SigningError(ValueError):
    """A request cannot be signed (bad secret, bad time, unsignable id)."""


class SignatureError(ValueError):
    """A signature did not verify; the message says why without revealing the key."""


def _check_secret(secret: str, scheme: str) -> None:
    if not isinstance(secret, str) or not secret:
        raise SigningError(f"{scheme}: the signing secret is empty or not a string")


def _check_now(now: float) -> int:
    if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
        raise SigningError("now must be a finite number of seconds since the epoch")
    if now < 0:
        raise SigningError("now must not be negative")
    return int(now)


def generate_secret(scheme: str) -> str:
    """A fresh random signing secret in the form ``scheme`` needs ("" for ``none``).

    For throwaway drills: the sender and the workflow must agree on it, and our
    own signer must accept it.
    """
    if scheme == "standard":
        # The HMAC key is the base64 after whsec_; a url-safe token has '-' and '_',
        # which strict base64 refuses, so encode random bytes with the standard alphabet.
        return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")
    if scheme == "stripe":
        # Stripe keys its HMAC with the whole string, so any printable token will do.
        return "whsec_" + secrets.token_urlsafe(24)
    if scheme in ("github", "shopify"):
        return secrets.token_hex(32)
    if scheme == "none":
        return ""
    raise SigningError(f"unknown signing scheme {scheme!r}")


def standard_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64-decode what follows ``whsec_``."""
    _check_secret(secret, "standard")
    encoded = secret.removeprefix("whsec_")
    # Secrets are sometimes shown without padding; restore it before a strict decode.
    encoded += "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SigningError(
            "standard: the secret is not whsec_ followed by base64 (value not shown)"
        ) from None
    if not key:
        raise SigningError("standard: the secret decodes to an empty key")
    return key


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    """Lower-case hex HMAC of ``b"<t>." + body``, keyed with the whole secret string."""
    _check_secret(secret, "stripe")
    return _hmac(secret.encode("utf-8"), f"{timestamp}.".encode() + body).hex()


def standard_signature(body: bytes, secret: str, msg_id: str, timestamp: int) -> str:
    """``v1,<base64>`` over ``b"<id>.<t>." + body`` with the decoded key."""
    mac = _hmac(standard_key(secret), f"{msg_id}.{timestamp}.".encode() + body)
    return "v1," + base64.b64encode(mac).decode("ascii")


def github_signature(body: bytes, secret: str) -> str:
    """``sha256=<hex>`` over the body."""
    _check_secret(secret, "github")
    return "sha256=" + _hmac(secret.encode("utf-8"), body).hex()


def shopify_signature(body: bytes, secret: str) -> str:
    """Base64 (not hex) HMAC over the body."""
    _check_secret(secret, "shopify")
    return base64.b64encode(_hmac(secret.encode("utf-8"), body)).decode("ascii")


def sign(req: CapturedRequest, secret: str, now: float) -> dict[str, str]:
    """The signature headers to send with ``req`` at time ``now`` (unix seconds).

    Only the signature headers are returned; ``replay_headers`` gives the full set.
    """
    body = req.body
    if req.signing == "stripe":
        t = _check_now(now)
        return {STRIPE_HEADER: f"t={t},v1={stripe_signature(body, secret, t)}"}
    if req.signing == "standard":
        t = _check_now(now)
        msg_id = req.event_id
        # The spec forbids '.' in the id: it would shift the signed string's fields.
        if "." in msg_id or not msg_id.strip():
            raise SigningError(
                f"standard: event_id {msg_id!r} of fixture {req.id!r} cannot be a webhook-id "
                "(empty or contains '.')"
            )
        return {
            STANDARD_ID: msg_id,
            STANDARD_TIMESTAMP: str(t),
            STANDARD_SIGNATURE: standard_signature(body, secret, msg_id, t),
        }
    if req.signing == "github":
        # GitHub still sends the SHA-1 header whenever a secret is set.
        _check_secret(secret, "github")
        legacy = hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()
        return {
            GITHUB_HEADER: github_signature(body, secret),
            GITHUB_LEGACY_HEADER: f"sha1={legacy}",
        }
    if req.signing == "shopify":
        return {SHOPIFY_HEADER: shopify_signature(body, secret)}
    return {}


def replay_headers(req: CapturedRequest, secret: str, now: float) -> dict[str, str]:
    """Every header to send for a replay: the captured ones minus stale signature and
    framing headers, plus fresh signature headers from ``sign``."""
    kept = {
        name: value
        for name, value in req.headers.items()
        if name.lower() not in SIGNATURE_HEADERS
        and name.lower() not in HOP_BY_HOP
        and not name.startswith(":")
    }
    kept.update(sign(req, secret, now))
    return kept


def _get(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _check_time(scheme: str, timestamp: int, now: float, tolerance: float | None) -> None:
    if tolerance is None:
        return
    age = now - timestamp
    if age > tolerance:
        raise SignatureError(f"{scheme}: timestamp too old ({age:.0f} s > {tolerance:g} s)")
    # Two-sided on purpose: a future timestamp is as suspicious as an old one.
    if -age > tolerance:
        raise SignatureError(f"{scheme}: timestamp too new ({-age:.0f} s ahead > {tolerance:g} s)")


def _parse_int(scheme: str, text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise SignatureError(f"{scheme}: timestamp is not an integer number of seconds")
    return int(text)


def verify_stripe(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    now: float,
    tolerance: float | None = DEFAULT_TOLERANCE_S,
) -> int:
    """Check a ``Stripe-Signature`` value; return its timestamp. Any ``v1`` may match."""
    if not header:
        raise SignatureError("stripe: no Stripe-Signature header")
    timestamps: list[str] = []
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            candidates.append(value)
    if len(timestamps) != 1:
        raise SignatureError("stripe: header needs exactly one t= timestamp")
    timestamp = _parse_int("stripe", timestamps[0])
    if not candidates:
        raise SignatureError("stripe: no v1 signature in header")
    expected = stripe_signature(body, secret, timestamp)
    # Bytes, not str: compare_digest refuses non-ASCII str, and a header may hold anything.
    if not any(hmac.compare_digest(expected.encode(), c.encode("utf-8")) for c in candidates):
        raise SignatureError("stripe: no v1 signature matches the body")
    _check_time("stripe", timestamp, now, tolerance)
    return timestamp


def verify_standard(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    now: float,
    tolerance: float | None = DEFAULT_TOLERANCE_S,
) -> str:
    """Check Standard Webhooks (or Svix-named) headers; return the message id."""
    msg_id = _get(headers, STANDARD_ID) or _get(headers, "svix-id")
    ts_text = _get(headers, STANDARD_TIMESTAMP) or _get(headers, "svix-timestamp")
    signatures = _get(headers, STANDARD_SIGNATURE) or _get(headers, "svix-signature")
    if not (msg_id and ts_text and signatures):
        raise SignatureError("standard: missing webhook-id, webhook-timestamp or webhook-signature")
    timestamp = _parse_int("standard", ts_text)
    _check_time("standard", timestamp, now, tolerance)
    expected = base64.b64decode(standard_signature(body, secret, msg_id, timestamp)[3:])
    for entry in signatures.split(" "):
        version, sep, value = entry.partition(",")
        if version != "v1" or not sep:
            continue
        try:
            candidate = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, candidate):
            return msg_id
    raise SignatureError("standard: no v1 signature matches the body")


def verify_github(body: bytes, header: str | None, secret: str) -> None:
    """Check an ``X-Hub-Signature-256`` value. GitHub signs no timestamp: no replay window."""
    if not header:
        raise SignatureError("github: no X-Hub-Signature-256 header")
    if not hmac.compare_digest(github_signature(body, secret).encode(), header.strip().encode()):
        raise SignatureError("github: signature does not match the body")


def verify_shopify(body: bytes, header: str | None, secret: str) -> None:
    """Check an ``X-Shopify-Hmac-Sha256`` value (base64). No timestamp is signed."""
    if not header:
        raise SignatureError("shopify: no X-Shopify-Hmac-Sha256 header")
    if not hmac.compare_digest(shopify_signature(body, secret).encode(), header.strip().encode()):
        raise SignatureError("shopify: signature does not match the body")


def verify(
    scheme: str,
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    now: float,
    tolerance: float | None = DEFAULT_TOLERANCE_S,
) -> None:
    """Verify ``headers`` for ``body`` under ``scheme``; raise SignatureError if not valid.

    ``tolerance`` (seconds, both directions) applies to the schemes that sign a
    timestamp; ``None`` turns the window off.
    """
    if scheme == "stripe":
        verify_stripe(body, _get(headers, STRIPE_HEADER), secret, now=now, tolerance=tolerance)
    elif scheme == "standard":
        verify_standard(body, headers, secret, now=now, tolerance=tolerance)
    elif scheme == "github":
        verify_github(body, _get(headers, GITHUB_HEADER), secret)
    elif scheme == "shopify":
        verify_shopify(
            body,
            _get(headers, SHOPIFY_HEADER) or _get(headers, "shopify-hmac-sha256"),
            secret,
        )
    elif scheme != "none":
        raise SignatureError(f"unknown signing scheme {scheme!r}")


def verify_request(
    req: CapturedRequest,
    headers: Mapping[str, str],
    secret: str,
    *,
    now: float,
    tolerance: float | None = DEFAULT_TOLERANCE_S,
) -> None:
    """``verify`` for a captured request's own scheme and body."""
    verify(req.signing, req.body, headers, secret, now=now, tolerance=tolerance)
