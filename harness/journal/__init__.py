"""The run journal: everything a drill saw, on disk, one folder per run.

    reports/runs/<run-id>/
        run.json            what was run (pilot, scenario, seed, faults) and what was found
        attempts.jsonl      appended row by row while the run is live ...
        attempts.parquet    ... compacted on close (or by ``recover`` after a kill)
        effects.*  outcomes.*  expected.*

Rows go to disk the moment they are written, one ``write(2)`` per JSON line
on an O_APPEND descriptor, so a SIGKILLed run keeps every row it wrote; at
worst the last line is torn, and readers drop it. Column names and types
come only from ``harness.journal.columns``.

This package names what users import; each job is a private module:
``_writer`` (JournalWriter), ``_reader`` (load_run, recover), ``_listing``
(list_runs), ``_meta`` (run.json), ``_rows`` (check_row, typed frames),
``_files`` (jsonl and parquet on disk, compact).
"""

from __future__ import annotations

from harness.journal._errors import JournalError
from harness.journal._files import compact
from harness.journal._listing import list_runs
from harness.journal._meta import META_FILE, pilot_name, read_meta, write_meta
from harness.journal._reader import Run, load_run, recover
from harness.journal._rows import check_row, empty_frame, frame
from harness.journal._writer import JournalWriter

__all__ = [
    "META_FILE",
    "JournalError",
    "JournalWriter",
    "Run",
    "check_row",
    "compact",
    "empty_frame",
    "frame",
    "list_runs",
    "load_run",
    "pilot_name",
    "read_meta",
    "recover",
    "write_meta",
]
