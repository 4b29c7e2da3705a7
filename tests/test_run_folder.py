"""Everything a drill writes stays under its run folder, wherever it is started from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_kit import chaoslab

REPO = Path(__file__).resolve().parents[1]


def stray_state(root: Path) -> set[Path]:
    return set(root.rglob("*.sqlite3*"))


@pytest.mark.slow
def test_relative_reports_keep_workflow_state_in_the_run(tmp_path: Path) -> None:
    # The pilot's workflow runs in the repository (cwd = ".."); the drill runs here,
    # with a relative --reports: the workflow must still get an absolute state folder.
    (tmp_path / "short.toml").write_text("[scenarios.short]\ndelivery = { limit = 4 }\n")
    before = stray_state(REPO / "workflows") | stray_state(REPO / "pilots")
    # In-process, in tmp_path: the relative --reports is resolved from there all the same.
    done = chaoslab(
        "drill", str(REPO / "pilots/order-sync.toml"),
        "--scenario-file", "short.toml", "--reports", "rel", "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (run_dir,) = (tmp_path / "rel" / "runs").iterdir()
    # --quiet is one line per scenario: its verdict and run, no table, no notes.
    (line,) = done.stdout.splitlines()
    assert re.fullmatch(rf"PASS  order-sync :: short  seed \d+  \d+\.\ds  run {run_dir.name}", line)
    assert (run_dir / "state" / "inbox.sqlite3").is_file()
    after = stray_state(REPO / "workflows") | stray_state(REPO / "pilots")
    assert after == before
