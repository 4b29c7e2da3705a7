"""The repository's root `.gitignore`: written by `init` when there is none, never changed.

A repository usually has one already; then the lines it lacks are named for
the person to add, since rewriting a file the team owns is not init's to do.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def wanted() -> list[str]:
    text = resources.files(__package__).joinpath("templates", "root.gitignore").read_text("utf-8")
    return text.splitlines(keepends=True)


def ensure_gitignore(target: Path) -> tuple[Path | None, list[str]]:
    """Write `target/.gitignore` if absent; returns (the file written, or None; lines it lacks)."""
    path = target / ".gitignore"
    lines = wanted()
    try:
        with path.open("x", encoding="utf-8") as out:  # "x": never overwrite, even in a race
            out.write("".join(lines))
        return path, []
    except FileExistsError:
        pass
    try:
        have = {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    except (OSError, UnicodeDecodeError):
        have = set()
    entries = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return None, [e for e in entries if e not in have and e.rstrip("/") not in have]
