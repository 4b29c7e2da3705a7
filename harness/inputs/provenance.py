"""Which code and which declarations a drill judged: the provenance of its evidence.

A review must not average a fixed workflow with the runs of its broken
predecessor, so every run records the version of the workflow it drilled,
and the review compares it with the workflow as it is now.

The version is read from the workflow's source: the folders a pilot names in
``[workflow] source`` (by default the workflow's ``cwd``). Inside a git work
tree it is the tree id of those folders at HEAD, which changes only when
they do (an unrelated commit elsewhere in the repository keeps it), plus a
digest of their uncommitted changes when there are any. Outside git it is a
digest of the files themselves. Either way equal ids mean equal code.

The pilot file, the partners as resolved (routes, checks, answers: what the
simulator serves) and the captured fixtures are recorded as digests too, so
a run says what it was judged against.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["WorkflowVersion", "file_digest", "judged_against", "workflow_version"]

GIT_TIMEOUT_S = 10
# Folders that hold what a workflow installs or writes, not its code. `reports` and
# the test caches too: a scaffolded pilot's workflow runs in the repository's root
# (cwd = ".."), where every drill adds a run, so outside git (or before a first
# commit) its digest would change with each drill and no run would match the code.
SKIPPED = frozenset({
    ".git", "node_modules", "__pycache__", ".venv", ".node-red", ".mypy_cache",
    "reports", ".pytest_cache", ".hypothesis", ".ipynb_checkpoints", ".ruff_cache",
})  # fmt: skip
MAX_FILES = 20_000
MAX_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class WorkflowVersion:
    """The workflow's code as drilled: an id to compare, and how it was read."""

    id: str  # "git:<tree>", "git:<tree>+<changes>", "files:<digest>", or "unknown"
    method: str  # "git", "files" or "none"
    source: tuple[str, ...]  # the folders it was read from
    commit: str = ""  # HEAD, for people (git only)
    dirty: bool = False  # uncommitted changes in the source (git only)
    note: str = ""  # why the version is unknown

    def as_dict(self) -> dict[str, Any]:
        """The JSON run.json keeps."""
        return {**asdict(self), "source": list(self.source)}


def _git(cwd: Path, *args: str) -> str | None:
    """A git command's output, or None when git is missing, fails or is not a repository."""
    try:
        done = subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8", "surrogateescape") if done.returncode == 0 else None


def _bounded_files(paths: Iterable[Path]) -> list[Path] | None:
    """Every file under ``paths`` (skipping installs and caches), sorted; None past the bounds."""
    found: list[Path] = []
    for root in paths:
        if root.is_file():
            found.append(root)
            continue
        for path in sorted(root.rglob("*")):
            if any(part in SKIPPED for part in path.relative_to(root).parts):
                continue
            if path.is_file() and not path.is_symlink():
                found.append(path)
                if len(found) > MAX_FILES:
                    return None
    return sorted(found)


def _digest_files(files: Sequence[Path], base: Path) -> str | None:
    digest = hashlib.sha256()
    total = 0
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue  # gone since it was listed: what is there now is the version
        total += len(data)
        if total > MAX_BYTES:
            return None
        name = path.relative_to(base) if path.is_relative_to(base) else path
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _by_git(paths: Sequence[Path], top: Path) -> WorkflowVersion | None:
    relative = [str(p.relative_to(top)) or "." for p in paths]
    trees = [_git(top, "rev-parse", f"HEAD:{r}" if r != "." else "HEAD^{tree}") for r in relative]
    commit = _git(top, "rev-parse", "HEAD")
    if commit is None or any(t is None for t in trees):
        return None  # a folder git does not track yet: read the files instead
    status = _git(top, "status", "--porcelain", "--untracked-files=all", "--", *relative)
    diff = _git(top, "diff", "HEAD", "--binary", "--", *relative)
    if status is None or diff is None:
        return None
    tree = hashlib.sha256("".join(t or "" for t in trees).encode()).hexdigest()[:16]
    source = tuple(relative)
    if not status.strip():
        return WorkflowVersion(f"git:{tree}", "git", source, commit.strip())
    untracked = [top / line[3:] for line in status.splitlines() if line.startswith("??")]
    changes = hashlib.sha256(diff.encode("utf-8", "surrogateescape"))
    changes.update((_digest_files(sorted(untracked), top) or "unbounded").encode())
    return WorkflowVersion(
        f"git:{tree}+{changes.hexdigest()[:12]}", "git", source, commit.strip(), dirty=True
    )


def workflow_version(paths: Sequence[Path]) -> WorkflowVersion:
    """The version of the code in ``paths`` (resolved folders or files)."""
    source = tuple(str(p) for p in paths)
    missing = [p for p in paths if not p.exists()]
    if not paths or missing:
        where = missing[0] if missing else "no source folder"
        return WorkflowVersion("unknown", "none", source, note=f"{where}: not found")
    top_text = _git(
        paths[0] if paths[0].is_dir() else paths[0].parent, "rev-parse", "--show-toplevel"
    )
    if top_text:
        top = Path(top_text.strip()).resolve()
        if all(p.resolve().is_relative_to(top) for p in paths):
            found = _by_git([p.resolve() for p in paths], top)
            if found is not None:
                return found
    files = _bounded_files(paths)
    digest = _digest_files(files, paths[0]) if files is not None else None
    if digest is None:
        return WorkflowVersion(
            "unknown", "none", source, note=f"more than {MAX_FILES:,} files or {MAX_BYTES:,} bytes"
        )
    return WorkflowVersion(f"files:{digest[:16]}", "files", source)


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes ("" when it cannot be read)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def judged_against(
    pilot_file: Path, partners: Mapping[str, Mapping[str, Any]], fixtures: Path
) -> dict[str, Any]:
    """Digests of the declarations a run was judged against (run.json ``declarations``)."""
    return {
        "pilot_file": file_digest(pilot_file),
        "fixtures": file_digest(fixtures),
        "partners": {
            name: hashlib.sha256(json.dumps(decl, sort_keys=True, default=str).encode()).hexdigest()
            for name, decl in sorted(partners.items())
        },
    }
