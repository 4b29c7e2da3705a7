"""Webhook signatures for replaying captured requests.

The schemes themselves (Stripe, Standard Webhooks, GitHub, Shopify: all
HMAC-SHA256 over the exact body bytes) live in ``harness.schemes``, one
module each; this module signs and checks a captured request by its scheme.

A replay is signed afresh with the time the sender chooses, so a "stale
timestamp" fault is only ``sign(req, secret, now=time.time() - 600)``.

Secrets are never put into messages, reprs or logs: every error here names
the scheme and the problem, never the key or an expected signature.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.inputs.fixtures import HOP_BY_HOP, CapturedRequest
from harness.schemes import (
    DEFAULT_TOLERANCE_S,
    NONE,
    SCHEMES,
    SIGNATURE_HEADERS,
    SignatureError,
    SigningError,
)

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "SignatureError",
    "SigningError",
    "generate_secret",
    "replay_headers",
    "sign",
    "verify",
    "verify_request",
]


def generate_secret(scheme: str) -> str:
    """A fresh random signing secret in the form ``scheme`` needs ("" for ``none``).

    For throwaway drills: the sender and the workflow must agree on it, and our
    own signer must accept it.
    """
    if scheme == NONE:
        return ""
    if scheme not in SCHEMES:
        raise SigningError(f"unknown signing scheme {scheme!r}")
    return SCHEMES[scheme].new_secret()


def sign(req: CapturedRequest, secret: str, now: float) -> dict[str, str]:
    """The signature headers to send with ``req`` at time ``now`` (unix seconds).

    Only the signature headers are returned; ``replay_headers`` gives the full set.
    """
    scheme = SCHEMES.get(req.signing)
    if scheme is None:
        return {}
    return scheme.sign(req.body, secret, now, req.event_id, req.id)


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
    if scheme == NONE:
        return
    if scheme not in SCHEMES:
        raise SignatureError(f"unknown signing scheme {scheme!r}")
    SCHEMES[scheme].verify(body, headers, secret, now, tolerance)


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
