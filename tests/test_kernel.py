"""Where a review kernel's connection file (its HMAC key) goes; one kernel for several notebooks."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import matplotlib
import pytest

from harness.report.errors import ReviewError
from harness.report.execute import execute_notebook, kernels_in, shared_kernel
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


def _notebook(path: Path, *cells: str) -> Path:
    """A py:percent notebook of ``cells``, written at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"# %%\n{cell}\n" for cell in cells))
    return path


def _outputs(executed: Path) -> list[tuple[int, str]]:
    """Each code cell's prompt number and the text it printed."""
    cells = json.loads(executed.read_text())["cells"]
    return [
        (c["execution_count"], "".join("".join(o.get("text", "")) for o in c["outputs"]))
        for c in cells
        if c["cell_type"] == "code"
    ]


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a kernel we started is reaped by its manager)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
def test_a_shared_kernel_gives_the_next_notebook_a_fresh_start(tmp_path: Path) -> None:
    first = _notebook(
        tmp_path / "a" / "first.py",
        "import os, matplotlib\nleft_behind = 41\nmatplotlib.rcParams['lines.linewidth'] = 9",
        "print(os.getpid(), os.getcwd())",
    )
    second = _notebook(
        tmp_path / "b" / "second.py",
        "import os, matplotlib\nprint(os.getpid(), os.getcwd())",
        "print('left_behind' in globals(), matplotlib.rcParams['lines.linewidth'])",
    )
    out = tmp_path / "out"
    out.mkdir()
    with kernels_in(out), shared_kernel() as kernel:
        ran = [execute_notebook(p.stem, {}, out, source=p, kernel=kernel) for p in (first, second)]
        connection_files = list(out.glob("kernel-*.json"))
    (_, _), (_, where_first) = _outputs(ran[0])
    (one, where_second), (two, seen) = _outputs(ran[1])
    pid, cwd = where_first.split()
    assert where_second.split() == [pid, str(second.parent)]  # the same kernel, moved
    assert cwd == str(first.parent)
    assert (one, two) == (1, 2)  # prompts count from 1, as in a new kernel
    assert seen.split() == ["False", str(matplotlib.rcParams["lines.linewidth"])]
    assert len(connection_files) == 1
    assert _gone(int(pid)), "the shared kernel outlived its review"
    assert not list(out.glob("kernel-*.json")), "the kernel's key was left behind"


@pytest.mark.slow
def test_a_shared_kernel_is_replaced_when_it_dies_and_shut_down_after_a_failure(
    tmp_path: Path,
) -> None:
    dies = _notebook(tmp_path / "dies.py", "import os\nprint(os.getpid())\nos._exit(0)")
    fails = _notebook(tmp_path / "fails.py", "import os\nprint(os.getpid())", "1 / 0")
    out = tmp_path / "out"
    out.mkdir()
    with kernels_in(out), shared_kernel() as kernel:
        with pytest.raises(ReviewError):
            execute_notebook("dies", {}, out, source=dies, kernel=kernel)
        with pytest.raises(ReviewError, match=r"fails notebook failed in cell 2: ZeroDivision"):
            execute_notebook("fails", {}, out, source=fails, kernel=kernel)
    pid = int(_outputs(out / "fails.ipynb")[0][1])
    assert _gone(pid), "a failed notebook's shared kernel outlived its review"
    assert not list(out.glob("kernel-*.json"))
