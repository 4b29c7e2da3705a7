"""Fixtures for the control-API tests: the embedded server as a real subprocess.

The server is started once per session on an ephemeral loopback port (its
ready line names the port, so there is no pick-then-bind race) and every
test that asks for `api_url` starts and ends with an empty server.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import http_kit
import httpx
import pytest
import toxiproxy
from toxiproxy.api import APIConsumer

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(rb"API listening on (?:\[([^\]]+)\]|([^:\s]+)):(\d+)")
START_TIMEOUT_S = 20.0


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_ready(proc: subprocess.Popen[bytes], log_path: Path) -> tuple[str, int]:
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            m = READY.search(buf)
            if m:
                return (m.group(1) or m.group(2)).decode(), int(m.group(3))
    proc.kill()
    proc.wait(timeout=10)
    raise RuntimeError(f"proxy server did not start: {buf!r}\n{log_path.read_text()}")


@contextlib.contextmanager
def run_server(*flags: str) -> Iterator[ServerProcess]:
    """Start `python -m harness.proxy --port 0 FLAGS`, stop it (SIGTERM) afterwards."""
    with tempfile.TemporaryDirectory(prefix="chaoslab-proxy-") as tmp:
        log_path = Path(tmp) / "server.log"
        with open(log_path, "wb") as log_file:
            argv = [sys.executable, "-m", "harness.proxy", "--host", "127.0.0.1", "--port", "0"]
            proc = subprocess.Popen(
                [*argv, *flags],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=log_file,
            )
        try:
            host, port = _wait_ready(proc, log_path)
            yield ServerProcess(proc, host, port, log_path)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()


@pytest.fixture
def server_factory() -> Callable[..., contextlib.AbstractContextManager[ServerProcess]]:
    """`run_server(*flags)`, for tests that need a server with other flags."""
    return run_server


@pytest.fixture(scope="session")
def proxy_server() -> Iterator[ServerProcess]:
    with run_server() as server:
        yield server


def clear_server(url: str) -> None:
    """Back to an empty server: delete every proxy, then reset.

    Deleting first matters: reset re-enables proxies and fails (500, as in Go)
    when one of them cannot bind its stored address any more.
    """
    with http_kit.client(base_url=url, timeout=10) as client:
        for name in client.get("/proxies").json():
            path = "/proxies/" + urllib.parse.quote(name, safe="")
            assert client.delete(path).status_code == 204
        assert client.post("/reset").status_code == 204
        assert client.get("/proxies").json() == {}


@pytest.fixture
def api_url(proxy_server: ServerProcess) -> Iterator[str]:
    assert proxy_server.process.poll() is None, proxy_server.log()
    clear_server(proxy_server.url)
    yield proxy_server.url
    died = "server died during the test:\n"
    assert proxy_server.process.poll() is None, died + proxy_server.log()
    clear_server(proxy_server.url)


@pytest.fixture
def http(api_url: str) -> Iterator[httpx.Client]:
    with http_kit.client(base_url=api_url, timeout=10) as client:
        yield client


@pytest.fixture
def client(api_url: str, proxy_server: ServerProcess) -> Iterator[toxiproxy.Toxiproxy]:
    """The toxiproxy-python client, pointed at the embedded server (class attributes!)."""
    saved = (APIConsumer.host, APIConsumer.port)
    APIConsumer.host, APIConsumer.port = proxy_server.host, proxy_server.port
    try:
        yield toxiproxy.Toxiproxy()
    finally:
        APIConsumer.host, APIConsumer.port = saved


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10)
        with contextlib.suppress(OSError):
            while data := sock.recv(65536):
                sock.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo_upstream() -> Iterator[str]:
    """A TCP echo server on loopback; yields "127.0.0.1:PORT"."""
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
