"""Rows checked against ``columns.py``, and typed DataFrames of them.

An unknown column or a value of the wrong type is a ``JournalError`` naming
the table and column, so a caller's typo cannot grow the schema silently.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd

from harness.journal._errors import JournalError
from harness.journal.columns import TABLES

__all__ = [
    "check_row",
    "conform",
    "empty_frame",
    "frame",
    "table_schema",
    "to_frame",
]


def table_schema(table: str) -> pa.Schema:
    """The table's arrow schema from ``columns.py``; an unknown table is a JournalError."""
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
    schema = table_schema(table)
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
    # pandas loads here, when a frame is made: writing rows needs only arrow, and
    # a drill that stops before its checks (or a command that never reads a
    # run) is spared half a second of CPU.
    import pandas as pd

    # Nullable integers and booleans keep "no value" distinct from 0 / False.
    if pa.types.is_integer(t):
        return pd.Int64Dtype()
    if pa.types.is_boolean(t):
        return pd.BooleanDtype()
    return None


def to_frame(table: pa.Table) -> pd.DataFrame:
    """An arrow table as a DataFrame whose integers and booleans keep their nulls."""
    return table.to_pandas(types_mapper=_types_mapper)


def empty_frame(table: str) -> pd.DataFrame:
    """A zero-row DataFrame with the table's columns and dtypes."""
    return to_frame(table_schema(table).empty_table())


def frame(table: str, rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A typed DataFrame from row dicts, checked like journal rows (handy in tests)."""
    schema = table_schema(table)
    checked = [check_row(table, row) for row in rows]
    return to_frame(pa.Table.from_pylist(checked, schema=schema))


def conform(table: pa.Table, schema: pa.Schema, source: Path) -> pa.Table:
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
