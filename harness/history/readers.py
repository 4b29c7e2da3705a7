"""Rows of an export, each with the number a person finds it by.

Line-based files (CSV, JSONL) number rows by their line in the file; JSON
documents and Parquet by record, from 1. A row that cannot be read (bad
quoting, a line that is not a JSON object) comes out as ``BadRow`` in its
place, so the import decides whether to stop or skip it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.history import HistoryError
from harness.partner import boundedjson

__all__ = ["BadRow", "Row", "read_rows"]

# Parquet rows turned into Python values at once.
PARQUET_BATCH = 10_000


@dataclass(frozen=True)
class Row:
    """One row of an export, numbered as the file counts them, with its raw values by column."""

    number: int
    values: dict[str, Any]


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read, with a one-line reason; the import skips it and says so."""

    number: int
    problem: str


def _clean(value: Any) -> Any:
    # CSV has no null: an empty cell is a missing value.
    return None if value == "" else value


def _csv(path: Path, delimiter: str) -> Iterator[Row | BadRow]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise HistoryError(f"{path}:1: unreadable header ({exc})") from None
        start = reader.line_num + 1
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield BadRow(start, f"unreadable CSV ({exc})")
                start = reader.line_num + 1
                continue
            number, start = start, reader.line_num + 1
            if not fields:
                continue
            if len(fields) != len(header):
                yield BadRow(number, f"has {len(fields)} fields, the header has {len(header)}")
                continue
            yield Row(number, {k: _clean(v) for k, v in zip(header, fields, strict=True)})


def _jsonl(path: Path) -> Iterator[Row | BadRow]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = boundedjson.loads(line)
            except boundedjson.JsonTooDeep as exc:
                yield BadRow(number, exc.msg)
                continue
            except json.JSONDecodeError as exc:
                yield BadRow(number, f"not valid JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(value, dict):
                yield BadRow(number, f"not a JSON object, got {type(value).__name__}")
                continue
            yield Row(number, value)


def _json_document(path: Path) -> Iterator[Row | BadRow]:
    """A JSON array of records, or an API answer holding one under ``data``."""
    try:
        doc = boundedjson.loads(path.read_text(encoding="utf-8"))
    except boundedjson.JsonTooDeep as exc:
        raise HistoryError(f"{path}:{exc.lineno}: {exc.msg}") from None
    except json.JSONDecodeError as exc:
        raise HistoryError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    items = doc.get("data") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise HistoryError(f'{path}: expected a JSON array of executions or {{"data": [...]}}')
    for number, value in enumerate(items, start=1):
        if isinstance(value, dict):
            yield Row(number, value)
        else:
            yield BadRow(number, f"not a JSON object, got {type(value).__name__}")


def _parquet(path: Path) -> Iterator[Row | BadRow]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # A row group at a time, as Python values a batch at a time: never the whole file.
    number = 0
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH):
            for values in batch.to_pylist():
                number += 1
                yield Row(number, values)
    except (pa.ArrowInvalid, OSError) as exc:
        raise HistoryError(f"{path}: unreadable Parquet ({exc})") from None


def read_rows(path: Path, fmt: str, delimiter: str = ",") -> Iterator[Row | BadRow]:
    """The export's rows in file order; ``fmt`` is the pilot's ``[history] format``."""
    if not path.is_file():
        raise HistoryError(f"{path}: no such export file")
    try:
        if fmt == "csv":
            yield from _csv(path, delimiter)
        elif fmt == "jsonl":
            yield from _jsonl(path)
        elif fmt == "parquet":
            yield from _parquet(path)
        elif fmt == "n8n":
            jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
            yield from (_jsonl(path) if jsonl else _json_document(path))
        else:
            raise HistoryError(f"{path}: unknown export format {fmt!r}")
    except UnicodeDecodeError:
        raise HistoryError(f"{path}: not UTF-8 text") from None
