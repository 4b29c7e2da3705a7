"""What the ``poll`` source answers to one page request: pure, seeded by nothing but the pilot.

The collection is the captured records ordered by (update time, key), as an
API listing "everything changed since" keeps them. Each paging reads it its
own way; the scenario's faults (``harness.inputs.poll.PollFaults``) bend the
first pass only, so a later pass shows whether the workflow caught up.

    cursor         ?cursor=<opaque>&limit=K   → {"records": [...], "next_cursor": str | null}
    page           ?page=N&limit=K            → {"records": [...], "next_page": int | null}
    updated_since  ?updated_since=T&limit=K   → {"records": [...], "has_more": bool}
                   (records updated strictly after T)
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from harness.inputs.poll import PollFaults, PollSpec


@dataclass
class Record:
    """One record of the collection: which captured event it is, and its body as served."""

    index: int  # into the captured events
    key: str
    version: int
    updated_at: float
    body: dict[str, Any]

    @property
    def order(self) -> tuple[float, str]:
        return (self.updated_at, self.key)


@dataclass(frozen=True)
class Answer:
    """One page answer: status, headers, JSON body, the records served, and why."""

    status: int
    body: dict[str, Any]
    page: int
    served: list[Record] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    fault: str = ""  # "repeat", "error", "slow", "empty", "changed" (comma-separated)
    repeated: str = ""  # the key served again at this page's boundary


class BadRequest(ValueError):
    """A query the source cannot read (a 400 naming the parameter)."""


def pages_needed(records: int, spec: PollSpec, faults: PollFaults) -> int:
    """Pages one clean pass over ``records`` takes, the scenario's extra pages included."""
    pages = max(1, math.ceil(records / spec.page_size))
    return pages + int(faults.empty_page_before_end) + int(faults.change_between_pages is not None)


def _cursor(after: tuple[float, str], page: int) -> str:
    raw = json.dumps({"a": list(after), "n": page}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _uncursor(token: str) -> tuple[tuple[float, str], int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return (float(data["a"][0]), str(data["a"][1])), int(data["n"])
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error):
        raise BadRequest("cursor: not one this source handed out") from None


@dataclass
class Pager:
    """The source's state across a drill: the collection, passes finished, faults spent."""

    spec: PollSpec
    faults: PollFaults
    records: list[Record]
    passes: int = 0
    _since_page: int = 0  # pages of the current updated_since pass (no page in its query)
    _spent: Counter[str] = field(default_factory=Counter)
    changed: dict[int, int] = field(default_factory=dict)  # record index → version it now has

    def __post_init__(self) -> None:
        self.records.sort(key=lambda r: r.order)

    def answer(self, query: dict[str, str]) -> Answer:
        """The answer to one GET of the listing."""
        try:
            limit = self._int(query, self.spec.limit_param, self.spec.page_size)
            position, page = self._position(query)
        except BadRequest as exc:
            return Answer(400, {"error": str(exc)}, 0)
        if page > self.spec.max_pages:
            # A workflow paging past the bound is stopped here rather than served for ever.
            return Answer(400, {"error": f"past max_pages ({self.spec.max_pages})"}, page)
        first = self.passes == 0
        if first and (early := self._fault_answer(position, page)) is not None:
            return early
        answer = self._page(position, page, max(1, min(limit, self.spec.page_size)), first)
        slow = self.faults.slow_page
        if first and slow is not None and page == slow.page and self._spent["slow"] < slow.times:
            # The page itself is served, late: a job that waited gets it, one that gave up not.
            self._spent["slow"] += 1
            fault = ",".join(f for f in (answer.fault, "slow") if f)
            return replace(answer, delay_s=slow.delay_s, fault=fault)
        return answer

    def after_drill(self) -> Answer:
        """What a pass after the drill's own gets: an empty listing, on one last page.

        A job on its own schedule keeps paging after the passes the drill judges,
        and calling its partners for what it reads; they would never go quiet and
        the drill could not settle. Nothing new at the source is an answer any
        source may give (an updated-since listing gives it every time)."""
        return Answer(200, self._links([], -1, 1, more=False), 1, fault="after the drill")

    # -- reading the query

    @staticmethod
    def _int(query: dict[str, str], name: str, default: int) -> int:
        raw = query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{name}: not a whole number: {raw[:40]!r}") from None
        if value < 1:
            raise BadRequest(f"{name}: must be 1 or more, got {value}")
        return value

    def _position(self, query: dict[str, str]) -> tuple[int, int]:
        """Where the page starts in the collection, and its number in the pass."""
        s = self.spec
        if s.paging == "cursor":
            token = query.get(s.cursor_param)
            if not token:
                return 0, 1
            after, page = _uncursor(token)
            return sum(1 for r in self.records if r.order <= after), page
        if s.paging == "page":
            page = self._int(query, s.page_param, 1)
            # Past an empty page the data resumes where that page should have started.
            shift = int(self.faults.empty_page_before_end and self.passes == 0 and page > 2)
            return (page - 1 - shift) * s.page_size, page
        raw = query.get(s.since_param)
        try:
            since = float(raw) if raw else -math.inf
        except ValueError:
            raise BadRequest(f"{s.since_param}: not a number: {(raw or '')[:40]!r}") from None
        self._since_page = 1 if raw is None else self._since_page + 1
        return sum(1 for r in self.records if r.updated_at <= since), self._since_page

    # -- faults that answer instead of the page

    def _fault_answer(self, position: int, page: int) -> Answer | None:
        error = self.faults.error_at_page
        if error is not None and page == error.page and self._spent["error"] < error.times:
            self._spent["error"] += 1
            headers = {}
            if error.retry_after_s is not None:
                headers["Retry-After"] = str(math.ceil(error.retry_after_s))
            return Answer(error.status, {"error": "injected"}, page, headers=headers, fault="error")
        if self.faults.empty_page_before_end and page == 2 and not self._spent["empty"]:
            self._spent["empty"] += 1
            # The next page resumes where this one should have started.
            body = self._links([], position - 1, page, more=True)
            return Answer(200, body, page, fault="empty")
        return None

    # -- the page itself

    def _page(self, position: int, page: int, limit: int, first: bool) -> Answer:
        start = max(0, position)
        served = list(self.records[start : start + limit])
        more = start + len(served) < len(self.records)
        faults, repeated = [], ""
        if first and self.faults.repeat_at_boundary and page > 1 and start > 0 and served:
            # The record before the boundary comes again, as when an offset shifts under a reader.
            served.insert(0, self.records[start - 1])
            faults.append("repeat")
            repeated = served[0].key
        body = self._links(served, start + len(served) - 1 - bool(repeated), page, more)
        change = self.faults.change_between_pages
        if first and page == change and served and not self._spent["change"]:
            # Once: a page asked for again (after a timeout, say) changes nothing more.
            self._spent["change"] += 1
            self._change(served[-1])
            faults.append("changed")
        if not more:
            self.passes += 1
        return Answer(200, body, page, served, fault=",".join(faults), repeated=repeated)

    def _links(self, served: list[Record], last: int, page: int, more: bool) -> dict[str, Any]:
        """The records as JSON, and how to ask for the next page in this paging."""
        out: dict[str, Any] = {"records": [dict(r.body) for r in served]}
        if self.spec.paging == "cursor":
            after = self.records[last].order if last >= 0 else (-math.inf, "")
            out["next_cursor"] = _cursor(after, page + 1) if more else None
        elif self.spec.paging == "page":
            out["next_page"] = page + 1 if more else None
        else:
            out["has_more"] = more
        return out

    def _change(self, record: Record) -> None:
        """The record changes now: a newer version, updated after everything else.

        A new Record takes its place, so the page just served keeps the old one
        (its attempt rows say the version that was served)."""
        s = self.spec
        version, updated = record.version + 1, max(r.updated_at for r in self.records) + 1
        body = {**record.body, s.version: version, s.updated_at: updated}
        self.records[self.records.index(record)] = Record(
            record.index, record.key, version, updated, body
        )
        self.changed[record.index] = version
        self.records.sort(key=lambda r: r.order)
