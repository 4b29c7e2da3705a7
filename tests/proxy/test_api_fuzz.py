"""Property: whatever is thrown at the control API, it answers sanely and keeps working.

Hypothesis sends random JSON bodies (and raw bytes) with random methods to
every route, and random paths. Each answer must be one of the statuses the
real server can give for that kind of route, error bodies must be the
`{"error","status"}` shape with a matching status, no answer may come from
the catch-all for internal errors, and the server must still serve
`/version` and a well-formed `/proxies` afterwards.

Every `listen` a body carries is forced to a loopback or invalid address, so
the fuzzer never opens a listener on a public interface.
"""

from __future__ import annotations

import json
import socket
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import http_kit
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

if TYPE_CHECKING:
    from tests.proxy.conftest import ServerProcess

SEED_PROXY = "fz"
SEED_TOXIC = "fzt"
SAFE_LISTEN = ["127.0.0.1:0", "localhost:0", "127.0.0.1:x", "nonsense", "127.0.0.1:99999", 7]
ALLOWED = {200, 201, 204, 301, 400, 404, 405, 409, 500}
ATTRS = ["latency", "jitter", "rate", "delay", "timeout", "average_size", "size_variation", "bytes"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
TYPES = ["latency", "bandwidth", "slicer", "timeout", "reset_peer", "limit_data", "noop"]
attribute_value = st.one_of(st.integers(-5, 10**6), st.integers(-5, 10**6), json_values)
attributes = st.fixed_dictionaries({}, optional=dict.fromkeys(ATTRS, attribute_value))
# Mostly plausible values (so requests reach deep into the handlers), often not.
known_fields = {
    "name": st.one_of(st.sampled_from([SEED_PROXY, SEED_TOXIC, "n1", ""]), json_values),
    "upstream": st.one_of(st.sampled_from(["127.0.0.1:1", "", "x:y:z"]), json_values),
    "enabled": st.one_of(st.booleans(), json_values),
    "type": st.one_of(st.sampled_from([*TYPES, "slow_close", "Latency", ""]), json_values),
    "stream": st.one_of(st.sampled_from(["upstream", "DOWNstream", "", "side"]), json_values),
    "toxicity": st.one_of(st.floats(-2, 2), st.sampled_from([1e40, 1e-50]), json_values),
    "attributes": st.one_of(attributes, attributes, json_values),
    "toxics": json_values,
    "Logger": json_values,
}
objects = st.one_of(
    st.fixed_dictionaries({}, optional=known_fields),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
)
structured = st.one_of(objects, objects, objects, st.lists(objects, max_size=3), json_values)


def _fold(key: str) -> str:
    # encoding/json matches keys case-insensitively (plus two non-ASCII folds).
    return "".join(
        "S" if c == "\u017f" else "K" if c == "\u212a" else c.upper() if c.isascii() else c
        for c in key
    )


def _safe(value: Any, listen: Any) -> Any:
    """Force every object's `listen` (in any spelling) to a harmless value."""
    if isinstance(value, list):
        return [_safe(v, listen) for v in value]
    if isinstance(value, dict):
        out = {k: v for k, v in value.items() if _fold(k) != "LISTEN"}
        return {"listen": listen, **out}
    return value


@st.composite
def bodies(draw: st.DrawFn, values: st.SearchStrategy[Any] = structured) -> bytes:
    value = _safe(draw(values), draw(st.sampled_from(SAFE_LISTEN)))
    text = json.dumps(value).encode()
    kind = draw(st.sampled_from(["json"] * 5 + ["prefix", "junk", "empty"]))
    if kind == "prefix":
        # A proper prefix of a JSON text is never a complete value.
        return text[: draw(st.integers(0, max(0, len(text) - 1)))]
    if kind == "junk":
        return draw(st.binary(max_size=64))
    if kind == "empty":
        return b""
    return text


segments = st.one_of(
    st.sampled_from([SEED_PROXY, SEED_TOXIC, "missing", "..", "."]), st.text(min_size=1, max_size=8)
)


@st.composite
def paths(draw: st.DrawFn) -> str:
    proxy = urllib.parse.quote(draw(segments), safe="")
    toxic = urllib.parse.quote(draw(segments), safe="")
    seeded = [
        f"/proxies/{SEED_PROXY}",
        f"/proxies/{SEED_PROXY}/toxics",
        f"/proxies/{SEED_PROXY}/toxics/{SEED_TOXIC}",
        "/populate",
        "/proxies",
    ]
    if draw(st.booleans()):
        return draw(st.sampled_from(seeded))
    return draw(
        st.sampled_from(
            [
                "/proxies",
                f"/proxies/{proxy}",
                f"/proxies/{proxy}/toxics",
                f"/proxies/{proxy}/toxics/{toxic}",
                f"/proxies/{SEED_PROXY}/toxics",
                f"/proxies/{SEED_PROXY}/toxics/{SEED_TOXIC}",
                f"/proxies/{SEED_PROXY}",
                "/populate",
                "/reset",
                "/version",
                "/metrics",
                f"/{proxy}/{toxic}/",
                "//proxies",
            ]
        )
    )


methods = st.one_of(
    st.sampled_from(["POST", "PATCH"]),
    st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"]),
)


# Generic requests, plus families aimed at the seeded proxy and toxic so that
# bodies reach the deeper checks (decode, merge, check(), restarts).
update_bodies = st.fixed_dictionaries(
    {}, optional={"attributes": known_fields["attributes"], "toxicity": known_fields["toxicity"]}
)
request_strategy = st.one_of(
    st.tuples(methods, paths(), bodies()),
    st.tuples(st.just("POST"), st.just(f"/proxies/{SEED_PROXY}/toxics"), bodies(objects)),
    st.tuples(
        st.sampled_from(["POST", "PATCH"]),
        st.just(f"/proxies/{SEED_PROXY}/toxics/{SEED_TOXIC}"),
        bodies(update_bodies),
    ),
    st.tuples(
        st.sampled_from(["POST", "PATCH"]), st.just(f"/proxies/{SEED_PROXY}"), bodies(objects)
    ),
    st.tuples(st.just("POST"), st.just("/populate"), bodies(st.lists(objects, max_size=3))),
)


def _seed(http: httpx.Client) -> None:
    body = {"name": SEED_PROXY, "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"}
    assert http.post("/proxies", json=body).status_code == 201
    toxic = {"name": SEED_TOXIC, "type": "latency", "attributes": {"latency": 1}}
    assert http.post(f"/proxies/{SEED_PROXY}/toxics", json=toxic).status_code == 200


def _clear(http: httpx.Client) -> None:
    proxies = http.get("/proxies")
    assert proxies.status_code == 200
    for name in proxies.json():
        assert http.delete("/proxies/" + urllib.parse.quote(name, safe="")).status_code == 204


def _check(resp: httpx.Response, method: str) -> None:
    status = resp.status_code
    assert status in ALLOWED, (status, resp.content)
    if status == 405 or status == 301:
        assert resp.content == b""
        return
    if method == "HEAD":
        return
    if status >= 400 and resp.content != b"404 page not found\n":
        text = resp.content.decode()
        data = json.loads(text)
        assert isinstance(data["error"], str) and data["status"] == status, text
        assert not data["error"].startswith("internal error"), text
        if "proxies" not in data:  # only /populate's errors are real JSON
            assert text.endswith("\n")
    elif status in (200, 201) and resp.headers.get("content-type") == "application/json":
        json.loads(resp.content)


@pytest.fixture
def api(proxy_server: ServerProcess) -> Iterator[httpx.Client]:
    # One client for every example: building one loads the CA bundle, which
    # cost more CPU than the requests it then sends.
    with http_kit.client(base_url=proxy_server.url, timeout=30, trust_env=False) as http:
        yield http


@pytest.mark.slow
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(requests=st.lists(request_strategy, min_size=1, max_size=4))
def test_api_survives_random_requests(
    proxy_server: ServerProcess, api: httpx.Client, requests: list[tuple[str, str, bytes]]
) -> None:
    _clear(api)
    api.post("/reset")
    _seed(api)
    for method, path, body in requests:
        _check(api.request(method, path, content=body), method)
    # Still alive, still answering correctly.
    version = api.get("/version")
    assert (version.status_code, version.content) == (200, b'{"version": "2.12.0"}\n')
    listing = api.get("/proxies")
    assert listing.status_code == 200
    for name, proxy in listing.json().items():
        assert proxy["name"] == name
        assert list(proxy) == ["name", "listen", "upstream", "enabled", "Logger", "toxics"]
        host = proxy["listen"].rsplit(":", 1)[0]
        # Nothing the fuzzer made may listen beyond loopback.
        assert not proxy["enabled"] or host in ("127.0.0.1", "[::1]"), proxy
    _clear(api)
    assert proxy_server.process.poll() is None, proxy_server.log()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(min_size=1, max_size=200))
def test_http_layer_survives_random_bytes(proxy_server: ServerProcess, raw: bytes) -> None:
    with socket.create_connection((proxy_server.host, proxy_server.port), timeout=10) as sock:
        sock.sendall(raw + b"\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply == b"" or reply.startswith(b"HTTP/1."), reply[:200]
    with http_kit.client(base_url=proxy_server.url, timeout=10, trust_env=False) as http:
        assert http.get("/version").status_code == 200
