"""The ready mapping for n8n's executions export.

n8n lists executions through its public API (``GET /api/v1/executions``,
answering ``{"data": [...], "nextCursor": ...}``); the saved answer, a JSON
array of its ``data`` items, or one item per line (JSONL) can be imported.
Each item has ``id``, ``workflowId``, ``mode``, ``status``, ``finished``,
``startedAt``, ``stoppedAt``, ``retryOf``, ``retrySuccessId`` and
``waitTill``. A retry is an execution of its own pointing at the one it
retries (``retryOf``), so a business transaction is a chain of executions
and its id is the first one's. Manual runs are tests, not production (n8n
does not bill them either).
"""

from __future__ import annotations

from typing import Any

from harness.inputs.history import HistoryColumns, StatusValues

__all__ = ["COLUMNS", "STATUS_VALUES", "normalise"]

COLUMNS = HistoryColumns(
    execution_id="id",
    started_at="startedAt",
    finished_at="stoppedAt",
    status="status",
    retry_of="retryOf",
    workflow="workflowId",
)

# n8n's ExecutionStatus words. "canceled" was stopped by a person and
# "crashed"/"unknown" lost by the instance: none finished its job.
STATUS_VALUES = StatusValues(
    success=["success", "warning"],
    failed=["error", "failed", "crashed", "canceled", "unknown"],
    in_flight=["new", "running", "waiting"],
    skip=["manual"],
)

# Modes that are someone trying the workflow out, not traffic.
NOT_PRODUCTION = frozenset({"manual", "evaluation"})


def normalise(row: dict[str, Any]) -> dict[str, Any]:
    """One export item with a status word the mapping knows.

    Exports from n8n versions before ``status`` existed say only ``finished``
    and ``stoppedAt``; a manual run becomes "manual", which the mapping skips.
    """
    out = dict(row)
    if str(row.get("mode") or "") in NOT_PRODUCTION:
        out["status"] = "manual"
    elif not row.get("status"):
        if row.get("finished") is True:
            out["status"] = "success"
        elif row.get("waitTill"):
            out["status"] = "waiting"
        elif row.get("stoppedAt"):
            out["status"] = "error"
        elif "finished" in row:
            out["status"] = "running"
    return out
