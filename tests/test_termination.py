"""SIGTERM and SIGHUP stop a `chaoslab` command the way Ctrl-C does.

Each test starts a real `chaoslab` process, waits for a sign that it is
blocked where a signal would find it, signals it, and checks the exit code,
the one line on stderr, and that nothing it started is left running.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import http_kit
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAOSLAB = [sys.executable, "-m", "harness.cli"]


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if fields and fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _default_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def start(
    started: list[subprocess.Popen[str]], argv: list[str], cwd: Path
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # The CLI keeps a signal its parent ignored (nohup's SIGHUP) ignored on
        # purpose; these tests are about the default case, however pytest was started.
        preexec_fn=_default_signals,
    )
    started.append(proc)
    return proc


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)]
)
def test_proxy_serve_stops_cleanly_and_names_the_signal(
    spawn: list[subprocess.Popen[str]], tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    server = start(spawn, [*CHAOSLAB, "proxy", "serve", "-port", "0"], tmp_path)
    assert server.stdout is not None
    banner = server.stdout.readline()  # printed once the API listens
    assert "API listening on" in banner, banner
    api = "http://" + banner.rsplit(" ", 1)[-1].strip()
    body = {"name": "p", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"}
    created = http_kit.post(api + "/proxies", json=body)
    assert created.status_code == 201, created.text
    listen = created.json()["listen"]
    server.send_signal(sig)
    _, err = server.communicate(timeout=30)
    assert server.returncode == code
    assert stderr_lines(err) == [f"chaoslab: interrupted by {sig.name}; every proxy was closed"]
    host, _, port = listen.rpartition(":")
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port)), 2):
        pass


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_blocked_command_is_interrupted(
    spawn: list[subprocess.Popen[str]], tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    fifo = tmp_path / "events.jsonl"
    os.mkfifo(fifo)
    check = start(spawn, [*CHAOSLAB, "fixtures", "check", str(fifo)], tmp_path)
    writer = _open_writer_once_read(fifo)
    try:
        # It now waits in read() for an end of file that never comes. A signal that
        # lands between the interpreter's last check and the read() syscall would
        # only be handled once read() returns (CPython checks at bytecode
        # boundaries), so the signal goes once the process sleeps in read().
        _wait_until_reading_a_pipe(check.pid)
        check.send_signal(sig)
        _, err = check.communicate(timeout=30)
    finally:
        os.close(writer)
    assert check.returncode == code
    assert stderr_lines(err) == [f"chaoslab: interrupted ({sig.name})"]


def _wait_until_reading_a_pipe(pid: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    wchan = Path(f"/proc/{pid}/wchan")
    while "pipe_read" not in wchan.read_text():
        assert time.monotonic() < deadline, f"process {pid} never blocked reading the fifo"
        time.sleep(0.02)  # a sleeping process announces nothing; /proc is the only way to learn


def _open_writer_once_read(fifo: Path, timeout_s: float = 30.0) -> int:
    """Open the fifo's write end as soon as a reader has it open (ENXIO until then)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as err:
            if err.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
        time.sleep(0.02)  # a fifo announces no reader; this is the only way to learn of one


_ASYNC_SCRIPT = textwrap.dedent(
    """
    import asyncio, subprocess, sys
    from harness import termination

    async def main():
        sleeper = "import time; time.sleep(60)"
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", sleeper)
        print(child.pid, flush=True)
        try:
            await child.wait()
        finally:  # what a drill's cleanup does: stop what it started
            child.kill()
            await child.wait()
            print("cleaned up", flush=True)

    termination.install()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(termination.exit_code())
    """
)


def test_sigterm_cancels_asyncio_work_so_its_cleanup_runs(
    spawn: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    worker = start(spawn, [sys.executable, "-c", _ASYNC_SCRIPT], tmp_path)
    assert worker.stdout is not None
    child = int(worker.stdout.readline())
    assert descendants(worker.pid) == {child}
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 143, err
    assert out.strip() == "cleaned up"
    assert not alive(child)


def test_an_ignored_sighup_stays_ignored(tmp_path: Path) -> None:
    script = (
        "import signal; signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "from harness import termination; termination.install()\n"
        "assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN\n"
        "assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


# A command that is signalled while it runs code made by a string exec, as a
# review is when the signal lands in nbformat compiling its fastjsonschema
# validator; `python -m` as the tests (and `chaoslab` in a venv without its
# script) run it.
_STOPPED_IN_EXEC = textwrap.dedent(
    """
    from harness import cli

    @cli.app.command("stop-in-exec")
    def stop_in_exec(name: str) -> None:
        code = "import os, signal\\nos.kill(os.getpid(), signal." + name + ")\\n"
        exec(code + "for _ in range(10**7): pass\\n", {})
        print("the signal never came")

    cli.main()
    """
)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_caught_inside_a_string_exec_still_exits_with_its_code(
    spawn: list[subprocess.Popen[str]], tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    (tmp_path / "stopped_in_exec.py").write_text(_STOPPED_IN_EXEC)
    argv = [sys.executable, "-m", "stopped_in_exec", "stop-in-exec", sig.name]
    command = start(spawn, argv, tmp_path)
    out, err = command.communicate(timeout=60)
    # -2 would be CPython ending the process with SIGINT after `main` chose the code.
    assert command.returncode == code, err
    assert out == ""
    named = f" ({sig.name})" if sig != signal.SIGINT else ""
    assert stderr_lines(err) == [f"chaoslab: interrupted{named}"]
