"""Where a review kernel's connection file (its HMAC key) goes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from harness.report.kernel import _connection_file


def test_the_runtime_folder_is_made_private_and_named_absolutely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # review points Jupyter at reports/<pilot>/.review-…, relative when --reports is;
    # the kernel starts elsewhere, and on a fresh machine the folder may not exist yet.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", "reports/p/.review-1/runtime")
    path = Path(_connection_file("k1"))
    folder = tmp_path / "reports" / "p" / ".review-1" / "runtime"
    assert path == folder / "kernel-k1.json"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
