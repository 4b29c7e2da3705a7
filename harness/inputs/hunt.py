"""The pilot file's ``[hunt]`` table: which fault families ``chaoslab hunt`` draws from.

    [hunt]
    families = ["delivery", "move", "partner", "toxic", "capture"]   # no restarts

The family names are part of the pilot file's vocabulary, so they are here
and a misspelt one fails when the pilot loads, whatever the command; how
each family's faults are drawn is the hunt's (``harness.search.space``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["FAMILIES", "HuntSpec"]

# Simplest first: the shrinker moves a fault towards an earlier family.
FAMILIES = ("delivery", "move", "partner", "toxic", "capture", "workflow")


class HuntSpec(BaseModel):
    """Which fault families the hunt draws from (all of them unless the pilot narrows it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # The fault families `chaoslab hunt` draws from unless --faults says otherwise:
    # a team leaves out what its design accepts (restarts of a workflow that
    # keeps its outcomes in memory, say).
    families: list[str] = Field(default_factory=lambda: list(FAMILIES), min_length=1)

    @field_validator("families")
    @classmethod
    def _known_families(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in FAMILIES]
        if unknown:
            raise ValueError(
                f"unknown fault family {unknown[0]!r} (families: {', '.join(FAMILIES)})"
            )
        return value
