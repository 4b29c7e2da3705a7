"""`toxiproxy-server` look-alike: flags, startup, and a small HTTP/1.1 server.

The HTTP layer is hand-written on asyncio streams rather than an ASGI stack
so that every byte a Go `net/http` server would send (status line, header
set, `Content-Length` rules, 400s for broken requests, keep-alive) is under
our control, and so that it shares one event loop with the proxies' data
plane at no extra cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import email.utils
import logging
import os
import random
import signal
import sys
import urllib.parse
from dataclasses import dataclass
from http import HTTPStatus

from harness.proxy.api import VERSION, Api, Request, Response
from harness.proxy.collection import ProxyCollection
from harness.proxy.metrics import Metrics
from harness.proxy.proxy import run as run_loop

log = logging.getLogger("harness.proxy")

READ_TIMEOUT_S = 15.0
IDLE_TIMEOUT_S = 60.0
SHUTDOWN_GRACE_S = 30.0
MAX_HEADER_BYTES = 1 << 20
# Go reads bodies of any size; a cap keeps a hostile client from exhausting memory.
MAX_BODY_BYTES = 16 << 20
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class BadRequest(Exception):
    """The request cannot be parsed; Go answers these itself, then closes."""

    def __init__(self, status: int = 400, detail: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail

    def raw(self) -> bytes:
        """The whole HTTP/1.1 answer, as Go's server writes it before closing the connection."""
        phrase = f"{self.status} {HTTPStatus(self.status).phrase}"
        if self.status == 501:
            text = "Unsupported transfer encoding"
            head = phrase
        else:
            text = f"{phrase}: {self.detail}" if self.detail else phrase
            head = text
        return (
            f"HTTP/1.1 {head}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Connection: close\r\n\r\n{text}"
        ).encode("utf-8", "replace")


def _canonical(key: str) -> str:
    # textproto.CanonicalMIMEHeaderKey for the common case.
    return "-".join(part[:1].upper() + part[1:].lower() for part in key.split("-"))


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise BadRequest(431) from None


@dataclass(slots=True)
class _Parsed:
    request: Request
    keep_alive: bool
    http11: bool
    head: bool


def _decode_path(raw: str) -> tuple[str, str]:
    """Go's URL parsing for a request target: the unescaped path and the raw query."""
    target = raw
    if target.startswith(("http://", "https://")):
        parts = urllib.parse.urlsplit(target)
        target = parts.path or "/"
        query = parts.query
    else:
        if not target.startswith("/"):
            raise BadRequest(400)
        target, _, query = target.partition("?")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        raise BadRequest(400)  # net/url: invalid control character in URL
    if "%" in target:
        pieces = target.split("%")
        for piece in pieces[1:]:
            if len(piece) < 2 or any(c not in "0123456789abcdefABCDEF" for c in piece[:2]):
                raise BadRequest(400)
    # The line was read as latin-1; undo that to get Go's raw path bytes.
    raw_path = urllib.parse.unquote_to_bytes(target.encode("latin-1"))
    return raw_path.decode("utf-8", "surrogateescape"), query


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: bytes
) -> _Parsed:
    line = first.rstrip(b"\r\n").decode("latin-1")
    method, sep1, rest = line.partition(" ")
    target, sep2, proto = rest.partition(" ")
    if not sep1 or not sep2 or not method or not target:
        raise BadRequest(400, "")
    if any(c not in _TOKEN for c in method):
        raise BadRequest(400)
    if proto not in ("HTTP/1.1", "HTTP/1.0"):
        if proto.startswith("HTTP/") and proto[5:6].isdigit() and proto[5:6] != "1":
            raise BadRequest(505)
        raise BadRequest(400)
    http11 = proto == "HTTP/1.1"
    headers: list[tuple[str, str]] = []
    size = len(first)
    while True:
        raw = await _read_line(reader)
        if not raw.endswith(b"\n"):
            raise asyncio.IncompleteReadError(raw, None)
        size += len(raw)
        if size > MAX_HEADER_BYTES:
            raise BadRequest(431)
        text = raw.rstrip(b"\r\n")
        if not text:
            break
        if text[:1] in (b" ", b"\t"):
            raise BadRequest(400)
        key, colon, value = text.decode("latin-1").partition(":")
        if not colon or not key or any(c not in _TOKEN for c in key):
            raise BadRequest(400)
        headers.append((_canonical(key), value.strip(" \t")))

    def values(name: str) -> list[str]:
        return [v for k, v in headers if k == name]

    hosts = values("Host")
    if http11 and len(hosts) != 1:
        detail = "missing required Host header" if not hosts else "too many Host headers"
        raise BadRequest(400, detail)
    if target == "*":
        path, query = "*", ""
    else:
        path, query = _decode_path(target)

    connection = ",".join(values("Connection")).lower()
    keep_alive = ("close" not in connection) if http11 else ("keep-alive" in connection)

    body = b""
    te = [v.strip().lower() for v in ",".join(values("Transfer-Encoding")).split(",") if v.strip()]
    lengths = values("Content-Length")
    expect = ",".join(values("Expect")).lower()
    if te:
        if te != ["chunked"]:
            raise BadRequest(501)
        body = await _read_chunked(reader, writer, expect)
    elif lengths:
        if len(set(lengths)) != 1 or not lengths[0].isdigit():
            raise BadRequest(400)
        n = int(lengths[0])
        if n > MAX_BODY_BYTES:
            raise BadRequest(413)
        if n:
            _continue(writer, expect)
            body = await reader.readexactly(n)
    request = Request(method, path, query, headers, body)
    return _Parsed(request, keep_alive, http11, method == "HEAD")


def _continue(writer: asyncio.StreamWriter, expect: str) -> None:
    # curl waits up to a second for this before sending a body over 1 KiB.
    if "100-continue" in expect and not writer.is_closing():
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")


async def _read_chunked(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, expect: str
) -> bytes:
    _continue(writer, expect)
    chunks: list[bytes] = []
    total = 0
    while True:
        line = (await _read_line(reader)).rstrip(b"\r\n")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadRequest(400) from None
        if size < 0:
            raise BadRequest(400)
        if size == 0:
            while (await _read_line(reader)).rstrip(b"\r\n"):
                pass  # trailers are ignored
            return b"".join(chunks)
        total += size
        if total > MAX_BODY_BYTES:
            raise BadRequest(413)
        chunks.append(await reader.readexactly(size))
        if (await reader.readexactly(2)) != b"\r\n":
            raise BadRequest(400)


def _render(response: Response, parsed: _Parsed, close: bool) -> bytes:
    status = response.status
    phrase = HTTPStatus(status).phrase
    version = "HTTP/1.1" if parsed.http11 else "HTTP/1.0"
    lines = [f"{version} {status} {phrase}"]
    for key, value in sorted(response.headers, key=lambda kv: kv[0]):
        lines.append(f"{key}: {value}")
    lines.append("Date: " + email.utils.formatdate(usegmt=True))
    if status not in (204, 304) and status >= 200:
        lines.append(f"Content-Length: {len(response.body)}")
    if close and parsed.http11:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    if parsed.head or status in (204, 304):
        return head
    return head + response.body


class HttpServer:
    """Serves an `Api` over HTTP/1.1 with keep-alive, Go's timeouts and graceful shutdown."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self._server: asyncio.Server | None = None
        self._idle: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    async def start(self, host: str, port: int) -> list[tuple[str, int]]:
        """Listen on `host`:`port` (0 picks one); returns the addresses actually bound."""
        self._server = await asyncio.start_server(
            self._connection, host, port, limit=MAX_HEADER_BYTES + 4096
        )
        return [sock.getsockname()[:2] for sock in self._server.sockets]

    async def shutdown(self, grace: float = SHUTDOWN_GRACE_S) -> None:
        """Stop accepting, close idle connections,
        give busy ones `grace` seconds, then cancel them."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for writer in list(self._idle):
            writer.close()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self._server is not None:
            await self._server.wait_closed()
        await self.api.drain()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception:
            log.exception("API connection failed")
        finally:
            self._tasks.discard(task)
            self._idle.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not self._closing:
            self._idle.add(writer)
            try:
                async with asyncio.timeout(IDLE_TIMEOUT_S):
                    first = await _read_line(reader)
            except BadRequest as err:
                writer.write(err.raw())
                return
            finally:
                self._idle.discard(writer)
            if not first.endswith(b"\n"):
                return  # the client went away between requests
            try:
                async with asyncio.timeout(READ_TIMEOUT_S):
                    parsed = await _read_request(reader, writer, first)
            except BadRequest as err:
                writer.write(err.raw())
                await writer.drain()
                return
            if parsed.request.path == "*":
                response = Response(200 if parsed.request.method == "OPTIONS" else 400)
            else:
                response = await self.api.dispatch(parsed.request)
            close = not parsed.keep_alive or self._closing
            writer.write(_render(response, parsed, close))
            await writer.drain()
            if close:
                return


# ------------------------------------------------------------ command line

USAGE = """Usage of chaoslab proxy (a toxiproxy-server compatible server):
  -config string
    \tJSON file containing proxies to create on startup
  -host string
    \tHost for toxiproxy's API to listen on (default "127.0.0.1")
  -port string
    \tPort for toxiproxy's API to listen on (default "8474")
  -proxy-metrics
    \tenable toxiproxy-specific metrics (default false)
  -runtime-metrics
    \tenable runtime-related metrics (default false)
  -seed int
    \tSeed for randomizing toxics with (default: not seeded)
  -version
    \tget toxiproxy version
"""

_STRING_FLAGS = ("host", "port", "config", "seed")
_BOOL_FLAGS = ("proxy-metrics", "runtime-metrics", "version", "help", "h")


@dataclass(slots=True)
class Options:
    """The command-line flags, with the real server's defaults."""

    host: str = "127.0.0.1"
    port: str = "8474"
    config: str = ""
    seed: int | None = None
    proxy_metrics: bool = False
    runtime_metrics: bool = False
    version: bool = False
    help: bool = False


class UsageError(Exception):
    """A flag the command line cannot take; the caller prints it with the usage and exits 2."""

    pass


def parse_flags(argv: list[str]) -> Options:
    """Go `flag` rules: -x or --x, `-x=v` or `-x v`, booleans take only `=v`."""
    opts = Options()
    values: dict[str, str] = {}
    flags: dict[str, bool] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--" or not arg.startswith("-") or arg == "-":
            break
        name = arg[2:] if arg.startswith("--") else arg[1:]
        name, eq, value = name.partition("=")
        if name in _BOOL_FLAGS:
            if not eq:
                flags[name] = True
            elif value.lower() in ("1", "t", "true"):
                flags[name] = True
            elif value.lower() in ("0", "f", "false"):
                flags[name] = False
            else:
                raise UsageError(f'invalid boolean value "{value}" for -{name}')
        elif name in _STRING_FLAGS:
            if not eq:
                if i >= len(argv):
                    raise UsageError(f"flag needs an argument: -{name}")
                value = argv[i]
                i += 1
            values[name] = value
        else:
            raise UsageError(f"flag provided but not defined: -{name}")
    opts.host = values.get("host", opts.host)
    opts.port = values.get("port", opts.port)
    opts.config = values.get("config", "")
    if "seed" in values:
        try:
            opts.seed = int(values["seed"])
        except ValueError:
            raise UsageError(f'invalid value "{values["seed"]}" for flag -seed') from None
    opts.proxy_metrics = flags.get("proxy-metrics", False)
    opts.runtime_metrics = flags.get("runtime-metrics", False)
    opts.version = flags.get("version", False)
    opts.help = flags.get("help", False) or flags.get("h", False)
    return opts


_LEVELS = {
    "panic": logging.CRITICAL,
    "fatal": logging.CRITICAL,
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": logging.DEBUG,
}


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("harness.proxy")
    root.addHandler(handler)
    root.propagate = False
    level_name = os.environ.get("LOG_LEVEL", "info").lower()
    root.setLevel(_LEVELS.get(level_name, logging.INFO))
    if level_name not in _LEVELS:
        log.error("LOG_LEVEL: unknown level %r, using info", level_name)


def _read_file(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


async def _load_config(api: Api, path: str) -> None:
    try:
        data = await asyncio.to_thread(_read_file, path)
    except OSError as err:
        log.error("config %s: cannot read: %s", path, err.strerror or err)
        return
    response = await api.populate(Request("POST", "/populate", "", [], data))
    if response.status == 201:
        log.info("config %s: populated proxies", path)
    else:
        log.error("config %s: %s", path, response.body.decode("utf-8", "replace"))


PARENT_PID_ENV = "CHAOSLAB_PROXY_PARENT_PID"


def _follow_parent() -> bool:
    """Exit with the process that started us, when it asked for that.

    A harness that is killed outright cannot stop its server; on Linux the
    kernel then sends us SIGTERM (PR_SET_PDEATHSIG), which shuts down cleanly.
    Returns False when that parent is already gone.
    """
    wanted = os.environ.get(PARENT_PID_ENV, "")
    if not wanted.isdigit():
        return True
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    # The parent may have died before prctl took effect.
    return os.getppid() == int(wanted)


async def serve(opts: Options, ready: asyncio.Event | None = None) -> int:
    """Run the server until SIGINT/SIGTERM; returns the exit code."""
    if not _follow_parent():
        return 0
    metrics = Metrics(opts.proxy_metrics, opts.runtime_metrics)
    collection = ProxyCollection(on_retire=metrics.retire, on_relabel=metrics.fold)
    api = Api(collection, metrics)
    http = HttpServer(api)
    if opts.config:
        await _load_config(api, opts.config)
    try:
        port = (
            int(opts.port)
            if opts.port.isdigit()
            else __import__("socket").getservbyname(opts.port, "tcp")
        )
        bound = await http.start(opts.host, port)
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        print(f"chaoslab proxy: listen tcp {opts.host}:{opts.port}: {reason}", file=sys.stderr)
        await collection.clear()
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    host, actual_port = bound[0]
    shown = f"[{host}]:{actual_port}" if ":" in host else f"{host}:{actual_port}"
    print(f"chaoslab proxy: API listening on {shown}", flush=True)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await http.shutdown()
        await collection.clear()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`toxiproxy-server` flags and exit codes: 2 on a bad flag, 0 after a clean shutdown."""
    args = sys.argv[1:] if argv is None else argv
    try:
        opts = parse_flags(args)
    except UsageError as err:
        print(err, file=sys.stderr)
        print(USAGE, file=sys.stderr, end="")
        return 2
    if opts.help:
        print(USAGE, file=sys.stderr, end="")
        return 0
    if opts.version:
        print(f"toxiproxy-server version {VERSION} (chaoslab proxy)")
        return 0
    if opts.seed is not None:
        # Go's -seed has no effect; honouring it makes toxicity draws repeatable.
        random.seed(opts.seed)
    _setup_logging()
    try:
        # uvloop where installed: it roughly halves the added round trip.
        return run_loop(serve(opts))
    except KeyboardInterrupt:
        return 0
