"""A run's ``run.json``: read it, replace it atomically, name its pilot."""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from harness.journal._errors import JournalError
from harness.journal._files import atomic_write

META_FILE = "run.json"

__all__ = [
    "META_FILE",
    "finite",
    "json_default",
    "pilot_name",
    "read_meta",
    "write_meta",
]


def read_meta(run_dir: Path | str) -> dict[str, Any]:
    """A run's ``run.json`` (empty when there is none); damaged JSON is a JournalError."""
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


def pilot_name(meta: Mapping[str, Any]) -> str | None:
    """The pilot a run belongs to: ``meta["pilot"]`` as a name or as ``{"name": ...}``."""
    value = meta.get("pilot")
    if isinstance(value, Mapping):
        value = value.get("name")
    return value if isinstance(value, str) else None


def write_meta(run_dir: Path | str, meta: Mapping[str, Any]) -> None:
    """Replace a run's ``run.json`` atomically (for runs no writer holds open)."""
    payload = json.dumps(dict(meta), indent=2, default=json_default)
    atomic_write(Path(run_dir) / META_FILE, (payload + "\n").encode())


def finite(value: Any) -> Any:
    """NaN and infinities become null: strict JSON readers (and jq) reject them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def json_default(value: Any) -> Any:
    """What ``json.dumps`` cannot encode itself: numpy scalars, paths, dates, sets."""
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
