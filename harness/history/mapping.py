"""One export row → one ``Execution``, as the pilot's ``[history]`` table says.

Everything a row can get wrong is found here and said in one line naming
the export's own column, e.g. ``started: not an ISO 8601 time, got
"yesterday"``; the caller puts the file and row in front.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from harness.history import n8n
from harness.inputs.history import CATEGORIES, HistoryColumns, HistorySpec

__all__ = ["Execution", "Mapping", "RowProblem", "map_row"]

# No workflow automation ran before this; an earlier date is a unit or parsing mistake.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
# Clocks disagree a little; an execution a day in the future did not happen yet.
FUTURE_SLACK_S = 86400.0


class RowProblem(ValueError):
    """What is wrong with one row, without the file and row (the caller knows them)."""


@dataclass(frozen=True)
class Execution:
    """One execution of the workflow as the export recorded it, times in epoch seconds."""

    row: int
    execution_id: str
    event_id: str
    started: float  # epoch seconds
    finished: float | None
    category: str  # success | failed | in_flight
    status: str  # the export's own word
    attempt: int | None
    retry_of: str = ""
    error: str = ""
    effect: str = ""
    business_key: str = ""
    workflow: str = ""


@dataclass(frozen=True)
class Mapping:
    """The ``[history]`` table made ready to apply (the n8n one filled in)."""

    format: str
    columns: HistoryColumns
    status: dict[str, str]  # export word → category
    time_format: str
    tz: ZoneInfo
    workflow: str | None
    # The latest time an execution can have started: now, plus clock slack.
    latest: float = field(default_factory=lambda: time.time() + FUTURE_SLACK_S)

    @classmethod
    def of(cls, spec: HistorySpec) -> Mapping:
        """The mapping for a validated `[history]` table; n8n brings its own columns and words."""
        if spec.format == "n8n":
            columns, values = n8n.COLUMNS, n8n.STATUS_VALUES
        else:
            assert spec.columns is not None and spec.status_values is not None  # validated
            columns, values = spec.columns, spec.status_values
        return cls(
            format=spec.format,
            columns=columns,
            status=values.lookup(),
            time_format=spec.time_format,
            tz=ZoneInfo(spec.timezone),
            workflow=spec.workflow,
        )

    def describe(self) -> dict[str, Any]:
        """What run.json records of the mapping used."""
        return {
            "format": self.format,
            "columns": self.columns.model_dump(exclude_none=True),
            "status_values": {
                c: sorted(w for w, k in self.status.items() if k == c) for c in CATEGORIES
            },
            "time_format": self.time_format,
            "timezone": str(self.tz),
            "workflow": self.workflow,
        }

    def absent(self, names: Iterable[str]) -> list[str]:
        """``columns.<key> = "<column>"`` for each mapped column not among ``names``."""
        have = set(names)
        mapped = self.columns.model_dump(exclude_none=True).items()
        return [f'columns.{key} = "{column}"' for key, column in mapped if column not in have]

    def known_statuses(self) -> str:
        """The status words per category, for a message about a word the mapping does not know."""
        parts = []
        for category in CATEGORIES:
            words = [w for w, c in self.status.items() if c == category]
            if words:
                parts.append(f"{category}: {', '.join(words)}")
        return "; ".join(parts)


def _got(value: Any) -> str:
    """A bad value as the error shows it: strings in double quotes, like the pilot errors."""
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _id(values: dict[str, Any], column: str | None) -> str:
    """An id as text; objects, lists, booleans, NaN and fractions are no id."""
    raw = _field(values, column)
    if raw is None or raw == "":
        return ""
    whole_float = isinstance(raw, float) and math.isfinite(raw) and raw.is_integer()
    if isinstance(raw, bool) or not (isinstance(raw, str | int) or whole_float):
        raise RowProblem(f"{column}: must be a string or a whole number, got {_got(raw)}")
    return _text(raw)


def _time_kind(fmt: str) -> str:
    return {
        "iso": "an ISO 8601 time",
        "epoch_s": "seconds since 1970",
        "epoch_ms": "milliseconds since 1970",
    }.get(fmt, f"a time like {fmt!r}")


def parse_time(value: Any, m: Mapping) -> float:
    """Epoch seconds; a time without an offset is in the mapping's time zone."""
    if isinstance(value, datetime):
        moment = value
    elif m.time_format in ("epoch_s", "epoch_ms"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise RowProblem(f"not {_time_kind(m.time_format)}") from None
        if isinstance(value, bool) or not math.isfinite(number):
            raise RowProblem(f"not {_time_kind(m.time_format)}")
        return number / 1000.0 if m.time_format == "epoch_ms" else number
    elif not isinstance(value, str):
        raise RowProblem(f"not {_time_kind(m.time_format)}")
    else:
        try:
            if m.time_format == "iso":
                moment = datetime.fromisoformat(value.strip())
            else:
                moment = datetime.strptime(value.strip(), m.time_format)
        except ValueError:
            raise RowProblem(f"not {_time_kind(m.time_format)}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=m.tz)
    return moment.timestamp()


def _field(values: dict[str, Any], column: str | None) -> Any:
    return None if column is None else values.get(column)


def _time(values: dict[str, Any], column: str, m: Mapping) -> float:
    raw = values.get(column)
    if raw is None or raw == "":
        raise RowProblem(f"{column}: missing (the time it {_verb(column, m)})")
    try:
        moment = parse_time(raw, m)
    except RowProblem as exc:
        raise RowProblem(f"{column}: {exc}, got {_got(raw)}") from None
    if not EARLIEST <= moment <= m.latest:
        # A year-9999 row once made the monthly volume 0.017: refused, not averaged in.
        raise RowProblem(
            f"{column}: {_got(raw)} is outside 2000-01-01 .. tomorrow, not a time an execution ran"
        )
    return moment


def _verb(column: str, m: Mapping) -> str:
    return "started" if column == m.columns.started_at else "finished"


def _finished(values: dict[str, Any], started: float, m: Mapping) -> float | None:
    c = m.columns
    if c.duration_ms is not None:
        raw = values.get(c.duration_ms)
        if raw is None:
            return None
        try:
            ms = float(raw)
        except (TypeError, ValueError):
            problem = f"{c.duration_ms}: not a number of milliseconds, got {_got(raw)}"
            raise RowProblem(problem) from None
        if not math.isfinite(ms) or ms < 0:
            raise RowProblem(f"{c.duration_ms}: must be ≥ 0 milliseconds, got {_got(raw)}")
        return started + ms / 1000.0
    if c.finished_at is None or values.get(c.finished_at) in (None, ""):
        return None
    finished = _time(values, c.finished_at, m)
    if finished < started:
        raise RowProblem(f"{c.finished_at}: {_got(values[c.finished_at])} is before {c.started_at}")
    return finished


def _attempt(values: dict[str, Any], column: str | None) -> int | None:
    raw = _field(values, column)
    if raw is None or raw == "":
        return None
    try:
        number = int(str(raw).strip())
    except ValueError:
        number = 0
    if number < 1 or isinstance(raw, bool):
        raise RowProblem(f"{column}: must be a whole number ≥ 1, got {_got(raw)}")
    return number


def map_row(values: dict[str, Any], number: int, m: Mapping) -> Execution | None:
    """The execution a row records, or None for a row that is not production (a test run)."""
    if m.format == "n8n":
        values = n8n.normalise(values)
    c = m.columns
    assert c.status is not None and c.started_at is not None  # validated
    word = _text(values.get(c.status))
    if not word:
        raise RowProblem(f"{c.status}: missing (the execution's status)")
    category = m.status.get(word)
    if category is None:
        raise RowProblem(
            f"{c.status}: unknown status {_got(word)} (known: {m.known_statuses()}; "
            "add it to [history] status_values)"
        )
    if category == "skip":
        return None
    execution_id = _id(values, c.execution_id) or f"row-{number}"
    if c.execution_id is not None and not _id(values, c.execution_id):
        raise RowProblem(f"{c.execution_id}: missing (the execution id)")
    event_id = _id(values, c.event_id)
    if c.event_id is not None and not event_id:
        raise RowProblem(f"{c.event_id}: missing (the event id)")
    started = _time(values, c.started_at, m)
    return Execution(
        row=number,
        execution_id=execution_id,
        event_id=event_id,
        started=started,
        finished=_finished(values, started, m),
        category=category,
        status=word,
        attempt=_attempt(values, c.attempt),
        retry_of=_id(values, c.retry_of),
        error=_text(_field(values, c.error))[:200],
        effect=_text(_field(values, c.effect)),
        business_key=_text(_field(values, c.business_key)),
        workflow=_id(values, c.workflow),
    )
