"""Test kit for workflows under test: a recording stub partner in a thread, and workflow processes.

The stub is a tiny Starlette app served by uvicorn on 127.0.0.1 (port 0) in a
background thread. It records every call and answers with whatever the
test's `answer` function returns. Workflows run as real processes
(`python -m workflows.<name>`), ready once their `ready_path` answers.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import http_kit
import httpx
import uvicorn
from process_kit import ServiceStartError, service
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic() when it arrived


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


Answerer = Callable[[Call, list[Call]], Answer]


class StubPartner:
    def __init__(self, answer: Answerer) -> None:
        self.answer = answer
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        call = Call(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=json.loads(raw) if raw else None,
            at=time.monotonic(),
        )
        with self._lock:
            earlier = list(self.calls)
            self.calls.append(call)
        reply = self.answer(call, earlier)
        return JSONResponse(reply.body, reply.status, headers=reply.headers)

    def matching(self, method: str, path_prefix: str = "") -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    def start(self) -> None:
        route = Route("/{rest:path}", self._handle, methods=["GET", "POST", "PUT", "PATCH"])
        config = uvicorn.Config(
            Starlette(routes=[route]), host="127.0.0.1", port=0, log_level="warning"
        )
        server = uvicorn.Server(config)
        # The test's thread owns no event loop; the stub gets its own.
        thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
        thread.start()
        wait_until(lambda: server.started, 10.0)
        port = server.servers[0].sockets[0].getsockname()[1]
        self._server, self._thread, self.url = server, thread, f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)


@contextmanager
def stub_partner(answer: Answerer) -> Iterator[StubPartner]:
    stub = StubPartner(answer)
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()


def wait_until(check: Callable[[], object], timeout_s: float = 10.0) -> None:
    """Poll `check` until it is truthy; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"condition not met within {timeout_s}s"
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def workflow_process(
    module: str, env: dict[str, str], port: int, log: Path, ready_path: str = "/healthz"
) -> Iterator[httpx.Client]:
    """Run `python -m workflows.<module>`; yield a client for it once `ready_path` answers."""
    base = f"http://127.0.0.1:{port}"
    try:
        with service(
            [sys.executable, "-m", f"workflows.{module}"], env=env, cwd=REPO,
            ready_url=base + ready_path,
        ) as svc, http_kit.client(base_url=base, timeout=10) as client:  # fmt: skip
            yield client
            log.write_bytes(svc.stdout_path.read_bytes() + svc.stderr_path.read_bytes())
    except ServiceStartError as exc:
        raise AssertionError(str(exc)) from None


def regenerate_fixtures(folder: str, out: Path) -> bytes:
    """Run `fixtures/<folder>/make_events.py --out OUT` and return what it wrote."""
    script = REPO / "fixtures" / folder / "make_events.py"
    subprocess.run(
        [sys.executable, str(script), "--out", str(out)], cwd=REPO, check=True, capture_output=True
    )
    return out.read_bytes()
