"""Scratch folders that do not outlive the process that made them.

Each folder is named after its owner (``<kind>-<pid>.<start time>-<random>``)
under one folder per user in the system temp folder. The owner removes its
own on the way out; one killed outright cannot, so every new scratch folder
first removes the ones whose owner is gone. The start time guards against a
recycled pid keeping a dead owner's folder alive.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def scratch_root() -> Path:
    """The per-user folder every scratch folder lives in."""
    return Path(tempfile.gettempdir()) / f"chaoslab-{os.getuid()}"


def _start_time(pid: int) -> str:
    """The kernel's start time of ``pid`` (clock ticks since boot); "0" where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    # The command name (field 2) may hold spaces; the fields after it do not.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else "0"


def _owner_alive(name: str) -> bool:
    """Whether the process named in a scratch folder's name still runs."""
    owner = name.split("-")[-2] if name.count("-") >= 2 else ""
    pid_text, _, started = owner.partition(".")
    if not pid_text.isdigit():
        return True  # not ours to judge
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, but someone else's
    return started in ("", "0") or _start_time(pid) in ("0", started)


def remove_stale(kind: str, root: Path | None = None) -> list[Path]:
    """Remove the ``kind`` scratch folders whose owner is gone; returns them."""
    base = root or scratch_root()
    stale = [p for p in base.glob(f"{kind}-*") if p.is_dir() and not _owner_alive(p.name)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def _own_root() -> Path:
    root = scratch_root()
    root.mkdir(mode=0o700, exist_ok=True)
    if root.stat().st_uid != os.getuid():
        raise OSError(f"{root}: belongs to another user; set TMPDIR to a folder of your own")
    return root


@contextlib.contextmanager
def scratch_dir(kind: str, root: Path | None = None) -> Iterator[Path]:
    """A fresh folder for this process, removed on exit (and by the next one if killed).

    ``root`` puts it beside the files it stages (a rename is atomic only
    within one file system); by default it is in the per-user temp folder.
    """
    if root is None:
        root = _own_root()
    else:
        root.mkdir(parents=True, exist_ok=True)
    remove_stale(kind, root)
    owner = f"{os.getpid()}.{_start_time(os.getpid())}"
    path = Path(tempfile.mkdtemp(prefix=f"{kind}-{owner}-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
