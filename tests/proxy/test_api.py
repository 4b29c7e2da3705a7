"""The control API against Toxiproxy 2.12's observable behaviour.

Behaviours follow upstream's api_test.go (ported as a specification, not as
code) plus the byte-level facts of shared/reference/toxiproxy.md: status
codes, error bodies and their content type, JSON field order, listen echo
rules, populate/reset semantics, route misses. The server runs as a real
subprocess (see conftest.py); the toxiproxy-python client drives it where it
has a call, raw httpx checks exact bytes.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import http_kit
import httpx
import pytest
import toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

if TYPE_CHECKING:
    from tests.proxy.conftest import ServerProcess


def echo_through(address: str, payload: bytes = b"ping", timeout: float = 5.0) -> bytes:
    host, _, port = address.rpartition(":")
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def refuses(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def assert_api_error(resp: httpx.Response, status: int, message: str) -> None:
    """Go's http.Error: text/plain, nosniff, JSON text plus a newline."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    assert resp.headers["x-content-type-options"] == "nosniff"
    expected = json.dumps({"error": message, "status": status}, separators=(",", ":"))
    expected = expected.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    assert resp.content == expected.encode() + b"\n"


def create(http: httpx.Client, **body: object) -> dict[str, object]:
    body.setdefault("listen", "127.0.0.1:0")
    resp = http.post("/proxies", json=body)
    assert resp.status_code == 201, resp.text
    data: dict[str, object] = resp.json()
    return data


# ------------------------------------------------------------ middlewares, misc


def test_request_id_header_on_matched_routes(http: httpx.Client) -> None:
    first = http.get("/proxies").headers["x-toxiproxy-request-id"]
    second = http.get("/version").headers["x-toxiproxy-request-id"]
    assert len(first) == 20 and first.isalnum() and first != second


def test_browser_user_agent_gets_403(http: httpx.Client) -> None:
    resp = http.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert resp.status_code == 403
    assert resp.content == b"User agent not allowed\n"
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    assert "x-toxiproxy-request-id" in resp.headers
    # The guard also protects mutations: nothing was created.
    resp = http.post(
        "/proxies",
        json={"name": "x", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"},
        headers={"User-Agent": "Mozilla/4.0"},
    )
    assert resp.status_code == 403
    assert http.get("/proxies").json() == {}


def test_non_browser_gets_200(http: httpx.Client) -> None:
    assert http.get("/proxies", headers={"User-Agent": "curl/8.0 Mozilla/5.0"}).status_code == 200


def test_index_with_no_proxies(http: httpx.Client, client: toxiproxy.Toxiproxy) -> None:
    resp = http.get("/proxies")
    assert resp.content == b"{}"
    assert resp.headers["content-type"] == "application/json"
    assert client.proxies() == {}


def test_version_endpoint(http: httpx.Client, client: toxiproxy.Toxiproxy) -> None:
    resp = http.get("/version")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json;charset=utf-8"
    assert resp.content == b'{"version": "2.12.0"}\n'
    assert client.running() is True
    assert client.version() == resp.content


def test_route_misses_skip_middlewares(http: httpx.Client) -> None:
    resp = http.get("/nope", headers={"User-Agent": "Mozilla/5.0"})
    assert resp.status_code == 404
    assert resp.content == b"404 page not found\n"
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    assert "x-toxiproxy-request-id" not in resp.headers
    assert http.get("/proxies/").status_code == 404  # a trailing slash is another path
    for method, path in [
        ("PUT", "/proxies/x"),
        ("DELETE", "/proxies"),
        ("GET", "/reset"),
        ("HEAD", "/version"),
        ("PATCH", "/proxies/x/toxics"),
    ]:
        resp = http.request(method, path)
        assert resp.status_code == 405, (method, path)
        assert resp.content == b""
        assert resp.headers["content-length"] == "0"
        assert "content-type" not in resp.headers
        assert "x-toxiproxy-request-id" not in resp.headers


def raw_exchange(server: ServerProcess, request: bytes) -> bytes:
    """Send one raw request (which should ask to close) and read the whole reply."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def test_unclean_paths_redirect(proxy_server: ServerProcess, api_url: str) -> None:
    for target, location in [
        (b"//proxies", b"/proxies"),
        (b"/proxies/../version?x=1", b"/version?x=1"),
    ]:
        reply = raw_exchange(
            proxy_server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert reply.startswith(b"HTTP/1.1 301 Moved Permanently\r\n"), reply
        assert b"\r\nLocation: " + location + b"\r\n" in reply
        assert reply.endswith(b"Content-Length: 0\r\nConnection: close\r\n\r\n")


def test_metrics_route_needs_a_flag(http: httpx.Client) -> None:
    resp = http.get("/metrics")
    assert (resp.status_code, resp.content) == (404, b"404 page not found\n")


def test_malformed_http_is_answered_not_fatal(
    proxy_server: ServerProcess, http: httpx.Client
) -> None:
    for raw, expected in [
        (b"garbage\r\n\r\n", b"HTTP/1.1 400 Bad Request\r\n"),
        (
            b"GET /version HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 400 Bad Request: missing required Host header",
        ),
        (b"GET /version HTTP/9.9\r\nHost: x\r\n\r\n", b"HTTP/1.1 505 "),
        (b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 400 Bad Request\r\n"),
        # Methods are case-sensitive: a lower-case verb is a method miss.
        (b"get /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"HTTP/1.1 405 "),
    ]:
        with socket.create_connection((proxy_server.host, proxy_server.port), timeout=5) as sock:
            sock.sendall(raw)
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
        assert reply.startswith(expected), reply
    assert http.get("/version").status_code == 200


def test_keep_alive_serves_several_requests_on_one_connection(
    proxy_server: ServerProcess, api_url: str
) -> None:
    with socket.create_connection((proxy_server.host, proxy_server.port), timeout=5) as sock:
        sock.sendall(
            b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2\r\n{}\r\n0\r\n\r\n"
            b"GET /proxies HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.count(b"HTTP/1.1 ") == 3
    assert b'{"version": "2.12.0"}\n' in reply
    assert b'{"error":"missing required field: name","status":400}\n' in reply
    assert reply.endswith(b"\r\n\r\n{}")
    assert b"Connection: close\r\n" in reply


# ------------------------------------------------------------ proxies


def test_create_proxy_blank_name_and_upstream(
    http: httpx.Client, client: toxiproxy.Toxiproxy
) -> None:
    assert_api_error(
        http.post("/proxies", json={"upstream": "127.0.0.1:1"}), 400, "missing required field: name"
    )
    assert_api_error(
        http.post("/proxies", json={"name": "x", "upstream": ""}),
        400,
        "missing required field: upstream",
    )
    with pytest.raises(InvalidToxic):  # the client maps every 400 to InvalidToxic
        toxiproxy.api.APIConsumer.post("/proxies", json={"name": "", "upstream": "x"})


def test_create_and_get_proxy(
    client: toxiproxy.Toxiproxy, http: httpx.Client, echo_upstream: str
) -> None:
    proxy = client.create(upstream=echo_upstream, name="mysql_master", listen="127.0.0.1:0")
    assert proxy.enabled is True
    host, _, port = proxy.listen.rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert echo_through(proxy.listen, b"hello") == b"hello"
    resp = http.get("/proxies/mysql_master")
    assert resp.headers["content-type"] == "application/json"
    assert resp.content == (
        b'{"name":"mysql_master","listen":"'
        + proxy.listen.encode()
        + b'","upstream":"'
        + echo_upstream.encode()
        + b'","enabled":true,"Logger":{},"toxics":[]}'
    )
    assert client.get_proxy("mysql_master") is not None
    assert client.get_proxy("nope") is None


def test_create_answers_201_and_ignores_unknown_fields(http: httpx.Client) -> None:
    resp = http.post(
        "/proxies",
        content=b'{"NAME":"a","Upstream":"nonsense","listen":"127.0.0.1:0","toxics":[1],'
        b'"Logger":{"x":1},"extra":true} trailing garbage',
    )
    assert resp.status_code == 201
    data = resp.json()
    assert list(data) == ["name", "listen", "upstream", "enabled", "Logger", "toxics"]
    assert (data["name"], data["upstream"], data["toxics"]) == ("a", "nonsense", [])


def test_create_disabled_proxy_echoes_listen_unresolved(http: httpx.Client) -> None:
    data = create(http, name="off", upstream="127.0.0.1:1", enabled=False)
    assert (data["listen"], data["enabled"]) == ("127.0.0.1:0", False)
    data = http.patch("/proxies/off", json={"enabled": True}).json()
    assert data["enabled"] is True and data["listen"] != "127.0.0.1:0"
    bound = data["listen"]
    # Disable and enable again: the chosen port is kept.
    assert http.post("/proxies/off", json={"enabled": False}).json()["listen"] == bound
    assert refuses(str(bound))
    assert http.patch("/proxies/off", json={"enabled": True}).json()["listen"] == bound


def test_listen_is_echoed_in_go_form(http: httpx.Client) -> None:
    data = create(http, name="lh", upstream="x:1", listen="localhost:0")
    assert str(data["listen"]).startswith("127.0.0.1:")
    data = create(http, name="off", upstream="x:1", listen="localhost:0", enabled=False)
    assert data["listen"] == "localhost:0"


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_loopback_listen_is_bracketed(http: httpx.Client, echo_upstream: str) -> None:
    data = create(http, name="v6", upstream=echo_upstream, listen="[::1]:0")
    listen = str(data["listen"])
    assert listen.startswith("[::1]:") and int(listen.rsplit(":", 1)[1]) > 0
    assert echo_through(listen) == b"ping"
    # Re-populating the same bound address keeps the proxy.
    same = http.post(
        "/populate", json=[{"name": "v6", "listen": listen, "upstream": echo_upstream}]
    )
    assert same.json()["proxies"][0]["listen"] == listen


def test_create_proxy_port_conflict(http: httpx.Client) -> None:
    first = create(http, name="one", upstream="127.0.0.1:1")
    resp = http.post("/proxies", json={"name": "two", "upstream": "x:1", "listen": first["listen"]})
    assert_api_error(resp, 500, f"listen tcp {first['listen']}: bind: address already in use")
    assert list(http.get("/proxies").json()) == ["one"]


def test_create_proxy_bad_listen_address(http: httpx.Client) -> None:
    assert_api_error(
        http.post("/proxies", json={"name": "x", "upstream": "y", "listen": "nonsense"}),
        500,
        "listen tcp: address nonsense: missing port in address",
    )


def test_create_proxy_name_conflict(http: httpx.Client, client: toxiproxy.Toxiproxy) -> None:
    create(http, name="dup", upstream="127.0.0.1:1")
    resp = http.post("/proxies", json={"name": "dup", "upstream": "x:2", "listen": "127.0.0.1:0"})
    assert_api_error(resp, 409, "proxy already exists")
    with pytest.raises(ProxyExists):
        client.create(upstream="x:2", name="dup")


def test_listing_proxies_is_sorted_map(client: toxiproxy.Toxiproxy, http: httpx.Client) -> None:
    for name in ["b", "a", "c"]:
        client.create(upstream="127.0.0.1:1", name=name)
    body = http.get("/proxies").content
    assert body.index(b'"a":') < body.index(b'"b":') < body.index(b'"c":')
    proxies = client.proxies()
    assert sorted(proxies) == ["a", "b", "c"]
    assert all(p.enabled for p in proxies.values())


def test_delete_proxy_closes_listener(client: toxiproxy.Toxiproxy, echo_upstream: str) -> None:
    proxy = client.create(upstream=echo_upstream, name="gone")
    assert echo_through(proxy.listen) == b"ping"
    assert proxy.destroy() is True
    assert refuses(proxy.listen)
    with pytest.raises(NotFound):
        proxy.destroy()


def test_update_keeps_toxics_ignores_name(http: httpx.Client, echo_upstream: str) -> None:
    data = create(http, name="p", upstream=echo_upstream)
    http.post("/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": 1}})
    off = http.patch("/proxies/p", json={"enabled": False, "name": "renamed"})
    assert off.status_code == 200
    assert off.json()["name"] == "p" and off.json()["enabled"] is False
    assert refuses(str(data["listen"]))
    on = http.post("/proxies/p", json={"enabled": True}).json()  # POST still updates
    assert on["enabled"] is True and len(on["toxics"]) == 1
    assert echo_through(str(on["listen"])) == b"ping"
    assert http.get("/proxies/renamed").status_code == 404


def test_update_upstream_restarts_and_listen_errors_are_500(
    http: httpx.Client, echo_upstream: str
) -> None:
    create(http, name="p", upstream="127.0.0.1:1")
    data = http.patch("/proxies/p", json={"upstream": echo_upstream}).json()
    assert data["upstream"] == echo_upstream and data["enabled"] is True
    assert echo_through(str(data["listen"])) == b"ping"
    assert_api_error(
        http.patch("/proxies/p", json={"listen": "bad:address:x"}),
        500,
        "address bad:address:x: too many colons in address",
    )
    assert_api_error(http.patch("/proxies/p", content=b""), 400, "bad request body: EOF")
    assert_api_error(http.patch("/proxies/nope", json={}), 404, "proxy not found")


def test_update_to_busy_port_leaves_proxy_disabled_with_new_listen(http: httpx.Client) -> None:
    busy = create(http, name="busy", upstream="x:1")["listen"]
    create(http, name="p", upstream="x:1")
    resp = http.patch("/proxies/p", json={"listen": busy})
    assert_api_error(resp, 500, f"listen tcp {busy}: bind: address already in use")
    data = http.get("/proxies/p").json()
    assert (data["listen"], data["enabled"]) == (busy, False)


def test_client_enable_disable_down_populate_destroy_all(
    client: toxiproxy.Toxiproxy, echo_upstream: str
) -> None:
    proxy = client.create(upstream=echo_upstream, name="flaky")
    proxy.disable()
    assert refuses(proxy.listen) and client.get_proxy("flaky").enabled is False
    proxy.enable()
    assert echo_through(proxy.listen) == b"ping"
    with proxy.down():
        assert refuses(proxy.listen)
    assert echo_through(proxy.listen) == b"ping"
    # The client's own populate: create what is missing, replace what differs.
    made = client.populate(
        [
            {"name": "flaky", "upstream": echo_upstream, "listen": proxy.listen},
            {"name": "extra", "upstream": echo_upstream, "listen": "127.0.0.1:0"},
        ]
    )
    assert [p.name for p in made] == ["extra"]
    assert sorted(client.proxies()) == ["extra", "flaky"]
    client.destroy_all()
    assert client.proxies() == {}


# ------------------------------------------------------------ populate


def test_populate_creates_in_order(http: httpx.Client, echo_upstream: str) -> None:
    resp = http.post(
        "/populate",
        json=[
            {"name": "one", "listen": "127.0.0.1:0", "upstream": echo_upstream},
            {"name": "two", "listen": "127.0.0.1:0", "upstream": echo_upstream, "enabled": None},
            {"name": "three", "listen": "127.0.0.1:0", "upstream": "x:1", "enabled": False},
        ],
    )
    assert resp.status_code == 201
    assert resp.headers["content-type"] == "application/json"
    proxies = resp.json()["proxies"]
    assert [p["name"] for p in proxies] == ["one", "two", "three"]
    assert [p["enabled"] for p in proxies] == [True, True, False]
    assert proxies[2]["listen"] == "127.0.0.1:0"
    assert echo_through(proxies[1]["listen"]) == b"ping"


def test_populate_empty_is_null(http: httpx.Client) -> None:
    for body in (b"[]", b"null"):
        resp = http.post("/populate", content=body)
        assert (resp.status_code, resp.content) == (201, b'{"proxies":null}')


def test_populate_keeps_identical_existing_proxy(http: httpx.Client) -> None:
    first = create(http, name="keep", upstream="x:1", listen="localhost:0")
    http.post("/proxies/keep/toxics", json={"type": "latency", "name": "lat"})
    port = str(first["listen"]).rsplit(":", 1)[1]
    # "localhost:N" resolves to the stored "127.0.0.1:N": the same proxy.
    again = [{"name": "keep", "listen": f"localhost:{port}", "upstream": "x:1", "enabled": False}]
    resp = http.post("/populate", json=again)
    assert resp.status_code == 201
    kept = resp.json()["proxies"][0]
    assert kept["listen"] == first["listen"]
    assert kept["enabled"] is True  # `enabled` is ignored for an unchanged proxy
    assert [t["name"] for t in kept["toxics"]] == ["lat"]
    # A different upstream replaces the proxy and drops its toxics.
    again[0]["upstream"] = "x:2"
    replaced = http.post("/populate", json=again).json()["proxies"][0]
    assert (replaced["enabled"], replaced["toxics"], replaced["upstream"]) == (False, [], "x:2")


def test_populate_with_bad_name_creates_nothing(http: httpx.Client) -> None:
    resp = http.post(
        "/populate",
        json=[{"name": "ok", "upstream": "x:1", "listen": "127.0.0.1:0"}, {"upstream": "x:1"}],
    )
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/json"
    assert resp.content == (
        b'{"error":"missing required field: name at proxy 2","status":400,"proxies":null}'
    )
    assert http.get("/proxies").json() == {}
    resp = http.post("/populate", json=[{"name": "n"}])
    assert resp.json()["error"] == "missing required field: upstream at proxy 1"


def test_populate_stops_at_first_failure_keeping_earlier(http: httpx.Client) -> None:
    busy = create(http, name="busy", upstream="x:1")["listen"]
    resp = http.post(
        "/populate",
        json=[
            {"name": "a", "upstream": "x:1", "listen": "127.0.0.1:0"},
            {"name": "b", "upstream": "x:1", "listen": busy},
            {"name": "c", "upstream": "x:1", "listen": "127.0.0.1:0"},
        ],
    )
    assert resp.status_code == 500
    body = resp.json()
    assert list(body) == ["error", "status", "proxies"]
    assert body["error"] == f"listen tcp {busy}: bind: address already in use"
    assert [p["name"] for p in body["proxies"]] == ["a"]
    assert sorted(http.get("/proxies").json()) == ["a", "busy"]


def test_populate_bad_body(http: httpx.Client) -> None:
    resp = http.post("/populate", json={"name": "x"})
    assert resp.status_code == 400
    assert resp.json() == {
        "error": "bad request body: json: cannot unmarshal object into Go value of type "
        '[]struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }',
        "status": 400,
        "proxies": None,
    }
    resp = http.post("/populate", json=[{"name": "x", "enabled": "yes"}])
    assert resp.json()["error"] == (
        "bad request body: json: cannot unmarshal string into Go struct field .enabled of type bool"
    )


def test_populate_then_add_toxic(http: httpx.Client, client: toxiproxy.Toxiproxy) -> None:
    http.post("/populate", json=[{"name": "pop", "upstream": "x:1", "listen": "127.0.0.1:0"}])
    proxy = client.get_proxy("pop")
    assert proxy is not None
    proxy.add_toxic(type="latency", attributes={"latency": 10})
    assert list(proxy.toxics()) == ["latency_downstream"]


# ------------------------------------------------------------ reset


def test_reset_enables_proxies_and_removes_toxics(
    http: httpx.Client, client: toxiproxy.Toxiproxy
) -> None:
    create(http, name="a", upstream="x:1")
    create(http, name="b", upstream="x:1", enabled=False)
    http.post("/proxies/a/toxics", json={"type": "latency", "stream": "upstream"})
    http.post("/proxies/a/toxics", json={"type": "timeout"})
    resp = http.post("/reset", content=b"not even json")
    assert (resp.status_code, resp.content) == (204, b"")
    assert "content-type" not in resp.headers
    proxies = http.get("/proxies").json()
    assert proxies["a"]["toxics"] == [] and proxies["b"]["enabled"] is True
    assert client.reset() is True


# ------------------------------------------------------------ toxics


def test_listing_and_adding_toxics(
    client: toxiproxy.Toxiproxy, http: httpx.Client, echo_upstream: str
) -> None:
    proxy = client.create(upstream=echo_upstream, name="p")
    assert proxy.toxics() == {}
    assert http.get("/proxies/p/toxics").content == b"[]"
    proxy.add_toxic(type="latency", attributes={"latency": 1000, "jitter": 100})
    resp = http.get("/proxies/p/toxics/latency_downstream")
    assert resp.content == (
        b'{"attributes":{"latency":1000,"jitter":100},"name":"latency_downstream",'
        b'"type":"latency","stream":"downstream","toxicity":1}'
    )
    toxic = proxy.get_toxic("latency_downstream")
    assert toxic is not None and toxic.attributes == {"latency": 1000, "jitter": 100}
    assert echo_through(proxy.listen) == b"ping"  # the link still works with the toxic


def test_toxic_create_answers_200_with_defaults(http: httpx.Client) -> None:
    create(http, name="p", upstream="x:1")
    resp = http.post("/proxies/p/toxics", json={"type": "bandwidth", "stream": "UpStream"})
    assert resp.status_code == 200
    assert resp.content == (
        b'{"attributes":{"rate":0},"name":"bandwidth_UpStream","type":"bandwidth",'
        b'"stream":"UpStream","toxicity":1}'
    )
    every = {
        "latency": '{"latency":0,"jitter":0}',
        "slow_close": '{"delay":0}',
        "timeout": '{"timeout":0}',
        "reset_peer": '{"timeout":0}',
        "slicer": '{"average_size":5,"size_variation":0,"delay":0}',
        "limit_data": '{"bytes":0}',
        "noop": "{}",
    }
    for type_name, attrs in every.items():
        body: dict[str, object] = {"type": type_name, "name": type_name}
        if type_name == "slicer":
            body["attributes"] = {"average_size": 5}
        resp = http.post("/proxies/p/toxics", json=body)
        assert resp.status_code == 200, resp.text
        assert resp.text.startswith('{"attributes":' + attrs + ',"name":"' + type_name + '"')


def test_multiple_toxics_list_upstream_first(http: httpx.Client) -> None:
    create(http, name="p", upstream="x:1")
    for name, stream in [("d1", "downstream"), ("u1", "upstream"), ("d2", "DOWNSTREAM")]:
        assert (
            http.post(
                "/proxies/p/toxics", json={"type": "latency", "name": name, "stream": stream}
            ).status_code
            == 200
        )
    names = [t["name"] for t in http.get("/proxies/p/toxics").json()]
    assert names == ["u1", "d1", "d2"]
    assert [t["name"] for t in http.get("/proxies/p").json()["toxics"]] == names


def test_conflicting_toxics(http: httpx.Client, client: toxiproxy.Toxiproxy) -> None:
    create(http, name="p", upstream="x:1")
    http.post("/proxies/p/toxics", json={"type": "latency", "name": "t", "stream": "upstream"})
    resp = http.post(
        "/proxies/p/toxics", json={"type": "timeout", "name": "t", "stream": "downstream"}
    )
    assert_api_error(resp, 409, "toxic already exists")
    # Default names include the stream, so both streams can hold one of a type.
    http.post("/proxies/p/toxics", json={"type": "latency", "stream": "upstream"})
    resp = http.post("/proxies/p/toxics", json={"type": "latency", "stream": "downstream"})
    assert resp.json()["name"] == "latency_downstream"
    proxy = client.get_proxy("p")
    assert proxy is not None
    with pytest.raises(ProxyExists):  # the client maps 409 to ProxyExists
        proxy.add_toxic(type="latency", stream="downstream")


def test_toxicity_is_float32_shortest(http: httpx.Client) -> None:
    create(http, name="p", upstream="x:1")
    for i, (sent, shown) in enumerate(
        [
            (0.5, b"0.5"),
            (0.1, b"0.1"),
            (2.5, b"2.5"),
            (-1, b"-1"),
            (1e-7, b"1e-7"),
            (1 / 3, b"0.33333334"),
        ]
    ):
        resp = http.post(
            "/proxies/p/toxics", json={"type": "noop", "name": f"n{i}", "toxicity": sent}
        )
        assert resp.content.endswith(b',"toxicity":' + shown + b"}"), resp.content


def test_update_toxic_merges_attributes(http: httpx.Client) -> None:
    create(http, name="p", upstream="x:1")
    http.post("/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": 10}})
    resp = http.patch("/proxies/p/toxics/latency_downstream", json={"attributes": {"jitter": 5}})
    assert resp.status_code == 200
    assert resp.json()["attributes"] == {"latency": 10, "jitter": 5}
    resp = http.post(
        "/proxies/p/toxics/latency_downstream",
        json={"toxicity": 0.25, "name": "ignored", "type": "timeout", "stream": "upstream"},
    )
    data = resp.json()
    assert (data["name"], data["type"], data["stream"], data["toxicity"]) == (
        "latency_downstream",
        "latency",
        "downstream",
        0.25,
    )
    assert data["attributes"] == {"latency": 10, "jitter": 5}
    assert_api_error(http.patch("/proxies/p/toxics/nope", content=b"{bad"), 404, "toxic not found")
    assert_api_error(
        http.patch("/proxies/p/toxics/latency_downstream", json={"toxicity": "x"}),
        400,
        "bad request body: json: cannot unmarshal string into Go struct field .toxicity of type "
        "float32",
    )


def test_remove_toxic(http: httpx.Client, client: toxiproxy.Toxiproxy) -> None:
    create(http, name="p", upstream="x:1")
    http.post("/proxies/p/toxics", json={"type": "latency"})
    proxy = client.get_proxy("p")
    assert proxy is not None
    assert proxy.destroy_toxic("latency_downstream") is True
    assert proxy.toxics() == {}
    resp = http.delete("/proxies/p/toxics/latency_downstream")
    assert_api_error(resp, 404, "toxic not found")
    assert_api_error(http.get("/proxies/p/toxics/x"), 404, "toxic not found")


def test_toxic_check_order(http: httpx.Client) -> None:
    # Unknown proxy wins over a broken body.
    assert_api_error(http.post("/proxies/nope/toxics", content=b"{"), 404, "proxy not found")
    create(http, name="p", upstream="x:1")
    stream_msg = "stream was invalid, can be either upstream or downstream"
    assert_api_error(
        http.post("/proxies/p/toxics", json={"type": "nope", "stream": "sideways"}), 400, stream_msg
    )
    assert_api_error(http.post("/proxies/p/toxics", json={"stream": ""}), 400, stream_msg)
    assert_api_error(http.post("/proxies/p/toxics", json={}), 400, "invalid toxic type")
    assert_api_error(
        http.post("/proxies/p/toxics", json={"type": "Latency"}), 400, "invalid toxic type"
    )
    http.post("/proxies/p/toxics", json={"type": "latency", "name": "t"})
    # A name conflict is found before the attributes are decoded.
    assert_api_error(
        http.post(
            "/proxies/p/toxics",
            json={"type": "latency", "name": "t", "attributes": {"latency": "x"}},
        ),
        409,
        "toxic already exists",
    )


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/proxies", b"", "EOF"),
        ("/proxies", b"   ", "EOF"),
        ("/proxies", b'{"name":', "unexpected EOF"),
        ("/proxies", b"{name}", "invalid character 'n' looking for beginning of object key string"),
        ("/proxies", b"[1,]", "invalid character ']' looking for beginning of value"),
        ("/proxies", b'{"a" 1}', "invalid character '1' after object key"),
        ("/proxies", b"tru", "unexpected EOF"),
        ("/proxies", b"nul!", "invalid character '!' in literal null (expecting 'l')"),
        ("/proxies", b'"\x01"', "invalid character '\\x01' in string literal"),
        ("/proxies", b"[]", "json: cannot unmarshal array into Go value of type toxiproxy.Proxy"),
        (
            "/proxies",
            b'{"enabled":"yes"}',
            "json: cannot unmarshal string into Go struct field Proxy.enabled of type bool",
        ),
        (
            "/proxies",
            b'{"name":1,"upstream":true}',
            "json: cannot unmarshal number into Go struct field Proxy.name of type string",
        ),
        (
            "/proxies",
            b'{"logger":5}',
            "json: cannot unmarshal number into Go struct field Proxy.Logger "
            "of type zerolog.Logger",
        ),
        (
            "/proxies/p/toxics",
            b'{"type":"latency","attributes":{"latency":1.5}}',
            "json: cannot unmarshal number 1.5 into Go struct field "
            "LatencyToxic.attributes.latency of type int64",
        ),
        (
            "/proxies/p/toxics",
            b'{"type":"slicer","attributes":{"average_size":99999999999999999999}}',
            "json: cannot unmarshal number 99999999999999999999 into Go struct field "
            "SlicerToxic.attributes.average_size of type int",
        ),
        (
            "/proxies/p/toxics",
            b'{"type":"latency","attributes":5}',
            "json: cannot unmarshal number into Go struct field ToxicWrapper.attributes "
            "of type toxics.NoopToxic",
        ),
        (
            "/proxies/p/toxics",
            b'{"type":"latency","toxicity":1e40}',
            "json: cannot unmarshal number 1e40 into Go struct field ToxicWrapper.toxicity "
            "of type float32",
        ),
        (
            "/proxies/p/toxics",
            b'{"type":"reset_peer","attributes":{"timeout":[1]}}',
            "json: cannot unmarshal array into Go struct field ResetToxic.attributes.timeout "
            "of type int64",
        ),
    ],
)
def test_json_decode_errors_match_go(
    http: httpx.Client, path: str, body: bytes, message: str
) -> None:
    create(http, name="p", upstream="x:1")
    assert_api_error(http.post(path, content=body), 400, "bad request body: " + message)


def test_values_that_crash_go_are_rejected(http: httpx.Client) -> None:
    create(http, name="p", upstream="x:1")
    resp = http.post("/proxies/p/toxics", json={"type": "slicer"})
    assert resp.status_code == 400 and "average_size" in resp.json()["error"]
    resp = http.post("/proxies/p/toxics", json={"type": "bandwidth", "attributes": {"rate": -1}})
    assert resp.status_code == 400 and "rate" in resp.json()["error"]
    ok = http.post("/proxies/p/toxics", json={"type": "bandwidth", "attributes": {"rate": 5}})
    assert ok.status_code == 200
    resp = http.patch("/proxies/p/toxics/bandwidth_downstream", json={"attributes": {"rate": -5}})
    assert resp.status_code == 400
    assert http.get("/proxies/p/toxics/bandwidth_downstream").json()["attributes"] == {"rate": 5}
    # Other out-of-range values are stored as sent, as the real server does.
    resp = http.post(
        "/proxies/p/toxics",
        json={"type": "latency", "toxicity": 7, "attributes": {"latency": -3}},
    )
    assert resp.json()["attributes"]["latency"] == -3 and resp.json()["toxicity"] == 7


def test_names_are_escaped_like_go(http: httpx.Client) -> None:
    create(http, name="a<b>&\u2028", upstream="x:1")
    body = http.get("/proxies").content
    assert b'"a\\u003cb\\u003e\\u0026\\u2028"' in body
    assert http.get("/proxies/a%3Cb%3E%26%E2%80%A8").status_code == 200


def test_raw_utf8_in_the_path_names_the_same_proxy(
    proxy_server: ServerProcess, http: httpx.Client
) -> None:
    create(http, name="caf\u00e9", upstream="x:1")
    reply = raw_exchange(
        proxy_server,
        "GET /proxies/caf\u00e9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
    )
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b'\r\n\r\n{"name":"caf\xc3\xa9","listen":' in reply
    bad = raw_exchange(proxy_server, b"GET /proxies/a\x01 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 400 Bad Request")


# ------------------------------------------------------------ metrics


def test_metrics_with_proxy_metrics_flag(
    server_factory: Callable[..., AbstractContextManager[ServerProcess]], echo_upstream: str
) -> None:
    with server_factory("-proxy-metrics") as server, http_kit.client(base_url=server.url) as http:
        proxy = create(http, name="probe", upstream=echo_upstream)
        assert echo_through(str(proxy["listen"]), b"x" * 1004) == b"x" * 1004
        expected = (
            'toxiproxy_proxy_received_bytes_total{direction="upstream",listener="'
            + str(proxy["listen"])
            + '",proxy="probe",upstream="'
            + echo_upstream
            + '"} 1004'
        )
        deadline = time.monotonic() + 10
        text = ""
        while time.monotonic() < deadline:
            resp = http.post("/metrics")  # any method
            assert resp.status_code == 200
            text = resp.text
            if (
                expected in text
                and 'toxiproxy_proxy_sent_bytes_total{direction="downstream"' in text
            ):
                break
            time.sleep(0.05)
        assert expected in text, text
        assert resp.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert "# TYPE toxiproxy_proxy_sent_bytes_total counter" in text
        assert "process_cpu_seconds_total" not in text


# ------------------------------------------------------------ command line


def test_flags_follow_go_conventions(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.proxy.server import main, parse_flags

    opts = parse_flags(["-host=0.0.0.0", "--port", "9000", "-proxy-metrics", "-runtime-metrics=f"])
    assert (opts.host, opts.port, opts.proxy_metrics, opts.runtime_metrics) == (
        "0.0.0.0",
        "9000",
        True,
        False,
    )
    assert parse_flags([]).host == "127.0.0.1" and parse_flags([]).port == "8474"
    assert main(["-version"]) == 0
    assert capsys.readouterr().out == "toxiproxy-server version 2.12.0 (chaoslab proxy)\n"
    assert main(["-bogus"]) == 2
    assert "flag provided but not defined: -bogus" in capsys.readouterr().err
    assert main(["-seed", "abc"]) == 2


def test_config_file_populates_before_the_api_starts(
    tmp_path: Path,
    server_factory: Callable[..., AbstractContextManager[ServerProcess]],
) -> None:
    config = tmp_path / "proxies.json"
    config.write_text(
        json.dumps(
            [
                {"name": "from_file", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
                {"name": "off", "listen": "127.0.0.1:0", "upstream": "x:1", "enabled": False},
            ]
        )
    )
    with server_factory("-config", str(config)) as server:
        proxies = http_kit.get(server.url + "/proxies").json()
        assert sorted(proxies) == ["from_file", "off"]
        assert proxies["from_file"]["enabled"] is True and proxies["off"]["enabled"] is False
    broken = tmp_path / "broken.json"
    broken.write_text('[{"name": 1}]')
    with server_factory("-config", str(broken)) as server:
        assert http_kit.get(server.url + "/proxies").json() == {}
        assert "cannot unmarshal number" in server.log()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_shut_down_cleanly(
    sig: signal.Signals,
    server_factory: Callable[..., AbstractContextManager[ServerProcess]],
) -> None:
    with server_factory() as server, http_kit.client(base_url=server.url) as http:
        listen = str(create(http, name="p", upstream="x:1")["listen"])
        server.process.send_signal(sig)
        assert server.process.wait(timeout=15) == 0, server.log()
        assert refuses(listen)
        assert "Traceback" not in server.log()
