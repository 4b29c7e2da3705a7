"""One way to make the harness's HTTP clients.

httpx builds a fresh TLS context for every client, loading the system's CA
bundle each time: about 45 ms of CPU, nine times per drill, for clients that
speak plain HTTP on loopback. The context is built once per process here and
shared, so verification stays on for any https URL a pilot names.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's one verifying TLS context (system CA bundle), built on first use."""
    return ssl.create_default_context()


def client(**kwargs: Any) -> httpx.AsyncClient:
    """``httpx.AsyncClient(**kwargs)`` with the process's shared TLS context."""
    kwargs.setdefault("verify", tls_context())
    return httpx.AsyncClient(**kwargs)
