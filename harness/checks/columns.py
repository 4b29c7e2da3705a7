"""Reading one column of a run's table, whatever made the frame.

Journal frames, hand-made test frames and frames with a column missing (a
run recorded before it existed) all read the same: a missing text column is
all "", a missing number all NaN, a missing flag all False.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["flag", "number", "ok_status", "page_requests", "partner_calls", "scoped", "text"]


def text(df: pd.DataFrame, column: str) -> pd.Series:
    """A string column with nulls as "" (hand-made and journal frames alike)."""
    if column not in df.columns:
        return pd.Series([""] * len(df), index=df.index, dtype=object)
    col = df[column]
    if isinstance(col.dtype, pd.StringDtype):
        # Already strings: only the nulls need filling, which is cheap.
        return col.fillna("")
    return col.astype(object).where(col.notna(), "").astype(str)


def number(df: pd.DataFrame, column: str) -> pd.Series:
    """A numeric column as floats, NaN where null or not a number."""
    if column not in df.columns:
        return pd.Series(np.nan, index=df.index, dtype=float)
    col = df[column]
    if pd.api.types.is_integer_dtype(col.dtype) or pd.api.types.is_float_dtype(col.dtype):
        # A journal column is a number already: one conversion, nulls as NaN
        # (to_numeric, then astype, costs three times as much on a short column).
        return pd.Series(col.to_numpy(dtype=float, na_value=np.nan), index=df.index, name=col.name)
    return pd.to_numeric(col, errors="coerce").astype(float)


def flag(df: pd.DataFrame, column: str) -> pd.Series:
    """A boolean column, null as False."""
    if column not in df.columns:
        return pd.Series(False, index=df.index, dtype=bool)
    col = df[column]
    if pd.api.types.is_bool_dtype(col.dtype):
        # A journal flag (nullable boolean): nulls become False in one conversion.
        return pd.Series(col.to_numpy(dtype=bool, na_value=False), index=df.index, name=col.name)
    return col.astype("boolean").fillna(False).astype(bool)


def ok_status(attempts: pd.DataFrame) -> pd.Series:
    """Which attempts were answered 2xx."""
    status = number(attempts, "status")
    return (status >= 200) & (status < 300)


def scoped(df: pd.DataFrame, key_column: str) -> pd.Series:
    """Entity keys made unique across partners: ``partner:key`` (bare key without one)."""
    partner = text(df, "partner")
    key = text(df, key_column)
    return partner.where(partner == "", partner + ":") + key


def page_requests(requests: pd.DataFrame) -> pd.Series:
    """Which rows of a requests table are page requests to the event source, not partner calls.

    The source journals the page each one asked for; a partner's call has none.
    """
    return number(requests, "page").notna()


def partner_calls(requests: pd.DataFrame) -> pd.DataFrame:
    """The requests table less the page requests to the event source: calls to partners."""
    if "page" not in requests.columns:
        return requests  # a webhook or queue run, or one journaled before page requests were
    paged = page_requests(requests)
    return requests[~paged] if paged.any() else requests
