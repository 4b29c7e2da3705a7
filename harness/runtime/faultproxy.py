"""How the harness obtains and drives a Toxiproxy server.

`open_fault_proxy()` picks a server, in this order:

1. `TOXIPROXY_URL`, if set: a server someone else runs (never started or
   stopped here);
2. a `toxiproxy-server` binary on `PATH`, started on a free loopback port;
3. the embedded server (`python -m harness.proxy`), likewise.

A server it starts is a child process in its own session (so a Ctrl-C in the
terminal reaches the harness, which then cleans up over the API) that is
stopped when the context exits, exceptions and cancellation included. The
embedded server is also told the harness's pid and exits by itself if the
harness dies without running any cleanup (SIGKILL).

Control goes through the toxiproxy-python client (its `APIConsumer`, which
maps 400/404/409 to exceptions) and, for the calls that client lacks (toxic
update), a thin httpx wrapper over the same documented HTTP API. Nothing
here relies on behaviour only the embedded server has. The facade tracks
the proxies and toxics it created and removes exactly those on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import requests
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from harness.runtime.http import client as http_client
from harness.runtime.processes import first_error_line, free_port, with_parent_death
from harness.runtime.scratch import scratch_dir

log = logging.getLogger("harness.runtime.faultproxy")

ENV_URL = "TOXIPROXY_URL"
PARENT_PID_ENV = "CHAOSLAB_PROXY_PARENT_PID"
SERVER_BINARY = "toxiproxy-server"
STARTUP_TIMEOUT_S = 20.0
CALL_TIMEOUT_S = 30.0  # above the server's own 25 s handler timeout
STOP_TIMEOUT_S = 10.0
Source = Literal["env", "path", "embedded"]

# toxiproxy-python keeps the server address in class attributes; every call
# sets them under this lock so two facades never talk to each other's server.
_CLIENT_LOCK = threading.Lock()
_NO_PROXIES = {"http": None, "https": None}


class FaultProxyError(RuntimeError):
    """A Toxiproxy server could not be obtained, or refused a request."""


@dataclass(frozen=True, slots=True)
class ToxicInfo:
    """A toxic as the server reports it; `stream` is echoed as it was sent, in any case."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToxicInfo:
        """From a toxic object of the API;
        raises KeyError or ValueError on a body that is not one."""
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            stream=str(data["stream"]),
            toxicity=float(data["toxicity"]),
            attributes={str(k): int(v) for k, v in dict(data.get("attributes") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class ProxyInfo:
    """A proxy as the server reports it; `listen` is the address it really bound."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[ToxicInfo, ...] = field(default=())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProxyInfo:
        """From a proxy object of the API;
        raises KeyError or ValueError on a body that is not one."""
        return cls(
            name=str(data["name"]),
            listen=str(data["listen"]),
            upstream=str(data["upstream"]),
            enabled=bool(data["enabled"]),
            toxics=tuple(ToxicInfo.from_json(t) for t in data.get("toxics") or []),
        )


def _path(*segments: str) -> str:
    return "/" + "/".join(urllib.parse.quote(s, safe="") for s in segments)


def _check_name(kind: str, name: str) -> None:
    # Toxiproxy matches names on the *decoded* path, so "/" can never round-trip.
    if not name or "/" in name:
        raise FaultProxyError(f"{kind} name must be non-empty and contain no '/', got {name!r}")


def _error_text(response: requests.Response | httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()
    if isinstance(data, dict) and "error" in data:
        return str(data["error"])
    return response.text.strip()


class FaultProxy:
    """A typed, async facade over one Toxiproxy server's API."""

    def __init__(
        self,
        url: str,
        source: Source = "env",
        *,
        server: str = "",
        http: httpx.AsyncClient | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme != "http" or not parts.hostname:
            raise FaultProxyError(
                f"{ENV_URL}: expected http://HOST:PORT (toxiproxy-python speaks plain http), "
                f"got {url!r}"
            )
        self.host = parts.hostname
        self.port = parts.port or 8474
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}"
        self.source: Source = source
        self.server = server
        self.server_version = ""
        self.server_pid: int | None = None  # set when the server was started here
        self._http = http or http_client(base_url=self.url, timeout=CALL_TIMEOUT_S, trust_env=False)
        self._owns_http = http is None
        self._proxies: dict[str, None] = {}  # created here, in creation order
        self._toxics: dict[tuple[str, str], None] = {}

    # ---------------------------------------------------------------- plumbing

    def describe(self) -> dict[str, str]:
        """What the run journal records about the fault proxy."""
        return {
            "url": self.url,
            "source": self.source,
            "server": self.server,
            "version": self.server_version,
        }

    @property
    def created_proxies(self) -> list[str]:
        """The proxies this facade created and has not deleted, in creation order."""
        return list(self._proxies)

    @property
    def created_toxics(self) -> list[tuple[str, str]]:
        """The (proxy, toxic) pairs this facade added and has not removed."""
        return list(self._toxics)

    async def _client(
        self, what: str, method: Literal["get", "post", "delete"], path: str, **kwargs: Any
    ) -> requests.Response:
        """One call through toxiproxy-python's APIConsumer, off the event loop."""

        def call() -> requests.Response:
            with _CLIENT_LOCK:
                saved = (APIConsumer.host, APIConsumer.port)
                APIConsumer.host, APIConsumer.port = self.host, self.port
                try:
                    # No proxies from the environment: the server is ours to reach directly.
                    response: requests.Response = getattr(APIConsumer, method)(
                        path, timeout=CALL_TIMEOUT_S, proxies=_NO_PROXIES, **kwargs
                    )
                    return response
                finally:
                    APIConsumer.host, APIConsumer.port = saved

        try:
            response = await asyncio.to_thread(call)
        except (ProxyExists, NotFound, InvalidToxic) as err:
            body = err.args[0] if err.args else b""
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
            raise FaultProxyError(f"{what}: {_message(text)}") from None
        except requests.RequestException as err:
            raise FaultProxyError(f"{what}: cannot reach {self.url}: {err}") from None
        if response.status_code >= 400:
            raise FaultProxyError(f"{what}: HTTP {response.status_code}: {_error_text(response)}")
        return response

    async def version(self) -> str:
        """The server's version string; older servers answer plain text, which is taken as it is."""
        response = await self._client("version", "get", "/version")
        text = response.text.strip()
        try:
            data = response.json()
        except ValueError:
            return text  # before 2.7 /version was plain text
        return str(data.get("version", text)) if isinstance(data, dict) else text

    # ---------------------------------------------------------------- proxies

    async def create_proxy(
        self, name: str, upstream: str, *, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> str:
        """Create a proxy and return the address it listens on ("127.0.0.1:40639")."""
        _check_name("proxy", name)
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        response = await self._client(f"create proxy {name}", "post", "/proxies", json=body)
        info = ProxyInfo.from_json(response.json())
        self._proxies[name] = None
        return info.listen

    async def get_proxy(self, name: str) -> ProxyInfo:
        """The proxy with its toxics; raises FaultProxyError (HTTP 404) when the server has none."""
        _check_name("proxy", name)
        response = await self._client(f"get proxy {name}", "get", _path("proxies", name))
        return ProxyInfo.from_json(response.json())

    async def proxies(self) -> dict[str, ProxyInfo]:
        """Every proxy on the server, ours or not, by name."""
        response = await self._client("list proxies", "get", "/proxies")
        return {name: ProxyInfo.from_json(p) for name, p in response.json().items()}

    async def set_enabled(self, name: str, enabled: bool) -> ProxyInfo:
        """Disable (listener closed, connections dropped) or re-enable a proxy."""
        _check_name("proxy", name)
        what = f"{'enable' if enabled else 'disable'} proxy {name}"
        # POST is what toxiproxy-python sends; every 2.x server accepts it.
        response = await self._client(
            what, "post", _path("proxies", name), json={"enabled": enabled}
        )
        return ProxyInfo.from_json(response.json())

    async def delete_proxy(self, name: str) -> None:
        """Delete a proxy; the server drops its connections and toxics, and so does our record."""
        _check_name("proxy", name)
        await self._client(f"delete proxy {name}", "delete", _path("proxies", name))
        self._proxies.pop(name, None)
        for key in [k for k in self._toxics if k[0] == name]:
            del self._toxics[key]

    async def delete_stale(self, prefix: str, is_alive: Callable[[str], bool]) -> list[str]:
        """Delete proxies named `prefix…` whose owner `is_alive(name)` says is gone.

        For proxies left behind by a harness that was killed outright; a live
        run's proxies are never touched.
        """
        stale = [n for n in await self.proxies() if n.startswith(prefix) and not is_alive(n)]
        for name in stale:
            with contextlib.suppress(FaultProxyError):
                await self._client(f"delete stale proxy {name}", "delete", _path("proxies", name))
                log.info("deleted stale proxy %s", name)
        return stale

    # ---------------------------------------------------------------- toxics

    async def add_toxic(
        self,
        proxy: str,
        *,
        name: str | None = None,
        type: str,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, int] | None = None,
    ) -> ToxicInfo:
        """Add a toxic to the end of a link's chain; open connections get it too.

        `name` defaults to Toxiproxy's own `<type>_<stream>`; raises FaultProxyError when the server
        refuses (a taken name, bad attributes).
        """
        _check_name("proxy", proxy)
        toxic_name = name or f"{type}_{stream}"
        _check_name("toxic", toxic_name)
        body = {
            "name": toxic_name,
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        what = f"add toxic {toxic_name} to {proxy}"
        path = _path("proxies", proxy, "toxics")
        response = await self._client(what, "post", path, json=body)
        info = ToxicInfo.from_json(response.json())
        self._toxics[(proxy, info.name)] = None
        return info

    async def update_toxic(
        self,
        proxy: str,
        name: str,
        *,
        attributes: Mapping[str, int] | None = None,
        toxicity: float | None = None,
    ) -> ToxicInfo:
        """Change a toxic's attributes (merged) and/or toxicity on live connections."""
        _check_name("proxy", proxy)
        _check_name("toxic", name)
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = dict(attributes)
        if toxicity is not None:
            body["toxicity"] = toxicity
        what = f"update toxic {name} on {proxy}"
        # toxiproxy-python has no update call; POST is accepted by every 2.x server.
        try:
            response = await self._http.post(_path("proxies", proxy, "toxics", name), json=body)
        except httpx.HTTPError as err:
            raise FaultProxyError(f"{what}: cannot reach {self.url}: {err}") from None
        if response.status_code >= 400:
            raise FaultProxyError(f"{what}: HTTP {response.status_code}: {_error_text(response)}")
        return ToxicInfo.from_json(response.json())

    async def toxics(self, proxy: str) -> list[ToxicInfo]:
        """The toxics of one proxy, upstream chain first."""
        _check_name("proxy", proxy)
        response = await self._client(
            f"list toxics of {proxy}", "get", _path("proxies", proxy, "toxics")
        )
        return [ToxicInfo.from_json(t) for t in response.json()]

    async def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove a toxic; raises FaultProxyError (HTTP 404) when it is not there."""
        _check_name("proxy", proxy)
        _check_name("toxic", name)
        await self._client(
            f"remove toxic {name} from {proxy}", "delete", _path("proxies", proxy, "toxics", name)
        )
        self._toxics.pop((proxy, name), None)

    # ---------------------------------------------------------------- reset and cleanup

    async def reset(self) -> None:
        """Toxiproxy's reset, limited to what this facade created.

        Its proxies are re-enabled and lose all toxics; nothing else on the
        server changes (a shared server's other users are left alone).
        """
        for proxy in list(self._proxies):
            info = await self.get_proxy(proxy)
            for toxic in info.toxics:
                await self.remove_toxic(proxy, toxic.name)
            if not info.enabled:
                await self.set_enabled(proxy, True)

    async def reset_server(self) -> None:
        """POST /reset: every proxy on the server re-enabled, every toxic removed."""
        await self._client("reset", "post", "/reset")
        self._toxics.clear()

    async def cleanup(self) -> list[str]:
        """Remove the toxics and proxies created here (and only those); returns problems."""
        problems: list[str] = []
        for proxy, toxic in list(self._toxics):
            if proxy in self._proxies:
                continue  # deleting the proxy takes its toxics with it
            try:
                await self.remove_toxic(proxy, toxic)
            except FaultProxyError as err:
                if "not found" not in str(err):
                    problems.append(str(err))
                self._toxics.pop((proxy, toxic), None)
        for proxy in list(self._proxies):
            try:
                await self.delete_proxy(proxy)
            except FaultProxyError as err:
                if "not found" not in str(err):
                    problems.append(str(err))
                self._proxies.pop(proxy, None)
        self._toxics.clear()
        for problem in problems:
            log.warning("fault proxy cleanup: %s", problem)
        return problems

    async def aclose(self) -> None:
        """Close the HTTP client, when this facade made it;
        the server's proxies are left as they are."""
        if self._owns_http:
            await self._http.aclose()


def _message(text: str) -> str:
    text = text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text
    return str(data["error"]) if isinstance(data, dict) and "error" in data else text


# ------------------------------------------------------------ starting a server


@dataclass
class ServerProcess:
    """A Toxiproxy server this run started; the caller stops it."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log_tail(self, limit: int = 2000) -> str:
        """The last `limit` characters of the server's log,
        for an error message ("" if unreadable)."""
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; synchronous, so a cancellation cannot skip it."""
        proc = self.process
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)


def _server_argv(binary: str | None, port: int) -> list[str]:
    if binary is not None:
        return [binary, "-host", "127.0.0.1", "-port", str(port)]
    return [sys.executable, "-m", "harness.proxy", "--host", "127.0.0.1", "--port", str(port)]


async def _wait_ready(server: ServerProcess, deadline: float) -> str:
    """Poll GET /version until it answers; returns the version string."""
    async with http_client(base_url=server.url, timeout=2.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                tail = server.log_tail()
                cause = first_error_line(tail) or " ".join(tail.split())[-200:] or "no output"
                raise FaultProxyError(
                    f"fault proxy server exited with code {server.process.returncode}: {cause}"
                )
            try:
                response = await http.get("/version")
                if response.status_code == 200:
                    text = response.text.strip()
                    try:
                        return str(response.json().get("version", text))
                    except (ValueError, AttributeError):
                        return text
            except httpx.HTTPError:
                pass
            # The process is starting; its port opens within milliseconds to a second.
            await asyncio.sleep(0.05)
    raise FaultProxyError(f"fault proxy server at {server.url} did not answer /version in time")


def _spawn(binary: str | None, log_path: Path) -> ServerProcess:
    port = free_port()
    env = dict(os.environ)
    # The embedded server exits by itself if the harness dies without cleanup.
    env[PARENT_PID_ENV] = str(os.getpid())
    with open(log_path, "wb") as log_file:
        argv = _server_argv(binary, port)
        if binary is not None:
            # A real toxiproxy-server cannot follow us by itself: launch it so
            # that the kernel stops it if the harness is killed outright.
            argv = with_parent_death(argv)
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            # Own session: a terminal Ctrl-C reaches the harness only, which
            # then cleans up over the API before stopping the server.
            start_new_session=True,
        )
    return ServerProcess(process, f"http://127.0.0.1:{port}", log_path)


async def _start_server(
    binary: str | None, log_dir: Path, startup_s: float
) -> tuple[ServerProcess, str]:
    deadline = time.monotonic() + startup_s
    last: FaultProxyError | None = None
    for attempt in range(3):  # a free port can be taken between choosing and binding it
        server = _spawn(binary, log_dir / f"server-{attempt}.log")
        try:
            version = await _wait_ready(server, deadline)
            return server, version
        except FaultProxyError as err:
            server.stop()
            last = err
        except BaseException:
            server.stop()
            raise
    assert last is not None
    raise last


# What /version of a Toxiproxy answers: {"version": "2.12.0"}, or the bare text before 2.7.
_VERSION_TEXT = re.compile(r"^v?\d+\.\d+[\w.+-]*$")


def _version_in(response: httpx.Response) -> str | None:
    text = response.text.strip()
    try:
        data = response.json()
    except ValueError:
        return text if _VERSION_TEXT.match(text) else None
    version = data.get("version") if isinstance(data, dict) else None
    return str(version) if isinstance(version, str) and version else None


def _connect_failure(err: BaseException) -> str:
    """The socket-level reason under httpx's (and anyio's) wrapping, in a few words."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, OSError) and seen.strerror:
            return f"cannot connect: {seen.strerror.lower()}"
        seen = seen.__cause__ or seen.__context__
    return f"cannot connect: {' '.join(str(err).split()) or type(err).__name__}"


async def probe_server(
    url: str, timeout_s: float = STARTUP_TIMEOUT_S, *, label: str | None = None
) -> str:
    """The version of the Toxiproxy server at ``url`` (TOXIPROXY_URL), or one line saying why not.

    Asked directly rather than through the client so that a wrong address is
    reported as what it is, not as a page of HTML or a urllib3 repr.
    """
    where = label or f"{ENV_URL}={url}"
    try:
        async with http_client(timeout=timeout_s, trust_env=False) as http:
            response = await http.get(url.rstrip("/") + "/version")
    except httpx.ConnectError as err:
        raise FaultProxyError(f"{where}: {_connect_failure(err)}") from None
    except httpx.TimeoutException:
        raise FaultProxyError(f"{where}: no answer within {timeout_s:g} s") from None
    except httpx.HTTPError as err:
        raise FaultProxyError(
            f"{where}: not a Toxiproxy server (GET /version: {type(err).__name__})"
        ) from None
    if response.status_code != 200:
        raise FaultProxyError(
            f"{where}: not a Toxiproxy server (GET /version answered {response.status_code})"
        )
    version = _version_in(response)
    if version is None:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        raise FaultProxyError(
            f"{where}: not a Toxiproxy server (GET /version answered 200 with {kind}, "
            "not a version)"
        )
    return version


@contextlib.asynccontextmanager
async def open_fault_proxy(
    *,
    env: Mapping[str, str] | None = None,
    use_path: bool = True,
    startup_timeout: float = STARTUP_TIMEOUT_S,
) -> AsyncIterator[FaultProxy]:
    """Obtain a Toxiproxy server (see the module docstring) and a facade over it.

    On exit the facade's own proxies and toxics are removed, then a server
    started here is stopped.
    """
    environ = os.environ if env is None else env
    url = environ.get(ENV_URL, "").strip()
    server: ServerProcess | None = None
    # The server's log folder; a harness killed outright leaves it to the next one.
    with scratch_dir("faultproxy") as tmp:
        try:
            if url:
                facade = FaultProxy(url, "env", server=ENV_URL)
                try:
                    facade.server_version = await probe_server(
                        facade.url, startup_timeout, label=f"{ENV_URL}={url}"
                    )
                except BaseException:
                    await facade.aclose()
                    raise
            else:
                binary = shutil.which(SERVER_BINARY) if use_path else None
                server, version = await _start_server(binary, Path(tmp), startup_timeout)
                source: Source = "path" if binary else "embedded"
                facade = FaultProxy(
                    server.url, source, server=binary or f"{sys.executable} -m harness.proxy"
                )
                facade.server_version = version
                facade.server_pid = server.process.pid
            try:
                yield facade
            finally:
                try:
                    # Cleanup must not outlive a dead or hung server.
                    await asyncio.wait_for(facade.cleanup(), timeout=CALL_TIMEOUT_S)
                except (TimeoutError, FaultProxyError) as err:
                    log.warning("fault proxy cleanup: %s", err)
                finally:
                    await facade.aclose()
        finally:
            if server is not None:
                server.stop()
