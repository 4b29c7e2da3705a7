"""Where the lab writes: names checked against one rule, paths kept inside the reports folder.

A pilot's name, its scenarios' and partners' names become parts of paths
(``reports/<pilot>/``, ``reports/runs/<stamp>-<pilot>-<scenario>-<n>/``,
``partner-<name>.json``) and of notebook parameters. They are checked once,
when the pilot is loaded, against ``NAME_RULE``; every path under the reports
folder is then built by ``inside``, which checks each part again and that the
resolved result stays inside the reports folder.
"""

from __future__ import annotations

import re
from pathlib import Path

# ASCII letters, digits, '-', '_' and '.', not starting with a dot (no '..', no
# hidden folders), at most 100 characters (a run id holds two names and stays
# under the 255 bytes a file name may have).
NAME_RULE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
RULE_TEXT = "letters, digits, '-', '_' and '.' only, not starting with '.', at most 100 characters"


class UnsafeName(ValueError):
    """A name or path the lab refuses to write; the message is one line for people."""


def check_name(value: str) -> str:
    """``value`` if it follows ``NAME_RULE``; else UnsafeName saying why."""
    if not isinstance(value, str) or NAME_RULE.fullmatch(value) is None:
        raise UnsafeName(f"not a safe name ({RULE_TEXT}), got {value!r}")
    return value


def inside(reports: Path, *parts: str) -> Path:
    """``reports/part/part...``, each part a safe name, refused if it resolves outside.

    The path comes back as given (relative stays relative, for messages); the
    check is on its resolved form, so a symlink inside the reports folder that
    leads out of it is refused too.
    """
    for part in parts:
        try:
            check_name(part)
        except UnsafeName as exc:
            raise UnsafeName(f"{Path(reports, *parts[:-1])}: {exc}") from None
    path = Path(reports, *parts)
    top = Path(reports).resolve()
    if not path.resolve().is_relative_to(top):
        raise UnsafeName(f"{path}: resolves outside the reports folder {top}")
    return path
