"""A table on disk: appended JSON lines while a run is live, parquet once compacted.

Every file that replaces another appears by rename, so a kill at any
moment leaves the old file or the new one, never half a file.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from harness.journal._errors import JournalError
from harness.journal._rows import check_row, conform, table_schema

__all__ = [
    "atomic_write",
    "compact",
    "compacted",
    "read_table",
]


def _empty(schema: pa.Schema) -> pa.Table:
    """A zero-row table of ``schema``.

    Not ``schema.empty_table()``: that (like any pyarrow array built from
    Python) imports pandas, half a second of CPU, and a drill that stopped
    before its first row still compacts its empty tables on the way out.
    """
    return pa.Table.from_batches([], schema=schema)


def _read_jsonl(path: Path, schema: pa.Schema) -> pa.Table:
    data = path.read_bytes()
    # A writer killed mid-line leaves bytes after the last newline; they are not a row.
    end = data.rfind(b"\n") + 1
    data = data[:end]
    if not data.strip():
        return _empty(schema)
    try:
        parsed = pa_json.read_json(
            io.BytesIO(data),
            parse_options=pa_json.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            ),
        )
    except pa.ArrowInvalid:
        # Slow path only to name the bad line for the person reading the error.
        _raise_bad_line(path, data)
        raise
    return conform(parsed, schema, path)


def _raise_bad_line(path: Path, data: bytes) -> None:
    table = path.stem
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise JournalError(f"{path}:{number}: not a JSON object ({exc.msg})") from None
        if not isinstance(row, dict):
            raise JournalError(f"{path}:{number}: not a JSON object")
        try:
            check_row(table, {k: v for k, v in row.items() if k in table_schema(table).names})
        except JournalError as exc:
            raise JournalError(f"{path}:{number}: {exc}") from None
    raise JournalError(f"{path}: cannot be read as {table} rows")


def read_table(run_dir: Path, table: str) -> pa.Table:
    """A run's table: its parquet if compacted, else its jsonl, else empty."""
    schema = table_schema(table)
    parquet = run_dir / f"{table}.parquet"
    if parquet.exists():
        try:
            # One file, not a dataset: pq.read_table's dataset machinery costs
            # twice the read itself on a run's small tables, for the same table.
            return conform(pq.ParquetFile(parquet).read(use_threads=False), schema, parquet)
        except (pa.ArrowInvalid, OSError) as exc:
            raise JournalError(f"{parquet}: unreadable parquet ({exc})") from None
    jsonl = run_dir / f"{table}.jsonl"
    if jsonl.exists():
        return _read_jsonl(jsonl, schema)
    return _empty(schema)


# ---------------------------------------------------------------- writing


def atomic_write(path: Path, payload: bytes) -> None:
    """Replace ``path`` with ``payload`` by fsync and rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as out:
        out.write(payload)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _write_parquet(path: Path, table: pa.Table) -> None:
    # Made in memory, then written, synced and renamed in one go: the same bytes
    # as pq.write_table to the path, without its filesystem layer (a third of
    # the cost on a run's small tables) or reopening the file to sync it.
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write(path, sink.getvalue().to_pybytes())


def compact(run_dir: Path | str, table: str) -> int:
    """Turn ``<table>.jsonl`` into ``<table>.parquet`` and drop the jsonl; returns rows.

    The parquet appears by rename, so a kill at any moment leaves either the
    jsonl, or the parquet (plus a jsonl it was made from), never half a file.
    """
    run_dir = Path(run_dir)
    jsonl = run_dir / f"{table}.jsonl"
    parquet = run_dir / f"{table}.parquet"
    if parquet.exists():
        rows = pq.read_metadata(parquet).num_rows
        jsonl.unlink(missing_ok=True)
        return rows
    return _compact_jsonl(run_dir, table).num_rows


def compacted(run_dir: Path | str, table: str) -> pa.Table:
    """``compact``, returning the table as ``read_table`` would read it back.

    The table just written is handed back as it is, not read again from disk.
    """
    run_dir = Path(run_dir)
    if (run_dir / f"{table}.parquet").exists():
        compact(run_dir, table)
        return read_table(run_dir, table)
    return _compact_jsonl(run_dir, table)


def _compact_jsonl(run_dir: Path, table: str) -> pa.Table:
    schema = table_schema(table)
    jsonl = run_dir / f"{table}.jsonl"
    data = _read_jsonl(jsonl, schema) if jsonl.exists() else _empty(schema)
    _write_parquet(run_dir / f"{table}.parquet", data)
    jsonl.unlink(missing_ok=True)
    return data
