"""What every check returns: one ``InvariantResult``, with a few examples at most."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MAX_EXAMPLES", "InvariantResult", "take"]

# Enough for a person to look a few up; the counts say how many there were.
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class InvariantResult:
    """One check's verdict over one run: held or not, with counts, examples and a sentence.

    ``examples`` name the events, effects or entities that broke it (or, when
    nothing did, the ones worth a look); ``summary`` is one sentence a person
    can read.
    """

    name: str
    ok: bool
    counts: dict[str, int | float]
    examples: list[str] = field(default_factory=list)
    summary: str = ""
    # How many things (events, effects, entities, calls) the check judged; 0 means
    # it had nothing to judge and holds only vacuously (None: not counted).
    judged: int | None = None

    @property
    def judged_nothing(self) -> bool:
        """Held because there was nothing to judge: shown as such, never as a pass."""
        return self.judged == 0


def take(items: list[str], limit: int = MAX_EXAMPLES) -> list[str]:
    """The first ``limit`` examples of a kind."""
    return items[:limit]
