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
"""

from __future__ import annotations

import functools
import io
import json
import logging
import math
import numbers
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from harness.journal.columns import TABLES

__all__ = [
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
]

META_FILE = "run.json"


log = logging.getLogger("harness.journal")


class JournalError(ValueError):
    """A journal that cannot be written or read; the message is one line for people."""


# ---------------------------------------------------------------- row checks


def _schema(table: str) -> pa.Schema:
    try:
        return TABLES[table]
    except KeyError:
        known = ", ".join(TABLES)
        raise JournalError(f"unknown journal table {table!r} (tables: {known})") from None


def _kind(t: pa.DataType) -> str:
    if pa.types.is_string(t):
        return "a string"
    if pa.types.is_integer(t):
        return "an integer"
    if pa.types.is_floating(t):
        return "a number"
    if pa.types.is_boolean(t):
        return "true or false"
    return str(t)


def _code(t: pa.DataType) -> str:
    if pa.types.is_string(t):
        return "s"
    if pa.types.is_integer(t):
        return "i"
    if pa.types.is_floating(t):
        return "f"
    if pa.types.is_boolean(t):
        return "b"
    return "?"


@functools.cache
def _columns(table: str) -> tuple[frozenset[str], tuple[tuple[str, str, pa.DataType], ...]]:
    # Asking pyarrow about types on every row costs more than the write itself.
    schema = _schema(table)
    return frozenset(schema.names), tuple((f.name, _code(f.type), f.type) for f in schema)


def _coerce(table: str, name: str, code: str, t: pa.DataType, value: Any) -> Any:
    """The JSON-ready form of one cell, or a JournalError naming table and column."""
    if value is None:
        return None
    # bool is an int subclass in Python; a flag in a number column is a bug upstream.
    is_bool = isinstance(value, (bool, np.bool_))
    if code == "s":
        if isinstance(value, str):
            return value
    elif code == "i":
        if isinstance(value, numbers.Integral) and not is_bool:
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif code == "f":
        if isinstance(value, numbers.Real) and not is_bool:
            number = float(value)
            # JSON has no NaN; a missing measurement is a null.
            return None if math.isnan(number) or math.isinf(number) else number
    elif code == "b":
        if is_bool:
            return bool(value)
    raise JournalError(f"{table} row: column {name!r} must be {_kind(t)} or null, got {value!r}")


def check_row(table: str, row: Mapping[str, Any], run_id: str | None = None) -> dict[str, Any]:
    """Validate one row against ``columns.py`` and return it complete and in column order.

    Missing columns become null (``run_id`` is filled in when given); an unknown
    column or a value of the wrong type raises ``JournalError``, so a typo in a
    caller cannot grow the schema silently.
    """
    known, columns = _columns(table)
    unknown = [key for key in row if key not in known]
    if unknown:
        names = ", ".join(name for name, _, _ in columns)
        raise JournalError(
            f"{table} row: unknown column{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(k) for k in unknown)} (columns: {names})"
        )
    out: dict[str, Any] = {}
    for name, code, type_ in columns:
        value = row.get(name)
        if value is None and name == "run_id" and run_id is not None:
            value = run_id
        out[name] = _coerce(table, name, code, type_, value)
    return out


# ---------------------------------------------------------------- frames


def _types_mapper(t: pa.DataType) -> Any:
    # Nullable integers and booleans keep "no value" distinct from 0 / False.
    if pa.types.is_integer(t):
        return pd.Int64Dtype()
    if pa.types.is_boolean(t):
        return pd.BooleanDtype()
    return None


def _to_frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=_types_mapper)


def empty_frame(table: str) -> pd.DataFrame:
    """A zero-row DataFrame with the table's columns and dtypes."""
    return _to_frame(_schema(table).empty_table())


def frame(table: str, rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A typed DataFrame from row dicts, checked like journal rows (handy in tests)."""
    schema = _schema(table)
    checked = [check_row(table, row) for row in rows]
    return _to_frame(pa.Table.from_pylist(checked, schema=schema))


def _conform(table: pa.Table, schema: pa.Schema, source: Path) -> pa.Table:
    """The file's table in the current schema: columns added since get nulls."""
    columns = []
    for fld in schema:
        if fld.name in table.column_names:
            column = table.column(fld.name)
            if column.type != fld.type:
                try:
                    column = column.cast(fld.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise JournalError(
                        f"{source}: column {fld.name!r} has type {column.type}, "
                        f"expected {fld.type} ({exc})"
                    ) from None
            columns.append(column)
        else:
            columns.append(pa.nulls(table.num_rows, fld.type))
    return pa.Table.from_arrays(columns, schema=schema)


# ---------------------------------------------------------------- reading jsonl


def _read_jsonl(path: Path, schema: pa.Schema) -> pa.Table:
    data = path.read_bytes()
    # A writer killed mid-line leaves bytes after the last newline; they are not a row.
    end = data.rfind(b"\n") + 1
    data = data[:end]
    if not data.strip():
        return schema.empty_table()
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
    return _conform(parsed, schema, path)


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
            check_row(table, {k: v for k, v in row.items() if k in _schema(table).names})
        except JournalError as exc:
            raise JournalError(f"{path}:{number}: {exc}") from None
    raise JournalError(f"{path}: cannot be read as {table} rows")


def _read_table(run_dir: Path, table: str) -> pa.Table:
    schema = _schema(table)
    parquet = run_dir / f"{table}.parquet"
    if parquet.exists():
        try:
            return _conform(pq.read_table(parquet), schema, parquet)
        except (pa.ArrowInvalid, OSError) as exc:
            raise JournalError(f"{parquet}: unreadable parquet ({exc})") from None
    jsonl = run_dir / f"{table}.jsonl"
    if jsonl.exists():
        return _read_jsonl(jsonl, schema)
    return schema.empty_table()


# ---------------------------------------------------------------- writing


def _atomic_write(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as out:
        out.write(payload)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _write_parquet(path: Path, table: pa.Table) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as done:
        os.fsync(done.fileno())
    os.replace(tmp, path)


def compact(run_dir: Path | str, table: str) -> int:
    """Turn ``<table>.jsonl`` into ``<table>.parquet`` and drop the jsonl; returns rows.

    The parquet appears by rename, so a kill at any moment leaves either the
    jsonl, or the parquet (plus a jsonl it was made from), never half a file.
    """
    run_dir = Path(run_dir)
    schema = _schema(table)
    jsonl = run_dir / f"{table}.jsonl"
    parquet = run_dir / f"{table}.parquet"
    if parquet.exists():
        rows = pq.read_metadata(parquet).num_rows
        jsonl.unlink(missing_ok=True)
        return rows
    data = _read_jsonl(jsonl, schema) if jsonl.exists() else schema.empty_table()
    _write_parquet(parquet, data)
    jsonl.unlink(missing_ok=True)
    return data.num_rows


class JournalWriter:
    """Appends journal rows for one run as they happen.

    >>> with JournalWriter(Path("reports/runs") / run_id, run_id) as journal:
    ...     journal.write_meta({"pilot": "order-sync", ...})
    ...     journal.attempt({"event_id": "evt_1", ...})
    """

    def __init__(self, run_dir: Path | str, run_id: str) -> None:
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._closed = False
        self._counts = dict.fromkeys(TABLES, 0)
        self._fds: dict[str, int] = {}
        closed = [t for t in TABLES if (self.run_dir / f"{t}.parquet").exists()]
        if closed:
            # Readers prefer parquet, so rows appended now would be invisible.
            raise JournalError(
                f"{self.run_dir}: run is already closed ({closed[0]}.parquet exists)"
            )
        for table in TABLES:
            path = self.run_dir / f"{table}.jsonl"
            # Read access too: reopening after a kill must look at the last byte.
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            _drop_torn_tail(fd)
            self._fds[table] = fd

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def counts(self) -> dict[str, int]:
        """Rows written so far per table."""
        return dict(self._counts)

    def write(self, table: str, row: Mapping[str, Any]) -> None:
        checked = check_row(table, row, run_id=self.run_id)
        line = (json.dumps(checked, separators=(",", ":"), allow_nan=False) + "\n").encode()
        with self._lock:
            if self._closed:
                raise JournalError(f"{self.run_dir}: journal is closed; cannot add a {table} row")
            # One write per row: the line reaches the kernel whole, before we return.
            os.write(self._fds[table], line)
            self._counts[table] += 1

    def attempt(self, row: Mapping[str, Any]) -> None:
        self.write("attempts", row)

    def effect(self, row: Mapping[str, Any]) -> None:
        self.write("effects", row)

    def outcome(self, row: Mapping[str, Any]) -> None:
        self.write("outcomes", row)

    def request(self, row: Mapping[str, Any]) -> None:
        self.write("requests", row)

    def expected(self, row: Mapping[str, Any]) -> None:
        self.write("expected", row)

    def write_meta(self, meta: Mapping[str, Any]) -> None:
        """Replace ``run.json`` atomically (temporary file + rename)."""
        body = _finite({"run_id": self.run_id, **meta})
        try:
            payload = json.dumps(body, indent=2, allow_nan=False, default=_json_default)
        except (TypeError, ValueError) as exc:
            raise JournalError(f"{self.run_dir / META_FILE}: meta is not JSON ({exc})") from None
        _atomic_write(self.run_dir / META_FILE, (payload + "\n").encode())

    def close(self) -> None:
        """Compact every table to parquet. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for fd in self._fds.values():
                os.close(fd)
        for table in TABLES:
            compact(self.run_dir, table)


def _drop_torn_tail(fd: int) -> None:
    """Cut a half-written last line left by a killed writer before appending after it."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    if os.pread(fd, 1, size - 1) == b"\n":
        return
    chunk = 1 << 16
    end = size
    while end > 0:
        start = max(0, end - chunk)
        block = os.pread(fd, end - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, start + newline + 1)
            return
        end = start
    os.ftruncate(fd, 0)


def _finite(value: Any) -> Any:
    """NaN and infinities become null: strict JSON readers (and jq) reject them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# ---------------------------------------------------------------- loading


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
        return str(self.meta.get("run_id") or self.run_dir.name)

    def table(self, name: str) -> pd.DataFrame:
        _schema(name)
        frame_: pd.DataFrame = getattr(self, name)
        return frame_


def read_meta(run_dir: Path | str) -> dict[str, Any]:
    path = Path(run_dir) / META_FILE
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JournalError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise JournalError(f"{path}: must hold a JSON object")
    return meta


def load_run(run_dir: Path | str) -> Run:
    """Read a run folder, compacted or not; a torn last jsonl line is ignored."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise JournalError(f"{run_dir}: no such run folder")
    frames = {table: _to_frame(_read_table(run_dir, table)) for table in TABLES}
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
            _atomic_write(meta_path, (json.dumps(meta, indent=2) + "\n").encode())
    return counts


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


def pilot_name(meta: Mapping[str, Any]) -> str | None:
    """The pilot a run belongs to: ``meta["pilot"]`` as a name or as ``{"name": ...}``."""
    value = meta.get("pilot")
    if isinstance(value, Mapping):
        value = value.get("name")
    return value if isinstance(value, str) else None


def write_meta(run_dir: Path | str, meta: Mapping[str, Any]) -> None:
    """Replace a run's ``run.json`` atomically (for runs no writer holds open)."""
    payload = json.dumps(dict(meta), indent=2, default=_json_default)
    _atomic_write(Path(run_dir) / META_FILE, (payload + "\n").encode())


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
