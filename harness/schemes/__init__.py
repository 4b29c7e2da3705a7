"""Webhook signing schemes, one module each, and the registry that finds them.

Every module here (but the ``_``-prefixed ones) defines ``SCHEME``, a
:class:`Scheme`: its signature headers, how to sign and verify, a fresh
secret, and which headers and body fields carry the event's keys in a
capture. The fixture reader, the HAR import and the sender all go through
``SCHEMES``, so adding a provider is adding one module (and its test).

The package imports nothing else of ``harness`` (layer 0 in
docs/architecture.md): inputs and replay both build on it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from harness.schemes._scheme import (
    DEFAULT_TOLERANCE_S,
    Scheme,
    SignatureError,
    SigningError,
    header,
)

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "NAMES",
    "NONE",
    "SCHEMES",
    "SIGNATURE_HEADERS",
    "Scheme",
    "SignatureError",
    "SigningError",
    "detect",
    "header",
]

# A request sent unsigned: not a scheme, the absence of one.
NONE = "none"


def _discover() -> dict[str, Scheme]:
    found: list[Scheme] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        scheme = getattr(importlib.import_module(f"{__name__}.{info.name}"), "SCHEME", None)
        if not isinstance(scheme, Scheme) or scheme.name != info.name:
            # A programming error in a scheme module, not bad input.
            raise ImportError(f"{__name__}.{info.name} must define SCHEME, a Scheme named so")
        found.append(scheme)
    return {s.name: s for s in sorted(found, key=lambda s: (s.rank, s.name))}


SCHEMES: Mapping[str, Scheme] = _discover()
# Every value a fixture's ``signing`` may take, in the order people are shown them.
NAMES: tuple[str, ...] = (*SCHEMES, NONE)
# Every header that carries or frames a signature in some scheme; a replay
# drops all of them from the captured set before adding fresh ones.
SIGNATURE_HEADERS = frozenset(h for s in SCHEMES.values() for h in s.replaced_headers)


def detect(headers: Mapping[str, str]) -> str:
    """The scheme whose signature headers a capture carries, else ``none``."""
    names = {name.lower() for name in headers}
    return next((s.name for s in SCHEMES.values() if s.detects(names)), NONE)
