"""The line CI installs chaoslab with: the way this chaoslab itself was installed.

chaoslab is not on a public package index, so pinning ``chaoslab==X.Y.Z``
only works for a team whose own index carries it. pip records where an
installed distribution came from (PEP 610, ``direct_url.json``); the
scaffold follows it:

- from a git repository: that repository at the installed commit;
- from a wheel or archive at a web address: that address;
- from a file or folder on this machine (the README's ``pip install
  chaoslab-X-py3-none-any.whl``): a wheel committed beside the CI files,
  ``ci/<the wheel's name>``, which CI installs without any index;
- from an index (no record): the version, from the index it came from.

Each comes with comment lines saying what to change if CI cannot reach it.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

WHEEL_FOLDER = "ci"  # beside ci/chaoslab.gitlab-ci.yml


def installed_origin(name: str = "chaoslab") -> dict[str, Any] | None:
    """The installed distribution's PEP 610 record, or None (from an index, or not installed)."""
    try:
        text = metadata.distribution(name).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        origin = json.loads(text)
    except json.JSONDecodeError:
        return None
    return origin if isinstance(origin, dict) else None


def _wheel_name(url: str, version: str) -> str:
    name = PurePosixPath(unquote(urlparse(url).path)).name
    return name if name.endswith(".whl") else f"chaoslab-{version}-py3-none-any.whl"


def requirement(origin: dict[str, Any] | None, version: str) -> tuple[list[str], str]:
    """Comment lines and the requirement line for requirements-chaoslab.txt."""
    url = str((origin or {}).get("url") or "")
    vcs = (origin or {}).get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") == "git" and url:
        commit = vcs.get("commit_id") or vcs.get("requested_revision") or ""
        sub = (origin or {}).get("subdirectory")
        line = f"chaoslab @ git+{url}{'@' + commit if commit else ''}"
        line += f"#subdirectory={sub}" if sub else ""
        return [
            "# chaoslab from the git repository it was installed from, at that commit.",
            "# EDIT if CI cannot reach it: a wheel committed here (ci/chaoslab-...whl) works too.",
        ], line
    if url and not url.startswith("file:"):
        return [
            "# chaoslab from the address it was installed from.",
            "# EDIT if CI cannot reach it: a wheel committed here (ci/chaoslab-...whl) works too.",
        ], f"chaoslab @ {url}"
    if url:
        wheel = f"./{WHEEL_FOLDER}/{_wheel_name(url, version)}"
        if (origin or {}).get("archive_info") is None:
            how = f"build it with `pip wheel --no-deps {unquote(urlparse(url).path)} -w ci/`"
        else:
            how = f"copy {unquote(urlparse(url).path)}"
        return [
            "# chaoslab is not on a public index: CI installs the wheel committed here.",
            f"# EDIT: {how},",
            f"# and commit {wheel[2:]} (git add -f if *.whl is ignored); or replace",
            "# the line with `chaoslab @ git+https://<your chaoslab repository>@<tag>`.",
        ], wheel
    return [
        "# chaoslab from the package index it was installed from (pip's default, or",
        "# --index-url). EDIT if CI uses another index: a wheel committed here",
        "# (./ci/chaoslab-...whl) or `chaoslab @ git+https://...@<tag>` work too.",
    ], f"chaoslab=={version}"


def requirement_text(version: str) -> str:
    """The comment and requirement lines, as the scaffold writes them."""
    comments, line = requirement(installed_origin(), version)
    return "\n".join([*comments, line])
