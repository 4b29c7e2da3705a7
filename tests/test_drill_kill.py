"""A drill killed with SIGKILL keeps its journal, leaves nothing running, and the
next drill finishes the killed one's journal and clears its proxies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import http_kit
import httpx
import pytest

from harness.journal import load_run, read_meta
from harness.runtime.processes import free_port

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

SLOW_SCENARIO = """
[scenarios.slow-burn]
description = "Paced slowly so the drill can be killed halfway"
delivery = { rate = 5, concurrency = 1 }
"""


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def children(pid: int) -> set[int]:
    """Every descendant of pid, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and ") Z " not in stat.read_text()


@pytest.fixture
def shared_proxy() -> Iterator[str]:
    """A fault proxy server that outlives the drills, like a user's real toxiproxy."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "harness.proxy", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return http_kit.get(f"{url}/version").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, 15, "the fault proxy")
        yield url
    finally:
        server.terminate()
        server.wait(10)


def test_sigkill_keeps_journal_and_next_drill_starts_clean(
    tmp_path: Path, shared_proxy: str
) -> None:
    scenario_file = tmp_path / "slow.toml"
    scenario_file.write_text(SLOW_SCENARIO)
    reports = tmp_path / "reports"
    env = {**os.environ, "TOXIPROXY_URL": shared_proxy}
    drill = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "drill",
            str(REPO / "pilots/order-sync.toml"),
            "--scenario-file",
            str(scenario_file),
            "--reports",
            str(reports),
            "--quiet",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def attempts_file() -> Path | None:
            found = list(reports.glob("runs/*/attempts.jsonl"))
            return found[0] if found else None

        def enough() -> bool:
            path = attempts_file()
            return path is not None and len(path.read_bytes().splitlines()) >= 8

        wait_for(enough, 60, "8 recorded attempts")
        started = children(drill.pid)
        assert len(started) >= 2  # at least the workflow and the partner simulator
        run_dir = attempts_file().parent  # type: ignore[union-attr]
        proxies = http_kit.get(f"{shared_proxy}/proxies").json()
        assert any(name.startswith(f"chaoslab-{run_dir.name}") for name in proxies)
    finally:
        drill.send_signal(signal.SIGKILL)
        drill.wait(10)

    recorded = len((run_dir / "attempts.jsonl").read_bytes().splitlines())
    wait_for(lambda: not any(alive(p) for p in started), 10, "the drill's processes to exit")
    assert read_meta(run_dir)["status"] == "running"

    # The next drill recovers the killed journal and removes its proxies.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "drill",
            str(REPO / "pilots/order-sync.toml"),
            "-s",
            "baseline",
            "--reports",
            str(reports),
            "--quiet",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    meta = read_meta(run_dir)
    assert meta["status"] == "killed"
    assert meta["recovered"] is True
    killed = load_run(run_dir)
    assert len(killed.attempts) == recorded >= 8
    assert killed.attempts["attempt"].notna().all()
    assert (run_dir / "attempts.parquet").exists()
    left = http_kit.get(f"{shared_proxy}/proxies").json()
    assert not any(name.startswith(f"chaoslab-{run_dir.name}") for name in left)
    finished = [d for d in reports.glob("runs/*") if d != run_dir]
    assert len(finished) == 1
    assert json.loads((finished[0] / "run.json").read_text())["status"] == "finished"


def _default_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


@pytest.mark.parametrize(
    ("sig", "code"),
    # Ctrl-C at a terminal; SIGTERM from CI runners and `timeout` (SIGHUP takes the
    # same path: tests/test_termination.py).
    [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
)
def test_ctrl_c_stops_everything_and_says_so(
    tmp_path: Path, shared_proxy: str, sig: signal.Signals, code: int
) -> None:
    scenario_file = tmp_path / "slow.toml"
    scenario_file.write_text(SLOW_SCENARIO)
    reports = tmp_path / "reports"
    drill = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "drill",
            str(REPO / "pilots/order-sync.toml"),
            "--scenario-file",
            str(scenario_file),
            "--reports",
            str(reports),
            "--quiet",
        ],
        env={**os.environ, "TOXIPROXY_URL": shared_proxy},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Signals with their default meaning, whatever our parent ignores.
        preexec_fn=_default_signals,
    )
    try:

        def enough() -> bool:
            found = list(reports.glob("runs/*/attempts.jsonl"))
            return bool(found) and len(found[0].read_bytes().splitlines()) >= 5

        wait_for(enough, 60, "5 recorded attempts")
        started = children(drill.pid)
        run_dir = next(reports.glob("runs/*"))
        drill.send_signal(sig)
        _, stderr = drill.communicate(timeout=30)
    finally:
        if drill.poll() is None:
            drill.kill()
    assert drill.returncode == code
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0], stderr
    assert not any(alive(p) for p in started)
    assert read_meta(run_dir)["status"] == "interrupted"
    assert load_run(run_dir).attempts.shape[0] >= 5
    left = http_kit.get(f"{shared_proxy}/proxies").json()
    assert not any(name.startswith(f"chaoslab-{run_dir.name}") for name in left)
