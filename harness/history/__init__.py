"""Production history: a pilot's real executions, imported beside its drills.

    export (CSV, JSONL, Parquet, n8n executions JSON)
        │  readers      rows with their line or record number
        ▼
    mapping (the pilot's [history] table, or the ready n8n one)
        │  mapping      row → Execution (event, attempt, times, status)
        ▼
    reports/history/<pilot>/<import-id>/   run.json ("evidence": "production")
        store           + attempts, outcomes, effects in the drills' columns
        ▼
    evidence            production figures for the review, each with its source

A bad row is one line, ``FILE:ROW: what is wrong``; an import is written to
a scratch folder and renamed into place, so a failed one leaves earlier
imports as they were.
"""

from __future__ import annotations

__all__ = ["HistoryError"]


class HistoryError(ValueError):
    """An export or mapping that cannot be imported; the message is one line for people."""
