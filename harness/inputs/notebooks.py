"""Which notebooks a review runs: ours, shipped in the package, and a pilot's own.

Ours are edited as the repository's top-level ``notebooks/`` and installed as
the package ``harness.notebooks`` (setup.py), so they are found the same way
in a source checkout, an editable install and a wheel: through the package,
never through the repository's path. A pilot file may list its own notebooks
in ``[review] notebooks``, by path relative to the pilot file:

    [review]
    notebooks = ["pilot_review", "analysis/latency.py"]   # ours by name, yours by path

Imports nothing but the standard library (and the name rule, harness.places):
it sits with the pilot file's tables because the pilot loader checks the
list; running the notebooks is the review's job (harness.report).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from harness.places import UnsafeName, check_name

PACKAGE = "harness.notebooks"
# What a review runs when the pilot names nothing; pilot_review writes the verdict.
DEFAULT = ("drill_analysis", "pilot_review")
VERDICT = "pilot_review"
SUFFIXES = (".py", ".ipynb")


class NotebookError(ValueError):
    """A notebook that cannot be found; the message is one line for people."""


def builtin_dir() -> Path:
    """The folder our notebooks are installed in."""
    try:
        folder = resources.files(PACKAGE)
    except ModuleNotFoundError:
        raise NotebookError(
            f"{PACKAGE} is not installed: reinstall chaoslab (`pip install -e .` in a checkout)"
        ) from None
    return Path(str(folder))


def builtin_names() -> list[str]:
    """The names of our notebooks (``drill_analysis``, ``pilot_review``, ...)."""
    return sorted(p.stem for p in builtin_dir().glob("*.py") if not p.name.startswith("_"))


def builtin_path(name: str) -> Path:
    path = builtin_dir() / f"{name}.py"
    if not path.is_file():
        known = ", ".join(builtin_names()) or "none"
        raise NotebookError(f"{name}: no such notebook in chaoslab (ours: {known})")
    return path


def is_path(entry: str) -> bool:
    """A pilot's own notebook is named by its path; ours by a bare name."""
    return "/" in entry or entry.endswith(SUFFIXES)


def resolve(entries: Sequence[str], base: Path) -> list[tuple[str, Path]]:
    """(name, source) of each listed notebook, in order; paths are relative to ``base``.

    The name is the file's stem: the review writes ``<name>.html`` for each,
    so two notebooks of one name, a stem off the name rule (harness.places)
    or a list without the verdict are errors.
    """
    found: list[tuple[str, Path]] = []
    for entry in entries:
        if is_path(entry):
            path = (base / entry).resolve()
            if not entry.endswith(SUFFIXES):
                raise NotebookError(f"{entry}: a notebook is a .py (jupytext) or .ipynb file")
            try:
                check_name(path.stem)
            except UnsafeName as exc:
                raise NotebookError(f"{entry}: {exc}") from None
            if not path.is_file():
                raise NotebookError(f"{entry}: no such file {path}")
            name = path.stem
        else:
            name, path = entry, builtin_path(entry)
        if name in {n for n, _ in found}:
            raise NotebookError(f"{entry}: a second notebook named {name!r} (each is <name>.html)")
        found.append((name, path))
    if VERDICT not in {n for n, p in found if p.parent == builtin_dir()}:
        raise NotebookError(f"{VERDICT} must be listed: it writes the verdict the review prints")
    return found
