"""Why a drill could not run, as opposed to a workflow breaking an invariant."""

from __future__ import annotations


class DrillError(RuntimeError):
    """The drill could not run (not: the workflow broke an invariant)."""


class ContractMismatch(DrillError):
    """The workflow and a declared partner (or the webhook path) disagree: nothing to judge."""


class DrillOverdue(DrillError):
    """The replay went past the deadline its plan allows; what it recorded is kept."""
