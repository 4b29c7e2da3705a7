"""What the pilot sets for one run's checks, handed to every checker by keyword."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CheckSettings"]


@dataclass(frozen=True)
class CheckSettings:
    """The pilot's settings for a run's checks; each checker reads the ones it needs.

    ``slo`` and ``politeness`` are the pilot's sections as given (a
    ``SloTargets`` or ``Politeness``, a mapping, or the pilot's own object);
    the check that uses one reads it with its ``of``. ``outcomes_known`` is
    False for a workflow with no outcomes source: its dead letters cannot be
    told from losses. ``fail_dead_lettered_applied`` is the pilot's
    ``[checks] dead_lettered_applied = "fail"``. ``crashes`` are the errors
    the workflow logged (``harness.drill.workflow_log``). ``unheard`` are the
    spans in which a toxic on a partner's link (or a polled source's) could
    keep its answers from the caller: ``{"partner", "from_s", "until_s",
    "toxic"}`` on the drill's clock (``harness.drill.unheard``).
    """

    slo: Any
    outcomes_known: bool = True
    politeness: Any = None
    fail_dead_lettered_applied: bool = False
    crashes: Sequence[Mapping[str, Any]] = ()
    unheard: Sequence[Mapping[str, Any]] = ()
