"""A throwaway copy of pilots/ that behaves like the real one (tests share it)."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def pilot_tree(dest: Path) -> Path:
    """pilots/*.toml, baselines and partner declarations copied, the rest they point at linked.

    Partner declarations are copies, not a link: a pilot reads declarations
    only inside its own tree, symlinks resolved (harness.inputs.tree).
    """
    (dest / "pilots").mkdir(parents=True)
    for item in (REPO / "pilots").iterdir():
        if item.suffix in {".toml", ".json"}:
            shutil.copy(item, dest / "pilots" / item.name)
    shutil.copytree(REPO / "pilots" / "partners", dest / "pilots" / "partners")
    for name in ("fixtures", "workflows"):
        (dest / name).symlink_to(REPO / name, target_is_directory=True)
    return dest / "pilots"
