"""The runs under a reports folder, newest first, optionally of one pilot."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.journal._errors import JournalError
from harness.journal._meta import META_FILE, pilot_name, read_meta
from harness.journal.columns import TABLES

# The package's logger: a damaged run.json is logged under harness.journal.
log = logging.getLogger("harness.journal")

__all__ = [
    "list_runs",
]


def _started(run_dir: Path, meta: Mapping[str, Any]) -> float:
    value = meta.get("started_at")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            pass
    meta_path = run_dir / META_FILE
    return (meta_path if meta_path.exists() else run_dir).stat().st_mtime


def list_runs(root: Path | str, pilot: str | None = None) -> list[Path]:
    """Run folders under ``root``, newest first (by ``started_at`` in run.json).

    With ``pilot``, only runs whose run.json names that pilot. A folder counts
    as a run if it has a run.json or any journal table.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found: list[tuple[float, str, Path]] = []
    for child in root.iterdir():
        if not child.is_dir():
            continue
        has_table = any(
            (child / f"{t}.{ext}").exists() for t in TABLES for ext in ("jsonl", "parquet")
        )
        if not (child / META_FILE).exists() and not has_table:
            continue
        try:
            meta = read_meta(child)
        except JournalError as exc:
            # One damaged run.json must not stop every later drill and review.
            log.warning("skipping %s", exc)
            continue
        if pilot is not None and pilot_name(meta) != pilot:
            continue
        found.append((_started(child, meta), child.name, child))
    found.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [path for _, _, path in found]
