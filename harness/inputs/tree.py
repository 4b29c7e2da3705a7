"""A pilot's tree: the one folder whose files a pilot file may name.

Files a pilot names to be read as declarations (`extends`, a partner's
`file`, `wiremock` and `openapi`) must resolve, symlinks followed, to a
regular file inside it: the folder holding the pilot file or, when that
folder is part of a git working tree, the whole working tree (so
`benchmarks/zoo/*.toml` may extend `pilots/order-sync.toml` of the same
repository, while `/proc/self/environ`, `/etc/passwd` or `/dev/zero` stay
out of reach).
"""

from __future__ import annotations

from pathlib import Path


def pilot_tree(pilot_file: Path) -> Path:
    """The folder a pilot file's declarations may read from (resolved)."""
    folder = Path(pilot_file).resolve().parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return folder
