"""The fault family names the pilot file's ``[hunt] families`` may list.

    [hunt]
    families = ["delivery", "move", "partner", "toxic", "capture"]   # no restarts
    families = ["page", "partner"]                                   # a [poll] pilot

The names are part of the pilot file's vocabulary, so they are here and a
misspelt one fails when the pilot loads, whatever the command (the table's
model is ``HuntSpec`` in ``harness.inputs.pilot``); how each family's faults
are drawn is the hunt's (``harness.search.space``). Standard library only:
the command line reads these names at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["FAMILIES", "unknown_family"]

# Simplest first: the shrinker moves a fault towards an earlier family.
# "page" is a [poll] source's (harness.inputs.delivery_faults.page): last, so the
# draws of pilots without one do not move.
FAMILIES = ("delivery", "move", "partner", "toxic", "capture", "workflow", "page")


def unknown_family(names: Sequence[str]) -> str | None:
    """The problem with the first name that is no family, in the words the pilot error uses."""
    unknown = [name for name in names if name not in FAMILIES]
    if not unknown:
        return None
    return f"unknown fault family {unknown[0]!r} (families: {', '.join(FAMILIES)})"
