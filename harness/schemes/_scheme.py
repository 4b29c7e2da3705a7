"""What a signing scheme is: the parts every scheme module fills in, and their shared helpers.

Stdlib only, like the whole package: both the fixture reader (inputs) and the
sender (replay) use the schemes, so they sit below both.

Secrets are never put into messages, reprs or logs: every error names the
scheme and the problem, never the key or an expected signature.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TOLERANCE_S = 300.0


class SigningError(ValueError):
    """A request cannot be signed (bad secret, bad time, unsignable id)."""


class SignatureError(ValueError):
    """A signature did not verify; the message says why without revealing the key."""


# (body, secret, now in unix seconds, event id, fixture id) → the signature headers.
Sign = Callable[[bytes, str, float, str, str], dict[str, str]]
# (body, headers, secret, now, tolerance or None) → None, or SignatureError.
Verify = Callable[[bytes, Mapping[str, str], str, float, float | None], None]


def _no_event_type(event: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    return ""


def _no_entity(event: Mapping[str, Any]) -> str:
    return ""


@dataclass(frozen=True)
class Scheme:
    """One provider's webhook signature: how to recognise, sign, check and read it."""

    name: str  # as fixtures and pilots spell it (``signing = "..."``)
    rank: int  # place in lists and messages: the schemes are shown in this order
    # Lower-case headers carrying its signature: one in a capture names the scheme.
    signature_headers: frozenset[str]
    sign: Sign
    verify: Verify
    new_secret: Callable[[], str]  # a random secret in the form the scheme needs
    # Headers naming one delivery (the provider's dedupe key), first found wins.
    delivery_id_headers: tuple[str, ...] = ()
    # Whether a JSON body's own "id" names the event (not so when the body is the resource).
    body_id_is_event: bool = True
    # The event type when the body has no "type": from the scheme's headers.
    event_type: Callable[[Mapping[str, Any], Mapping[str, str]], str] = _no_event_type
    # The entity when the body has no data.object: the body itself, for some providers.
    entity_id: Callable[[Mapping[str, Any]], str] = _no_entity
    # Lower-case headers framing the signature (its id, its timestamp).
    framing_headers: frozenset[str] = field(default_factory=frozenset)

    def detects(self, names: frozenset[str] | set[str]) -> bool:
        """Whether lower-case header ``names`` of a capture carry this scheme's signature."""
        return bool(names & self.signature_headers)

    @property
    def replaced_headers(self) -> frozenset[str]:
        """What a replay drops from a capture before signing afresh."""
        return self.signature_headers | self.framing_headers


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup of one header."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def check_secret(secret: str, scheme: str) -> None:
    if not isinstance(secret, str) or not secret:
        raise SigningError(f"{scheme}: the signing secret is empty or not a string")


def check_now(now: float) -> int:
    """``now`` as whole unix seconds, refusing what no clock could say."""
    if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
        raise SigningError("now must be a finite number of seconds since the epoch")
    if now < 0:
        raise SigningError("now must not be negative")
    return int(now)


def check_time(scheme: str, timestamp: int, now: float, tolerance: float | None) -> None:
    """Refuse a signed timestamp outside ``tolerance`` seconds of ``now`` (None: no window)."""
    if tolerance is None:
        return
    age = now - timestamp
    if age > tolerance:
        raise SignatureError(f"{scheme}: timestamp too old ({age:.0f} s > {tolerance:g} s)")
    # Two-sided on purpose: a future timestamp is as suspicious as an old one.
    if -age > tolerance:
        raise SignatureError(f"{scheme}: timestamp too new ({-age:.0f} s ahead > {tolerance:g} s)")


def parse_int(scheme: str, text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise SignatureError(f"{scheme}: timestamp is not an integer number of seconds")
    return int(text)


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def is_id(value: Any) -> bool:
    """A usable identifier: a non-empty string or an integer (not a boolean)."""
    return isinstance(value, str | int) and not isinstance(value, bool) and str(value) != ""
