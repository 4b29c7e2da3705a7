"""Toxiproxy's HTTP control API: routing, middlewares, handlers, response bytes.

The transport (server.py) hands each parsed request to `Api.dispatch` and
writes back the `Response` it gets. Everything a client can observe is
decided here, in the order Toxiproxy 2.12 decides it: path cleaning (301),
route and method match (404 page / empty 405, both without middlewares),
request id, the browser guard (403), then the handler, whose errors go out
the way Go's `http.Error` writes them (text/plain, trailing newline).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from harness.proxy import gojson
from harness.proxy.collection import (
    INVALID_STREAM,
    INVALID_TYPE,
    TOXIC_EXISTS,
    TOXIC_NOT_FOUND,
    ApiError,
    Entry,
    ProxyCollection,
    ToxicView,
    api_error,
)
from harness.proxy.gojson import GoField, GoJSONError, GoStruct
from harness.proxy.metrics import Metrics
from harness.proxy.toxics import TOXIC_TYPES, Toxic

VERSION = "2.12.0"
HANDLER_TIMEOUT_S = 25.0
TIMEOUT_BODY = b"<html><head><title>Timeout</title></head><body><h1>Timeout</h1></body></html>"
TEXT_PLAIN = "text/plain; charset=utf-8"
JSON = "application/json"


@dataclass(slots=True)
class Response:
    """An answer as the handlers build it;
    headers keep their order and case for byte-level parity with Go."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The first value of header `name` (any case), or None."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def http_error(message: str, status: int) -> Response:
    """Go's http.Error: text/plain, nosniff, message plus a newline."""
    return Response(
        status,
        message.encode("utf-8", "surrogateescape") + b"\n",
        [("Content-Type", TEXT_PLAIN), ("X-Content-Type-Options", "nosniff")],
    )


def api_error_response(err: ApiError) -> Response:
    """The Go server's error answer: `{"error","status"}` as text/plain with a newline."""
    body = '{"error":' + gojson.encode_string(err.message) + ',"status":' + str(err.status) + "}"
    return http_error(body, err.status)


def json_response(body: str, status: int = 200) -> Response:
    return Response(status, body.encode("utf-8"), [("Content-Type", JSON)])


# ------------------------------------------------------------ JSON views


def toxic_json(toxic: ToxicView) -> str:
    """A toxic object in Go's field order, every attribute of its type present."""
    cls = TOXIC_TYPES[toxic.type_name]
    attrs = ",".join(
        gojson.encode_string(name) + ":" + str(toxic.attributes.get(name, 0)) for name in cls.fields
    )
    return (
        '{"attributes":{'
        + attrs
        + "}"
        + ',"name":'
        + gojson.encode_string(toxic.name)
        + ',"type":'
        + gojson.encode_string(toxic.type_name)
        + ',"stream":'
        + gojson.encode_string(toxic.stream)
        + ',"toxicity":'
        + gojson.format_float32(toxic.toxicity)
        + "}"
    )


def toxics_json(entry: Entry) -> str:
    return "[" + ",".join(toxic_json(t) for t in entry.ordered_toxics()) + "]"


def proxy_json(entry: Entry) -> str:
    """A proxy object in Go's field order, with the empty `Logger` Go writes and its toxics."""
    p = entry.proxy
    return (
        '{"name":'
        + gojson.encode_string(p.name)
        + ',"listen":'
        + gojson.encode_string(p.listen)
        + ',"upstream":'
        + gojson.encode_string(p.upstream)
        + ',"enabled":'
        + ("true" if p.enabled else "false")
        + ',"Logger":{},"toxics":'
        + toxics_json(entry)
        + "}"
    )


def proxies_list_json(entries: list[Entry]) -> str:
    """The /populate list; `null`, not `[]`, when empty, as Go marshals a nil slice."""
    if not entries:
        return "null"  # Go marshals the empty (nil) slice as null
    return "[" + ",".join(proxy_json(e) for e in entries) + "]"


# ------------------------------------------------------------ Go struct shapes

_LOGGER = GoField("Logger", "logger")
PROXY_STRUCT = GoStruct(
    "Proxy",
    "toxiproxy.Proxy",
    (
        GoField("name", "string"),
        GoField("listen", "string"),
        GoField("upstream", "string"),
        GoField("enabled", "bool"),
        _LOGGER,
    ),
)
_POPULATE_ELEMENT_TYPE = 'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'
POPULATE_ELEMENT = GoStruct(
    "",
    _POPULATE_ELEMENT_TYPE,
    (
        GoField("name", "string"),
        GoField("listen", "string"),
        GoField("upstream", "string"),
        GoField("enabled", "*bool"),
        _LOGGER,
    ),
)
POPULATE_SLICE_TYPE = "[]" + _POPULATE_ELEMENT_TYPE

_NOOP_STRUCT = GoStruct("NoopToxic", "toxics.NoopToxic", ())
TOXIC_WRAPPER = GoStruct(
    "ToxicWrapper",
    "toxics.ToxicWrapper",
    (
        GoField("attributes", "iface", _NOOP_STRUCT),
        GoField("name", "string"),
        GoField("type", "string"),
        GoField("stream", "string"),
        GoField("toxicity", "float32"),
    ),
)


def _toxic_struct(cls: type[Toxic]) -> GoStruct:
    fields = tuple(GoField(name, go_type) for name, go_type in cls.fields.items())
    return GoStruct(cls.go_name, "toxics." + cls.go_name, fields)


def _attrs_create(cls: type[Toxic]) -> GoStruct:
    return GoStruct(
        "",
        'struct { Attributes interface {} "json:\\"attributes\\"" }',
        (GoField("attributes", "iface", _toxic_struct(cls)),),
    )


def _attrs_update(cls: type[Toxic]) -> GoStruct:
    return GoStruct(
        "",
        'struct { Attributes interface {} "json:\\"attributes\\""; '
        'Toxicity float32 "json:\\"toxicity\\"" }',
        (GoField("attributes", "iface", _toxic_struct(cls)), GoField("toxicity", "float32")),
    )


def bad_body(err: GoJSONError) -> ApiError:
    return ApiError(f"bad request body: {err}", 400)


def decode(body: bytes, st: GoStruct) -> dict[str, object]:
    """Decode a body into `st` as Go would; raises ApiError 400 "bad request body: ..."."""
    try:
        return gojson.decode_struct(body, st)
    except GoJSONError as err:
        raise bad_body(err) from None


# ------------------------------------------------------------ request ids


class _Xid:
    """Globally unique ids in the xid format (20 chars of base32hex) that Go's hlog uses."""

    _ALPHABET = "0123456789abcdefghijklmnopqrstuv"

    def __init__(self) -> None:
        self._machine = secrets.token_bytes(3)
        self._counter = int.from_bytes(secrets.token_bytes(3), "big")
        self._lock = threading.Lock()

    def new(self) -> str:
        with self._lock:
            self._counter = (self._counter + 1) & 0xFFFFFF
            counter = self._counter
        raw = (
            int(time.time()).to_bytes(4, "big")
            + self._machine
            + (os.getpid() & 0xFFFF).to_bytes(2, "big")
            + counter.to_bytes(3, "big")
        )
        value = int.from_bytes(raw, "big") << 4  # 96 bits padded to 100 = 20 × 5
        return "".join(self._ALPHABET[(value >> (95 - 5 * i)) & 31] for i in range(20))


# ------------------------------------------------------------ routing


def clean_path(p: str) -> str:
    """gorilla/mux cleanPath: Go's path.Clean, keeping a trailing slash."""
    if p == "":
        return "/"
    if not p.startswith("/"):
        p = "/" + p
    parts: list[str] = []
    for seg in p.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts:
                parts.pop()
            continue
        parts.append(seg)
    np = "/" + "/".join(parts)
    if p.endswith("/") and np != "/":
        np += "/"
    return np


Handler = Callable[["Request"], Awaitable[Response]]


@dataclass(slots=True)
class Request:
    """One parsed API request; `vars` holds the route's `{proxy}` and `{toxic}` once matched."""

    method: str
    path: str  # decoded, as Go's URL.Path
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    vars: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str:
        """The first value of header `name` (any case), or "" as Go's Header.Get."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return ""


_SEGMENT = "([^/]+)"


@dataclass(frozen=True, slots=True)
class Route:
    """One mux route: a path pattern,
    the methods it takes (None: any) and the Api method that answers."""

    pattern: re.Pattern[str]
    names: tuple[str, ...]
    methods: frozenset[str] | None  # None: any method
    handler: str


def _route(template: str, methods: tuple[str, ...] | None, handler: str) -> Route:
    names = tuple(re.findall(r"\{(\w+)\}", template))
    regex = "^" + re.sub(r"\\\{\w+\\\}", _SEGMENT, re.escape(template)) + r"\Z"
    allowed = frozenset(methods) if methods else None
    return Route(re.compile(regex, re.DOTALL), names, allowed, handler)


class Api:
    """The control API over one ProxyCollection."""

    def __init__(
        self, collection: ProxyCollection, metrics: Metrics | None = None, version: str = VERSION
    ) -> None:
        self.collection = collection
        self.metrics = metrics
        self.version = version
        self._xid = _Xid()
        # Go serialises through per-collection locks; one lock keeps every
        # handler's view consistent across the awaits inside it.
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[Response]] = set()
        routes = [
            _route("/reset", ("POST",), "reset"),
            _route("/proxies", ("GET",), "proxy_index"),
            _route("/proxies", ("POST",), "proxy_create"),
            _route("/populate", ("POST",), "populate"),
            _route("/proxies/{proxy}", ("GET",), "proxy_show"),
            _route("/proxies/{proxy}", ("POST", "PATCH"), "proxy_update"),
            _route("/proxies/{proxy}", ("DELETE",), "proxy_delete"),
            _route("/proxies/{proxy}/toxics", ("GET",), "toxic_index"),
            _route("/proxies/{proxy}/toxics", ("POST",), "toxic_create"),
            _route("/proxies/{proxy}/toxics/{toxic}", ("GET",), "toxic_show"),
            _route("/proxies/{proxy}/toxics/{toxic}", ("POST", "PATCH"), "toxic_update"),
            _route("/proxies/{proxy}/toxics/{toxic}", ("DELETE",), "toxic_delete"),
            _route("/version", ("GET",), "version_show"),
        ]
        if metrics is not None and metrics.enabled:
            routes.append(_route("/metrics", None, "metrics_show"))
        self.routes = routes

    async def drain(self) -> None:
        """Wait for handlers that outlived their 503 timeout."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def dispatch(self, request: Request) -> Response:
        """Answer one request as gorilla/mux would:
        301 to the clean path, 404 or 405 on a miss, else the handler."""
        cleaned = clean_path(request.path)
        if cleaned != request.path:
            location = urllib.parse.quote(cleaned, safe="/:@!$&'()*+,;=-._~")
            if request.query:
                location += "?" + request.query
            return Response(301, b"", [("Location", location)])
        method_mismatch = False
        for route in self.routes:
            m = route.pattern.match(request.path)
            if m is None:
                continue
            if route.methods is not None and request.method not in route.methods:
                method_mismatch = True
                continue
            request.vars = dict(zip(route.names, m.groups(), strict=True))
            return await self._matched(route, request)
        if method_mismatch:
            return Response(405)
        return http_error("404 page not found", 404)

    async def _matched(self, route: Route, request: Request) -> Response:
        request_id = ("X-Toxiproxy-Request-Id", self._xid.new())
        if request.header("User-Agent").startswith("Mozilla/"):
            response = http_error("User agent not allowed", 403)
        else:
            handler: Handler = getattr(self, route.handler)
            task = asyncio.create_task(self._guarded(handler, request))
            # Tracked from the start: if this connection is cancelled while the
            # handler runs, the handler (which may hold the API lock) is not orphaned.
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            done, _ = await asyncio.wait({task}, timeout=HANDLER_TIMEOUT_S)
            if task in done:
                response = task.result()
            else:
                # As http.TimeoutHandler: answer 503 now, let the handler finish.
                response = Response(
                    503, TIMEOUT_BODY, [("Content-Type", "text/html; charset=utf-8")]
                )
        response.headers.insert(0, request_id)
        return response

    async def _guarded(self, handler: Handler, request: Request) -> Response:
        try:
            if handler.__name__ in ("version_show", "metrics_show"):
                return await handler(request)
            async with self._lock:
                return await handler(request)
        except ApiError as err:
            return api_error_response(err)
        except Exception as err:  # a bug must answer 500, never kill the server
            return api_error_response(ApiError(f"internal error: {type(err).__name__}: {err}", 500))

    # ---------------------------------------------------------------- handlers

    async def version_show(self, request: Request) -> Response:
        """GET /version."""
        body = '{"version": ' + gojson.encode_string(self.version) + "}\n"
        return Response(200, body.encode(), [("Content-Type", "application/json;charset=utf-8")])

    async def metrics_show(self, request: Request) -> Response:
        """/metrics, any method; routed only when metrics were asked for."""
        assert self.metrics is not None
        text = self.metrics.render([e.proxy for e in self.collection.entries().values()])
        content_type = "text/plain; version=0.0.4; charset=utf-8"
        return Response(200, text.encode("utf-8"), [("Content-Type", content_type)])

    async def reset(self, request: Request) -> Response:
        """POST /reset: re-enable every proxy and remove all toxics; the proxies stay."""
        await self.collection.reset()
        return Response(204)

    async def proxy_index(self, request: Request) -> Response:
        """GET /proxies: every proxy by name, in sorted order."""
        entries = self.collection.entries()
        body = (
            "{"
            + ",".join(
                gojson.encode_string(name) + ":" + proxy_json(entries[name])
                for name in sorted(entries)
            )
            + "}"
        )
        return json_response(body)

    async def proxy_create(self, request: Request) -> Response:
        """POST /proxies: create and (unless `enabled` is false) start a proxy; 201."""
        data = decode(request.body, PROXY_STRUCT)
        name = str(data.get("name", ""))
        upstream = str(data.get("upstream", ""))
        if not name:
            raise ApiError("missing required field: name", 400)
        if not upstream:
            raise ApiError("missing required field: upstream", 400)
        entry = await self.collection.add(
            name, str(data.get("listen", "")), upstream, bool(data.get("enabled", True))
        )
        return json_response(proxy_json(entry), 201)

    async def populate(self, request: Request) -> Response:
        """POST /populate: create or replace proxies in order;
        stops at the first failure and lists the ones done."""
        try:
            items = gojson.decode_struct_slice(request.body, POPULATE_ELEMENT, POPULATE_SLICE_TYPE)
        except GoJSONError as err:
            return self._populate_response([], bad_body(err))
        parsed: list[tuple[str, str, str, bool]] = []
        for index, item in enumerate(items or [], start=1):
            name = str(item.get("name", ""))
            upstream = str(item.get("upstream", ""))
            if not name:
                return self._populate_response(
                    [], ApiError(f"missing required field: name at proxy {index}", 400)
                )
            if not upstream:
                return self._populate_response(
                    [], ApiError(f"missing required field: upstream at proxy {index}", 400)
                )
            enabled = item.get("enabled")
            listen = str(item.get("listen", ""))
            parsed.append((name, listen, upstream, True if enabled is None else bool(enabled)))
        done, failure = await self.collection.populate(parsed)
        return self._populate_response(done, failure)

    def _populate_response(self, done: list[Entry], err: ApiError | None) -> Response:
        proxies = proxies_list_json(done)
        if err is None:
            return json_response('{"proxies":' + proxies + "}", 201)
        body = (
            '{"error":'
            + gojson.encode_string(err.message)
            + ',"status":'
            + str(err.status)
            + ',"proxies":'
            + proxies
            + "}"
        )
        return json_response(body, err.status)

    async def proxy_show(self, request: Request) -> Response:
        """GET /proxies/{proxy}."""
        return json_response(proxy_json(self.collection.get(request.vars["proxy"])))

    async def proxy_update(self, request: Request) -> Response:
        """POST or PATCH /proxies/{proxy}:
        absent fields keep their values; a moved proxy restarts."""
        entry = self.collection.get(request.vars["proxy"])
        p = entry.proxy
        data = decode(request.body, PROXY_STRUCT)
        await self.collection.update(
            entry,
            str(data.get("listen", p.listen)),
            str(data.get("upstream", p.upstream)),
            bool(data.get("enabled", p.enabled)),
        )
        return json_response(proxy_json(entry))

    async def proxy_delete(self, request: Request) -> Response:
        """DELETE /proxies/{proxy}: stop it and close its connections; 204."""
        await self.collection.remove(request.vars["proxy"])
        return Response(204)

    async def toxic_index(self, request: Request) -> Response:
        """GET /proxies/{proxy}/toxics: upstream chain first, then downstream."""
        return json_response(toxics_json(self.collection.get(request.vars["proxy"])))

    async def toxic_create(self, request: Request) -> Response:
        """POST /proxies/{proxy}/toxics:
        add a toxic to the end of its stream's chain; 200, not 201, as Go."""
        entry = self.collection.get(request.vars["proxy"])
        data = decode(request.body, TOXIC_WRAPPER)
        stream = str(data.get("stream", "downstream"))
        if stream.lower() not in ("upstream", "downstream"):
            raise api_error(INVALID_STREAM)
        type_name = str(data.get("type", ""))
        name = str(data.get("name", "")) or f"{type_name}_{stream}"
        cls = TOXIC_TYPES.get(type_name)
        if cls is None:
            raise api_error(INVALID_TYPE)
        if entry.find(name) is not None:
            raise api_error(TOXIC_EXISTS)
        given = decode(request.body, _attrs_create(cls)).get("attributes", {})
        assert isinstance(given, dict)
        attributes = {f: int(given.get(f, 0)) for f in cls.fields}
        problem = cls.check(attributes)
        if problem is not None:
            raise ApiError(problem, 400)
        toxicity = data.get("toxicity", 1.0)
        assert isinstance(toxicity, float | int)
        view = await self.collection.add_toxic(
            entry, name, type_name, stream, float(toxicity), attributes
        )
        return json_response(toxic_json(view))

    async def toxic_show(self, request: Request) -> Response:
        """GET /proxies/{proxy}/toxics/{toxic}."""
        entry = self.collection.get(request.vars["proxy"])
        view = entry.find(request.vars["toxic"])
        if view is None:
            raise api_error(TOXIC_NOT_FOUND)
        return json_response(toxic_json(view))

    async def toxic_update(self, request: Request) -> Response:
        """POST or PATCH /proxies/{proxy}/toxics/{toxic}:
        merge attributes and toxicity; open links restart it."""
        entry = self.collection.get(request.vars["proxy"])
        view = entry.find(request.vars["toxic"])
        if view is None:
            raise api_error(TOXIC_NOT_FOUND)
        cls = TOXIC_TYPES[view.type_name]
        data = decode(request.body, _attrs_update(cls))
        given = data.get("attributes", {})
        assert isinstance(given, dict)
        attributes = {**view.attributes, **{k: int(v) for k, v in given.items()}}
        problem = cls.check(attributes)
        if problem is not None:
            raise ApiError(problem, 400)
        toxicity = data.get("toxicity", view.toxicity)
        assert isinstance(toxicity, float | int)
        view = await self.collection.update_toxic(entry, view, attributes, float(toxicity))
        return json_response(toxic_json(view))

    async def toxic_delete(self, request: Request) -> Response:
        """DELETE /proxies/{proxy}/toxics/{toxic}: open links stop it too; 204."""
        entry = self.collection.get(request.vars["proxy"])
        await self.collection.remove_toxic(entry, request.vars["toxic"])
        return Response(204)
