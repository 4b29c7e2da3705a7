"""The pilot file's ``[history]`` table: how to read the pilot's production export.

    [history]
    format = "csv"                     # csv | jsonl | parquet | n8n
    time_format = "iso"                # iso | epoch_s | epoch_ms | a strptime pattern
    timezone = "UTC"                   # for times written without an offset
    columns = { event_id = "order_id", started_at = "started", status = "result" }
    status_values = { success = ["ok"], failed = ["error", "timeout"] }

``format = "n8n"`` needs nothing else: the mapping of n8n's executions
export is built in (``harness.history.n8n``).
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["CATEGORIES", "HistoryColumns", "HistorySpec", "StatusValues"]

# What an execution's status word means here. "skip" marks rows that are not
# production executions at all (test runs): counted, never judged.
CATEGORIES = ("success", "failed", "in_flight", "skip")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HistoryColumns(_Strict):
    """Which column of the export holds each field (names as the export spells them)."""

    event_id: str | None = None  # the business transaction; its retries share it
    execution_id: str | None = None  # unique per execution (default: the row number)
    started_at: str | None = None
    finished_at: str | None = None
    duration_ms: str | None = None  # instead of finished_at
    status: str | None = None
    attempt: str | None = None  # 1-based; default: order of started_at within the event
    retry_of: str | None = None  # the execution this one retries (n8n's retryOf)
    error: str | None = None
    effect: str | None = None  # "<partner>:<effect>" a successful execution applied
    business_key: str | None = None  # the entity that effect was about
    workflow: str | None = None  # for exports holding several workflows


class StatusValues(_Strict):
    """The export's status words, by what they mean."""

    success: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    in_flight: list[str] = Field(default_factory=list)
    skip: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _each_once(self) -> StatusValues:
        seen: dict[str, str] = {}
        for category in CATEGORIES:
            for word in getattr(self, category):
                if word in seen:
                    raise ValueError(f"{word!r} is listed under both {seen[word]} and {category}")
                seen[word] = category
        if not self.success:
            raise ValueError("success: list the status words that mean success")
        return self

    def lookup(self) -> dict[str, str]:
        """Each status word with its category."""
        return {word: c for c in CATEGORIES for word in getattr(self, c)}


class HistorySpec(_Strict):
    """The pilot's `[history]` table: how to read its production export."""

    format: Literal["csv", "jsonl", "parquet", "n8n"]
    columns: HistoryColumns | None = None
    status_values: StatusValues | None = None
    time_format: str = "iso"
    timezone: str = "UTC"
    delimiter: str = Field(",", min_length=1, max_length=1)  # csv only
    workflow: str | None = None  # only executions of this workflow id

    @field_validator("time_format")
    @classmethod
    def _time_format(cls, value: str) -> str:
        if value not in ("iso", "epoch_s", "epoch_ms") and "%" not in value:
            raise ValueError(
                f'must be iso, epoch_s, epoch_ms or a strptime pattern like "%d/%m/%Y %H:%M", '
                f"got {value!r}"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f'not a time zone name like "UTC" or "Europe/Paris", got {value!r}'
            ) from None
        return value

    @model_validator(mode="after")
    def _mapping_complete(self) -> HistorySpec:
        if self.format == "n8n":
            for key in ("columns", "status_values"):
                if getattr(self, key) is not None:
                    raise ValueError(
                        f"{key}: the n8n mapping is built in; remove {key} or use "
                        'format = "jsonl"/"csv" with your own mapping'
                    )
            return self
        if self.columns is None or self.status_values is None:
            missing = "columns" if self.columns is None else "status_values"
            raise ValueError(f"{missing}: required for format {self.format!r}")
        for key in ("event_id", "started_at", "status"):
            if getattr(self.columns, key) is None:
                raise ValueError(f"columns.{key}: required (the export's column for it)")
        if self.columns.finished_at and self.columns.duration_ms:
            raise ValueError("columns: give finished_at or duration_ms, not both")
        return self
