"""The tests' HTTP clients, all sharing the process's one TLS context.

Every ``httpx.Client`` (and every ``httpx.get``, which makes one) loads the
system's CA bundle into a fresh TLS context: about 40 ms of CPU, spent
hundreds of times over the suite on clients that speak plain HTTP on
loopback. These helpers pass the harness's shared context instead
(``harness.runtime.http.tls_context``), so verification stays as it was for
any https URL. ``get``/``post``/``request`` still open and close a client per
call, as httpx's module-level functions do, so no connection outlives a call.
"""

from __future__ import annotations

from typing import Any

import httpx

from harness.runtime.http import tls_context


def client(**kwargs: Any) -> httpx.Client:
    """``http_kit.client(**kwargs)`` with the shared TLS context."""
    kwargs.setdefault("verify", tls_context())
    return httpx.Client(**kwargs)


def async_client(**kwargs: Any) -> httpx.AsyncClient:
    """``http_kit.async_client(**kwargs)`` with the shared TLS context."""
    kwargs.setdefault("verify", tls_context())
    return httpx.AsyncClient(**kwargs)


def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """``httpx.request``: one request on a client of its own."""
    with client() as http:
        return http.request(method, url, **kwargs)


def get(url: str, **kwargs: Any) -> httpx.Response:
    """``httpx.get``: one GET on a client of its own."""
    return request("GET", url, **kwargs)


def post(url: str, **kwargs: Any) -> httpx.Response:
    """``httpx.post``: one POST on a client of its own."""
    return request("POST", url, **kwargs)
