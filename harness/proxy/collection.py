"""The set of named proxies and the JSON view of their toxics.

The data plane (`Proxy`) owns sockets and live toxics; this module owns what
the API shows and the order of its checks: which error wins, what populate
keeps or replaces, what reset re-enables. Each operation mirrors one method
of Toxiproxy's ProxyCollection / ToxicCollection, so the step order there is
the step order here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.proxy.address import AddressError, join_host_port, port_number, split_host_port
from harness.proxy.gojson import to_float32
from harness.proxy.proxy import Proxy
from harness.proxy.toxics import TOXIC_TYPES


class ApiError(Exception):
    """An error the API reports as `{"error": message, "status": status}`."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


PROXY_NOT_FOUND = ("proxy not found", 404)
PROXY_EXISTS = ("proxy already exists", 409)
INVALID_STREAM = ("stream was invalid, can be either upstream or downstream", 400)
INVALID_TYPE = ("invalid toxic type", 400)
TOXIC_EXISTS = ("toxic already exists", 409)
TOXIC_NOT_FOUND = ("toxic not found", 404)


def api_error(kind: tuple[str, int]) -> ApiError:
    return ApiError(*kind)


def internal(message: str) -> ApiError:
    """Errors without their own status are 500s carrying the raw text, as in Go."""
    return ApiError(message, 500)


def os_error_text(err: OSError) -> str:
    """The message of a listen or resolve failure, in Go's wording when the data plane gave one."""
    # The data plane raises OSError("listen tcp ...: bind: ...") with Go's wording.
    if len(err.args) == 1 and isinstance(err.args[0], str):
        return err.args[0]
    return str(err)


@dataclass(slots=True)
class ToxicView:
    """A toxic as the API shows it; `stream` is kept exactly as the client sent it."""

    name: str
    type_name: str
    stream: str
    direction: str  # "upstream" or "downstream"
    toxicity: float  # already rounded to float32
    attributes: dict[str, int]


@dataclass(slots=True)
class Entry:
    """A proxy and its toxics as the API shows them, in creation order."""

    proxy: Proxy
    toxics: list[ToxicView] = field(default_factory=list)

    def ordered_toxics(self) -> list[ToxicView]:
        """The toxics as Toxiproxy lists them: the upstream chain, then the downstream one."""
        # Toxiproxy lists the upstream chain first, then downstream.
        up = [t for t in self.toxics if t.direction == "upstream"]
        down = [t for t in self.toxics if t.direction == "downstream"]
        return up + down

    def find(self, name: str) -> ToxicView | None:
        """The toxic named `name`, in either stream, or None."""
        for toxic in self.toxics:
            if toxic.name == name:
                return toxic
        return None


# ------------------------------------------------------------ address resolution


def _go_ip(text: str) -> str | None:
    """The Go string form of an IP literal (zone kept), or None if not a literal."""
    base, _, zone = text.partition("%")
    try:
        ip = ipaddress.ip_address(base)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if zone and ip.version == 6:
        return f"{ip.compressed}%{zone}"
    if zone:
        return None
    return ip.compressed


async def resolve_tcp_addr(address: str) -> str:
    """net.ResolveTCPAddr("tcp", address).String(), or ApiError(500) with Go's text."""
    if address == "":
        return ":0"
    try:
        host, service = split_host_port(address)
        port = port_number(service)
    except AddressError as err:
        raise internal(str(err)) from None
    if host == "":
        return f":{port}"
    literal = _go_ip(host)
    if literal is not None:
        return join_host_port(literal, port)
    want6 = "[" in address
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout=10
        )
    except (OSError, UnicodeError, TimeoutError):
        raise internal(f"lookup {host}: no such host") from None
    for family, *_rest, sockaddr in infos:
        if (family == socket.AF_INET6) == want6:
            resolved = _go_ip(str(sockaddr[0]))
            if resolved is not None:
                return join_host_port(resolved, port)
    raise internal(f"lookup {host}: no suitable address found")


# ------------------------------------------------------------ the collection


class ProxyCollection:
    """Name -> proxy, with Toxiproxy's semantics for add, replace, reset and toxics.

    `on_relabel` lets the metrics fold a proxy's byte counters before its
    address labels change; `on_retire` before the proxy goes away for good.
    """

    def __init__(
        self,
        on_retire: Callable[[Proxy], None] | None = None,
        on_relabel: Callable[[Proxy], None] | None = None,
    ) -> None:
        self._entries: dict[str, Entry] = {}
        self._on_retire = on_retire or (lambda proxy: None)
        self._on_relabel = on_relabel or (lambda proxy: None)

    def entries(self) -> dict[str, Entry]:
        """A snapshot of the proxies by name,
        safe to iterate while handlers change the collection."""
        return dict(self._entries)

    def get(self, name: str) -> Entry:
        """The proxy named `name`; raises ApiError 404 "proxy not found"."""
        entry = self._entries.get(name)
        if entry is None:
            raise api_error(PROXY_NOT_FOUND)
        return entry

    async def add(self, name: str, listen: str, upstream: str, enabled: bool) -> Entry:
        """Create a proxy, started when `enabled`;
        raises ApiError 409 on a taken name, 500 when it cannot listen."""
        if name in self._entries:
            raise api_error(PROXY_EXISTS)
        proxy = Proxy(name, listen, upstream)
        if enabled:
            await _start(proxy)
        entry = Entry(proxy)
        self._entries[name] = entry
        return entry

    async def _differs(self, proxy: Proxy, listen: str, upstream: str) -> bool:
        resolved = await resolve_tcp_addr(listen)
        return proxy.listen != resolved or proxy.upstream != upstream

    async def update(self, entry: Entry, listen: str, upstream: str, enabled: bool) -> None:
        """Move and/or enable or disable a proxy;
        a changed address stops it first, closing its connections."""
        proxy = entry.proxy
        if await self._differs(proxy, listen, upstream):
            await self._stop(proxy)
            self._on_relabel(proxy)
            proxy.listen = listen
            proxy.upstream = upstream
        if enabled != proxy.enabled:
            if enabled:
                await _start(proxy)
            else:
                await self._stop(proxy)

    async def add_or_replace(self, name: str, listen: str, upstream: str, enabled: bool) -> Entry:
        """As /populate: an unchanged proxy stays (with its toxics),
        a changed one is replaced by a fresh one."""
        existing = self._entries.get(name)
        if existing is not None:
            if not await self._differs(existing.proxy, listen, upstream):
                return existing
            await self._stop(existing.proxy)
        proxy = Proxy(name, listen, upstream)
        if enabled:
            await _start(proxy)
        if existing is not None:
            self._on_retire(existing.proxy)
        entry = Entry(proxy)
        self._entries[name] = entry
        return entry

    async def populate(
        self, items: list[tuple[str, str, str, bool]]
    ) -> tuple[list[Entry], ApiError | None]:
        """Handle (name, listen, upstream, enabled) in order; stop at the first failure."""
        done: list[Entry] = []
        for name, listen, upstream, enabled in items:
            try:
                done.append(await self.add_or_replace(name, listen, upstream, enabled))
            except ApiError as err:
                return done, err
        return done, None

    async def remove(self, name: str) -> None:
        """Stop and forget a proxy; raises ApiError 404 when there is none."""
        entry = self.get(name)
        await self._stop(entry.proxy)
        self._on_retire(entry.proxy)
        # Stopping awaited I/O: only drop the name if it still maps to this proxy.
        if self._entries.get(name) is entry:
            del self._entries[name]

    async def reset(self) -> None:
        """As POST /reset: start every disabled proxy and remove every toxic."""
        for name in sorted(self._entries):
            entry = self._entries.get(name)
            if entry is None:
                continue
            if not entry.proxy.enabled:
                await _start(entry.proxy)
            await entry.proxy.remove_all_toxics()
            entry.toxics.clear()

    async def clear(self) -> None:
        """Stop and forget every proxy, at shutdown."""
        for name in list(self._entries):
            entry = self._entries.pop(name)
            await self._stop(entry.proxy)
            self._on_retire(entry.proxy)

    async def _stop(self, proxy: Proxy) -> None:
        if proxy.enabled:
            await proxy.stop()

    # ---------------------------------------------------------------- toxics

    async def add_toxic(
        self,
        entry: Entry,
        name: str,
        type_name: str,
        stream: str,
        toxicity: float,
        attributes: dict[str, int],
    ) -> ToxicView:
        """Add a toxic to the live links as well;
        raises ApiError 400 on a stream that is neither way."""
        direction = stream.lower()
        if direction not in ("upstream", "downstream"):
            raise api_error(INVALID_STREAM)
        toxicity = to_float32(toxicity)
        await entry.proxy.add_toxic(name, type_name, direction, toxicity, attributes)
        view = ToxicView(name, type_name, stream, direction, toxicity, dict(attributes))
        entry.toxics.append(view)
        return view

    async def update_toxic(
        self, entry: Entry, view: ToxicView, attributes: dict[str, int], toxicity: float
    ) -> ToxicView:
        """Apply new attributes and toxicity (rounded to float32, as Go keeps it);
        running stages restart."""
        toxicity = to_float32(toxicity)
        await entry.proxy.update_toxic(view.name, attributes, toxicity)
        view.attributes = dict(attributes)
        view.toxicity = toxicity
        return view

    async def remove_toxic(self, entry: Entry, name: str) -> None:
        """Take the toxic off every link; raises ApiError 404 "toxic not found"."""
        view = entry.find(name)
        if view is None:
            raise api_error(TOXIC_NOT_FOUND)
        entry.toxics.remove(view)
        await entry.proxy.remove_toxic(name)


async def _start(proxy: Proxy) -> None:
    try:
        await proxy.start()
    except OSError as err:
        raise internal(os_error_text(err)) from None


def toxic_class_names() -> list[str]:
    return sorted(TOXIC_TYPES)
