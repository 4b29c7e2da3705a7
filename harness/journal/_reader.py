"""Reading a run back as typed DataFrames, and compacting a run whose writer was killed."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.journal._errors import JournalError
from harness.journal._files import atomic_write, compact, read_table
from harness.journal._meta import META_FILE, read_meta
from harness.journal._rows import table_schema, to_frame
from harness.journal.columns import TABLES

if TYPE_CHECKING:
    import pandas as pd  # the frames come from _rows.to_frame, which imports it

__all__ = [
    "Run",
    "load_run",
    "recover",
]


@dataclass(frozen=True)
class Run:
    """One run's journal: ``run.json`` plus its tables as typed DataFrames."""

    run_dir: Path
    meta: dict[str, Any]
    attempts: pd.DataFrame
    effects: pd.DataFrame
    outcomes: pd.DataFrame
    expected: pd.DataFrame
    requests: pd.DataFrame

    @property
    def run_id(self) -> str:
        """The run's id from run.json, else its folder's name."""
        return str(self.meta.get("run_id") or self.run_dir.name)

    def table(self, name: str) -> pd.DataFrame:
        """One table by name; an unknown name is a JournalError."""
        table_schema(name)
        frame_: pd.DataFrame = getattr(self, name)
        return frame_


def load_run(run_dir: Path | str) -> Run:
    """Read a run folder, compacted or not; a torn last jsonl line is ignored."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise JournalError(f"{run_dir}: no such run folder")
    frames = {table: to_frame(read_table(run_dir, table)) for table in TABLES}
    return Run(run_dir=run_dir, meta=read_meta(run_dir), **frames)


def recover(run_dir: Path | str) -> dict[str, int]:
    """Compact a run whose writer was killed; returns the rows kept per table.

    ``run.json`` gains ``"recovered": true`` so a report can say the run did not
    end cleanly.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise JournalError(f"{run_dir}: no such run folder")
    counts = {table: compact(run_dir, table) for table in TABLES}
    meta_path = run_dir / META_FILE
    if meta_path.exists():
        meta = read_meta(run_dir)
        if not meta.get("recovered"):
            meta["recovered"] = True
            meta["recovered_at"] = time.time()
            atomic_write(meta_path, (json.dumps(meta, indent=2) + "\n").encode())
    return counts
