"""`chaoslab COMMAND` in the test's own interpreter, for tests that check what a
command says and its exit code rather than the process boundary itself.

A fresh interpreter costs about 1.5 CPU-s of imports (pandas, pydantic, ...)
and proves nothing a test of output and exit code needs: ``harness.cli.run``
is what ``chaoslab`` runs after its signal handling. Tests of Ctrl-C, kill, or
"nothing left running" keep a real subprocess.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Ran:
    """What a command printed and its exit code, named as subprocess names them."""

    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _environment(changes: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``changes`` for the block, then exactly as it was."""
    saved = dict(os.environ)
    os.environ.update(changes)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def chaoslab(*argv: str, cwd: Path, env: Mapping[str, str] | None = None) -> Ran:
    """Run ``chaoslab *argv`` here, in ``cwd``, with ``env`` added to the environment."""
    from harness import cli

    out, err = io.StringIO(), io.StringIO()
    with _environment(env or {}), contextlib.chdir(cwd):
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.run(list(argv))
    return Ran(code, out.getvalue(), err.getvalue())


def assert_replay_breaks(pilot_file: Path, counterexample: Path, reports: Path, cwd: Path) -> None:
    """`chaoslab drill PILOT --scenario-file COUNTEREXAMPLE` exits 1: an invariant
    broke again, on fresh services with the captured ids (run in-process: the
    exit code is what is checked)."""
    replay = chaoslab(
        "drill", str(pilot_file), "--scenario-file", str(counterexample),
        "--reports", str(reports), cwd=cwd,
    )  # fmt: skip
    assert replay.returncode == 1, replay.stdout + replay.stderr
