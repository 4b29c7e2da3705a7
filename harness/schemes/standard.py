"""Standard Webhooks (and Svix, which names its headers ``svix-*``).

``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature: v1,<base64>``,
HMAC-SHA256 over ``b"<id>.<ts>." + body``, keyed with the base64-decoded part
of the secret after ``whsec_``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Mapping

from harness.schemes._scheme import (
    DEFAULT_TOLERANCE_S,
    Scheme,
    SignatureError,
    SigningError,
    check_now,
    check_secret,
    check_time,
    header,
    hmac_sha256,
    parse_int,
)

ID = "webhook-id"
TIMESTAMP = "webhook-timestamp"
SIGNATURE = "webhook-signature"


def key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64-decode what follows ``whsec_``."""
    check_secret(secret, "standard")
    encoded = secret.removeprefix("whsec_")
    # Secrets are sometimes shown without padding; restore it before a strict decode.
    encoded += "=" * (-len(encoded) % 4)
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SigningError(
            "standard: the secret is not whsec_ followed by base64 (value not shown)"
        ) from None
    if not decoded:
        raise SigningError("standard: the secret decodes to an empty key")
    return decoded


def signature(body: bytes, secret: str, msg_id: str, timestamp: int) -> str:
    """``v1,<base64>`` over ``b"<id>.<t>." + body`` with the decoded key."""
    mac = hmac_sha256(key(secret), f"{msg_id}.{timestamp}.".encode() + body)
    return "v1," + base64.b64encode(mac).decode("ascii")


def verify_headers(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    now: float,
    tolerance: float | None = DEFAULT_TOLERANCE_S,
) -> str:
    """Check Standard Webhooks (or Svix-named) headers; return the message id."""
    msg_id = header(headers, ID) or header(headers, "svix-id")
    ts_text = header(headers, TIMESTAMP) or header(headers, "svix-timestamp")
    signatures = header(headers, SIGNATURE) or header(headers, "svix-signature")
    if not (msg_id and ts_text and signatures):
        raise SignatureError("standard: missing webhook-id, webhook-timestamp or webhook-signature")
    timestamp = parse_int("standard", ts_text)
    check_time("standard", timestamp, now, tolerance)
    expected = base64.b64decode(signature(body, secret, msg_id, timestamp)[3:])
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


def _sign(body: bytes, secret: str, now: float, event_id: str, fixture: str) -> dict[str, str]:
    t = check_now(now)
    # The spec forbids '.' in the id: it would shift the signed string's fields.
    if "." in event_id or not event_id.strip():
        raise SigningError(
            f"standard: event_id {event_id!r} of fixture {fixture!r} cannot be a webhook-id "
            "(empty or contains '.')"
        )
    return {ID: event_id, TIMESTAMP: str(t), SIGNATURE: signature(body, secret, event_id, t)}


def _verify(
    body: bytes, headers: Mapping[str, str], secret: str, now: float, tolerance: float | None
) -> None:
    verify_headers(body, headers, secret, now=now, tolerance=tolerance)


def _new_secret() -> str:
    # The HMAC key is the base64 after whsec_; a url-safe token has '-' and '_',
    # which strict base64 refuses, so encode random bytes with the standard alphabet.
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


SCHEME = Scheme(
    name="standard",
    rank=20,
    signature_headers=frozenset({SIGNATURE, "svix-signature"}),
    framing_headers=frozenset({ID, TIMESTAMP, "svix-id", "svix-timestamp"}),
    sign=_sign,
    verify=_verify,
    new_secret=_new_secret,
    delivery_id_headers=(ID, "svix-id"),
)
