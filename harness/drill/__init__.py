"""Drills: one scenario of a pilot run end to end against real processes.

prepare (plan, expectations) → services (partners, links, workflow) →
replay → settle → collect (outcomes, ledgers, requests) → diagnose → check
"""

from harness.drill.errors import ContractMismatch, DrillError
from harness.drill.prepared import new_run_id
from harness.drill.progress import Progress, ProgressSink
from harness.drill.recovery import recover_stale_runs
from harness.drill.run import DrillResult, run_drill
from harness.drill.session import DrillSession
from harness.replay.sender import trace_id_for

__all__ = [
    "ContractMismatch",
    "DrillError",
    "DrillResult",
    "DrillSession",
    "Progress",
    "ProgressSink",
    "new_run_id",
    "recover_stale_runs",
    "run_drill",
    "trace_id_for",
]
