"""Start-up failures of a service are one line that says why and where to look."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.runtime.processes import ServiceError, first_error_line, free_port, run_service

UVICORN_PORT_CLASH = """\
INFO:     Started server process [4242]
INFO:     Waiting for application startup.
INFO:     Application startup complete.
ERROR:    [Errno 98] error while attempting to bind on address ('127.0.0.1', 8000): address \
already in use
INFO:     Waiting for application shutdown.
INFO:     Application shutdown complete.
Traceback (most recent call last):
  File "/x/uvicorn/server.py", line 1, in serve
    raise SystemExit(3)  # the error text is in this frame's source line
SystemExit: 3
"""

PYTHON_CRASH = """\
starting up
Traceback (most recent call last):
  File "/x/app.py", line 3, in <module>
    import missing_error_module
ModuleNotFoundError: No module named 'missing_error_module'
"""


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (
            UVICORN_PORT_CLASH,
            "ERROR: [Errno 98] error while attempting to bind on address "
            "('127.0.0.1', 8000): address already in use",
        ),
        (PYTHON_CRASH, "ModuleNotFoundError: No module named 'missing_error_module'"),
        ("all good\nstill good\n", None),
        ("", None),
    ],
)
def test_first_error_line(log: str, expected: str | None) -> None:
    assert first_error_line(log) == expected


def test_a_long_error_line_is_cut() -> None:
    line = first_error_line("fatal: " + "x" * 500)
    assert line is not None and len(line) == 200 and line.endswith("…")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


async def start(
    tmp_path: Path,
    command: list[str],
    *,
    cwd: Path | None = None,
    port: int | None = None,
    startup_timeout_s: float = 10.0,
) -> str:
    """Start a service that must fail; return its one-line error."""
    url = f"http://127.0.0.1:{port or free_port()}"
    with pytest.raises(ServiceError) as caught:
        async with run_service(
            "workflow",
            command,
            url=url,
            ready_path="/healthz",
            env={},
            cwd=cwd or tmp_path,
            log_path=tmp_path / "workflow.log",
            startup_timeout_s=startup_timeout_s,
        ):
            pass
    message = str(caught.value)
    assert "\n" not in message
    return message


async def test_missing_working_folder(tmp_path: Path) -> None:
    gone = tmp_path / "nowhere"
    message = await start(tmp_path, ["python", "-c", "pass"], cwd=gone)
    assert message == f"workflow: working folder {gone} does not exist"
    assert not (tmp_path / "workflow.log").exists()


async def test_missing_command_on_path(tmp_path: Path) -> None:
    message = await start(tmp_path, ["no-such-program-chaoslab", "--port", "1"])
    assert message == "workflow: command 'no-such-program-chaoslab' not found on PATH"


async def test_missing_relative_command(tmp_path: Path) -> None:
    message = await start(tmp_path, ["./bin/serve"])
    assert message == (
        f"workflow: command './bin/serve' not found (looked for {tmp_path / 'bin/serve'})"
    )


async def test_port_clash_quotes_the_cause_and_names_the_log(
    tmp_path: Path, busy_port: int
) -> None:
    bind = (
        "import socket, sys; print('booting', flush=True); "
        f"socket.socket().bind(('127.0.0.1', {busy_port}))"
    )
    message = await start(tmp_path, [sys.executable, "-c", bind], port=busy_port)
    assert message.startswith("workflow exited with code 1 before it was ready: ")
    assert "OSError: [Errno 98] Address already in use" in message
    assert message.endswith(f"(log: {tmp_path / 'workflow.log'})")


async def test_never_ready_quotes_its_log(tmp_path: Path) -> None:
    script = (
        "import time; print('WARNING: cannot reach the database, retrying', flush=True); "
        "time.sleep(60)"
    )
    message = await start(tmp_path, ["python", "-c", script], startup_timeout_s=1.5)
    assert "not ready at http://127.0.0.1:" in message and "after 1.5 s" in message
    assert "'WARNING: cannot reach the database, retrying'" in message
    assert str(tmp_path / "workflow.log") in message


async def test_an_early_exit_without_an_error_line_shows_the_last_line(tmp_path: Path) -> None:
    message = await start(tmp_path, ["python", "-c", "print('bye'); raise SystemExit(4)"])
    assert message == (
        "workflow exited with code 4 before it was ready: no error in its log; "
        f"last line 'bye' (log: {tmp_path / 'workflow.log'})"
    )


ANNOUNCING_SERVER = """
import http.server, sys
server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
print(f"thing ready on http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
"""


async def test_a_service_that_picks_its_port_is_found_where_it_says(tmp_path: Path) -> None:
    async with run_service(
        "thing",
        [sys.executable, "-c", ANNOUNCING_SERVER],
        url=None,
        ready_path="/",
        env={},
        cwd=tmp_path,
        log_path=tmp_path / "thing.log",
        startup_timeout_s=15,
    ) as service:
        port = int(service.url.rsplit(":", 1)[1])
        # It is listening there: binding the same port now must fail.
        with socket.socket() as probe, pytest.raises(OSError):
            probe.bind(("127.0.0.1", port))
