"""The bad-input corpus: every case in tests/bad_inputs/ gets one clear answer.

A case is one ``NAME.case.toml`` (the files it reads sit beside it):

    # Why the case exists.
    argv = ["fixtures", "check", "empty.jsonl"]   # after `chaoslab`
    stderr = "empty.jsonl: 1 problem"             # in the one stderr line (or a list)
    stdout = "empty.jsonl: no requests"           # optional, somewhere in stdout
    code = 2                                      # optional, 2 by default
    env = { TOXIPROXY_URL = "..." }               # optional
    in_process = true                             # optional, see below

or, for the embedded fault proxy's API, ``status``, ``error`` and a
``[request]`` table (method, path, body). Text may use {reports},
{closed_port}, {busy_port}, {not_toxiproxy} and {web_port} (an HTTP
server's port), in the case and in the pilot files beside it.

A command runs as a subprocess in a fresh folder holding copies of the
case's neighbours, with CHAOSLAB_REPORTS and TMPDIR inside it. It must exit
with the case's code, print exactly one stderr line holding the expected
text and no traceback, leave no process running and write no file outside
the reports folder. Cases run on a thread pool: each is a second or two of
interpreter start-up, mostly waiting. A case refused before anything starts
(a value out of range, a file nested too deep) says ``in_process = true``
and runs in the test's own interpreter instead, where a start-up proves
nothing: same folder, same checks, and no child process may outlive it.
The subprocess cases are marked slow: ``make check`` leaves them out.

Adding a case is adding a file here; no code changes.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import http_kit
import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = Path(__file__).resolve().parent / "bad_inputs"
CASE_FILES = sorted(CASES.glob("*.case.toml"))
CASE_SUFFIX = ".case.toml"
WORKERS = 4
TIMEOUT_S = 60
API_PROXY = "bad-input-api"  # a proxy the API cases can refer to
# One xdist worker runs the whole corpus: the module fixtures below start every
# command case and a proxy server, once per worker that runs any case.
pytestmark = pytest.mark.xdist_group("bad-inputs")


def case_name(path: Path) -> str:
    return path.name.removesuffix(CASE_SUFFIX)


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    values: dict[str, str] = field(default_factory=dict)  # what its placeholders meant
    left_running: list[str] = field(default_factory=list)
    written_outside: list[str] = field(default_factory=list)


# ------------------------------------------------------------ what cases may point at


class _NotToxiproxy(http.server.BaseHTTPRequestHandler):
    """A web server with pages, none of them Toxiproxy's."""

    def do_GET(self) -> None:
        body = b"<!doctype html>\n<html><body><h1>404 Not Found</h1></body></html>\n"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def places() -> Iterator[dict[str, str]]:
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotToxiproxy)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        yield {
            "not_toxiproxy": f"http://127.0.0.1:{web.server_address[1]}",
            "web_port": str(web.server_address[1]),  # an HTTP server: no broker, no database
            "closed_port": str(closed.getsockname()[1]),
            "busy_port": str(busy.getsockname()[1]),
        }
    finally:
        web.shutdown()
        web.server_close()
        closed.close()
        busy.close()


@pytest.fixture(scope="module")
def proxy_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`chaoslab proxy serve` on a free port, with one proxy for the API cases."""
    server = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "proxy", "serve", "-port", "0"],
        cwd=tmp_path_factory.mktemp("proxy"),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()  # printed once the API listens
        assert "API listening on" in banner, banner
        url = "http://" + banner.rsplit(" ", 1)[-1].strip()
        body = {"name": API_PROXY, "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"}
        assert http_kit.post(url + "/proxies", json=body).status_code == 201
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


# ------------------------------------------------------------ running a command case


def fill(text: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def copy_neighbours(folder: Path, values: Mapping[str, str]) -> None:
    """Every file a case may read, into its folder; pilot files with the places filled in."""
    for neighbour in CASES.iterdir():
        if neighbour.name.endswith(CASE_SUFFIX):
            continue
        if neighbour.suffix == ".toml" and "{" in (text := neighbour.read_text(encoding="utf-8")):
            # A pilot may name the case's places ({web_port}); its own {placeholders} stay.
            (folder / neighbour.name).write_text(fill(text, values), encoding="utf-8")
        else:
            shutil.copy(neighbour, folder / neighbour.name)


def files_outside(folder: Path, reports: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if not p.is_dir() and reports not in p.parents
    }


def processes_marked(marker: str) -> list[str]:
    """Live processes whose environment carries ``marker`` (every descendant of a case)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in environ.read_bytes():
                found.append(environ.parent.name)
        except OSError:
            continue  # gone, or not ours to read
    return found


def run_case(case: dict[str, Any], folder: Path, values: Mapping[str, str]) -> Outcome:
    copy_neighbours(folder, values)
    reports, scratch = folder / "reports", folder / "tmp"
    reports.mkdir()
    scratch.mkdir()
    marker = f"CHAOSLAB_BAD_INPUT={uuid.uuid4().hex}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CHAOSLAB_REPORTS": str(reports),
        "TMPDIR": str(scratch),
        "COLUMNS": "80",  # one line must stay one line on a narrow terminal
        marker.split("=")[0]: marker.split("=")[1],
    }
    env.update({k: fill(str(v), values) for k, v in case.get("env", {}).items()})
    before = files_outside(folder, reports)
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", *(fill(a, values) for a in case["argv"])],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    left = processes_marked(marker)
    deadline = time.monotonic() + 5
    while left and time.monotonic() < deadline:  # a killed child may still be exiting
        time.sleep(0.1)
        left = processes_marked(marker)
    written = sorted(files_outside(folder, reports) - before)
    return Outcome(done.returncode, done.stdout, done.stderr, dict(values), left, written)


def children() -> set[str]:
    """The pids of this process's live children."""
    found: set[str] = set()
    for listing in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found.update(listing.read_text().split())
    return found


def run_in_process(
    case: dict[str, Any], folder: Path, values: Mapping[str, str], monkeypatch: pytest.MonkeyPatch
) -> Outcome:
    """The case's command in this interpreter, as `chaoslab` would run it in ``folder``."""
    from harness import cli

    copy_neighbours(folder, values)
    reports, scratch = folder / "reports", folder / "tmp"
    reports.mkdir()
    scratch.mkdir()
    monkeypatch.chdir(folder)
    for key, value in {
        "CHAOSLAB_REPORTS": str(reports),
        "TMPDIR": str(scratch),
        "COLUMNS": "80",
        **{k: fill(str(v), values) for k, v in case.get("env", {}).items()},
    }.items():
        monkeypatch.setenv(key, value)
    before, running = files_outside(folder, reports), children()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run([fill(a, values) for a in case["argv"]])
    left = sorted(children() - running)
    written = sorted(files_outside(folder, reports) - before)
    return Outcome(code, out.getvalue(), err.getvalue(), dict(values), left, written)


def runs_as_subprocess(path: Path) -> bool:
    """A command case not marked in_process: it starts things, so it is slow."""
    case = tomllib.loads(path.read_text(encoding="utf-8"))
    return "argv" in case and not case.get("in_process")


def selected_cases(session: pytest.Session) -> set[str]:
    """The cases this session runs (``-m "not slow"`` leaves the subprocess ones out)."""
    return {
        case_name(item.callspec.params["path"])
        for item in session.items
        if isinstance(item, pytest.Function) and item.originalname == "test_bad_input"
    }


@pytest.fixture(scope="module")
def outcomes(
    places: dict[str, str], tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[dict[str, Future[Outcome]]]:
    """Every selected command case, started at once on a thread pool."""
    wanted = selected_cases(request.session)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures: dict[str, Future[Outcome]] = {}
        for path in CASE_FILES:
            if not runs_as_subprocess(path) or case_name(path) not in wanted:
                continue
            case = tomllib.loads(path.read_text(encoding="utf-8"))
            folder = tmp_path_factory.mktemp(case_name(path))
            values = {**places, "reports": str(folder / "reports")}
            futures[case_name(path)] = pool.submit(run_case, case, folder, values)
        yield futures


# ------------------------------------------------------------ the test


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(
            path, id=case_name(path), marks=pytest.mark.slow if runs_as_subprocess(path) else ()
        )
        for path in CASE_FILES
    ],
)
def test_bad_input(
    path: Path,
    outcomes: dict[str, Future[Outcome]],
    proxy_api: str,
    places: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = tomllib.loads(path.read_text(encoding="utf-8"))
    if "request" in case:
        check_api_case(case, proxy_api)
        return
    if case.get("in_process"):
        # The command cases' processes are this one's children too: let them
        # end first, so any child left now is the in-process command's.
        for pending in outcomes.values():
            pending.result(timeout=TIMEOUT_S * 2)
        values = {**places, "reports": str(tmp_path / "reports")}
        outcome = run_in_process(case, tmp_path, values, monkeypatch)
    else:
        outcome = outcomes[case_name(path)].result(timeout=TIMEOUT_S * 2)
    wanted = case["stderr"] if isinstance(case["stderr"], list) else [case["stderr"]]
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert "Traceback" not in outcome.stderr + outcome.stdout
    assert len(lines) == 1, outcome.stderr
    for fragment in wanted:
        assert fill(fragment, outcome.values) in lines[0]
    if "stdout" in case:
        assert fill(case["stdout"], outcome.values) in outcome.stdout
    assert outcome.code == case.get("code", 2), outcome.stderr
    assert outcome.left_running == []
    assert outcome.written_outside == []


def check_api_case(case: dict[str, Any], api: str) -> None:
    request = case["request"]
    response = http_kit.request(
        request["method"], api + request["path"], content=request.get("body", "").encode()
    )
    assert response.status_code == case["status"]
    text = response.text.strip()
    assert "\n" not in text
    assert case["error"] in json.loads(text)["error"]
