"""``[poll]``: the workflow pulls the captured records from a source API the lab serves.

The table's model lives here (inputs is the leaf every stage reads);
``harness.sources.poll_http`` serves the pages and journals what it served.
The records are the fixtures' bodies (JSON objects), in the file's order; the
pilot says where each one keeps its key, version and update time, how the API
pages (``cursor``, ``page`` or ``updated_since``) and what drives a run (the
workflow's own schedule, or a trigger the lab fires). A scenario's ``poll``
table (``PollFaults``) says what goes wrong while it pages.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from harness.inputs.bounds import PositiveSeconds, Seconds

# A query parameter or a top-level field of a record: one plain word.
_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _word(value: str) -> str:
    if not _WORD.match(value):
        raise ValueError(f"must be one word of letters, digits or _, got {value!r}")
    return value


def _path(value: str) -> str:
    if not value.startswith("/") or len(value) > 200 or any(c in value for c in "?# "):
        raise ValueError(f"must be a path starting with / (no query), got {value!r}")
    return value


Word = Annotated[str, AfterValidator(_word)]
Path = Annotated[str, AfterValidator(_path)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _argv(words: list[str]) -> list[str]:
    if not words or len(words) > 64 or any(not w or len(w) > 4096 or "\0" in w for w in words):
        raise ValueError("must be a program and its arguments: 1 to 64 non-empty words")
    return words


class PollTrigger(_Strict):
    """A run the lab starts: an HTTP call to the workflow, answered when its pass is over,
    or a command (a program and its arguments, no shell) that exits when its pass is over."""

    http: Path | None = None  # POSTed on the workflow's own address
    # Run in ``cwd`` (relative to the pilot file, inside the pilot's tree), its output in
    # the run folder (trigger-<n>.log); placeholders such as {links.NAME.url} are filled.
    command: Annotated[list[str], AfterValidator(_argv)] | None = None
    cwd: str = "."
    timeout_s: PositiveSeconds = 30.0  # how long one run may take before the lab stops it

    @model_validator(mode="after")
    def _one_way(self) -> PollTrigger:
        if (self.http is None) == (self.command is None):
            raise ValueError("give exactly one of http (a path to POST) or command (argv)")
        return self

    def describe(self) -> str:
        """How a run is fired, for run.json."""
        if self.command is not None:
            return f"trigger command {' '.join(self.command)[:200]}"
        return f"trigger POST {self.http}"


class PollSpec(_Strict):
    """The source API the lab serves, and how the workflow is driven to read it."""

    fixtures: str  # relative to the pilot file, as [webhook] fixtures
    path: Path = "/records"
    paging: Literal["cursor", "page", "updated_since"] = "cursor"
    page_size: int = Field(5, ge=1, le=1000)
    # The query parameters of each paging: the page size, the cursor, the page, the time.
    limit_param: Word = "limit"
    cursor_param: Word = "cursor"
    page_param: Word = "page"
    since_param: Word = "updated_since"
    # Where each record keeps its id, version and update time (top-level fields).
    key: Word = "id"
    version: Word = "version"
    updated_at: Word = "updated_at"
    # Complete passes a drill waits for: fired by ``trigger``, else by the workflow's schedule.
    runs: int = Field(1, ge=1, le=100)
    trigger: PollTrigger | None = None
    # How long the workflow's own schedule may take to finish ``runs`` passes.
    schedule_timeout_s: PositiveSeconds = 30.0
    # Pages one pass may take; a declaration that would page past it is refused.
    max_pages: int = Field(100, ge=1, le=10_000)

    @model_validator(mode="after")
    def _distinct(self) -> PollSpec:
        fields = {"key": self.key, "version": self.version, "updated_at": self.updated_at}
        if len(set(fields.values())) != len(fields):
            raise ValueError("key, version and updated_at must name three different fields")
        return self


class PollError(_Strict):
    """Requests for one page of the first pass answered with an error instead."""

    page: int = Field(ge=1)
    status: int = Field(ge=400, le=599)
    retry_after_s: Seconds | None = None  # sent as Retry-After (whole seconds, rounded up)
    times: int = Field(1, ge=1, le=100)  # how many requests for that page get it


class PollSlow(_Strict):
    """One page of the first pass answered late (past a job's timeout, say)."""

    page: int = Field(ge=1)
    delay_s: Seconds
    times: int = Field(1, ge=1, le=100)


class PollFaults(_Strict):
    """What goes wrong while the workflow pages, in its first pass (deterministic)."""

    # Each page after the first starts again with the last record of the page before.
    repeat_at_boundary: bool = False
    # After page N is served, its last record changes (version + 1, updated now):
    # it moves to the end of the collection, so offset paging skips a record.
    change_between_pages: int | None = Field(None, ge=1)
    error_at_page: PollError | None = None
    slow_page: PollSlow | None = None
    # Page 2 comes back empty although more records follow.
    empty_page_before_end: bool = False

    def tell(self) -> list[str]:
        """One sentence per fault, for the run's meta."""
        out = []
        if self.repeat_at_boundary:
            out.append("Each page after the first repeats the last record of the page before.")
        if self.change_between_pages is not None:
            n = self.change_between_pages
            out.append(
                f"After page {n}, its last record changes (version + 1) and moves to the end."
            )
        if (e := self.error_at_page) is not None:
            wait = f" with Retry-After {e.retry_after_s:g} s" if e.retry_after_s is not None else ""
            out.append(f"Page {e.page} answers {e.status}{wait} the first {e.times} time(s).")
        if (s := self.slow_page) is not None:
            out.append(f"Page {s.page} answers {s.delay_s:g} s late the first {s.times} time(s).")
        if self.empty_page_before_end:
            out.append("Page 2 comes back empty although more records follow.")
        return out
