"""page: what goes wrong while a workflow pages a ``[poll]`` source, as the hunt draws it.

The source serves these as a scenario's ``poll = {...}`` (``harness.inputs.poll.PollFaults``,
first pass only, bound to page numbers, so a schedule does the same every run):

    repeat  each page after the first starts with the last record of the page before
    change  after page N its last record changes (version + 1) and moves to the end
    error   page N answers 429 (Retry-After 1 s), 503 or 500, once
    slow    page N is answered past the workflow's timeout for a page, once
    empty   page 2 comes back empty although more follows

A hunt-only family acting outside the delivery plan: it writes its scenario
table itself (``writes``) and reads it back (``reads``). Drawn only when the
pilot declares a ``[poll]`` source (``HuntSpace.pages``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from harness.inputs.delivery_faults._family import Family, FamilyFault, HuntSpace
from harness.inputs.fixtures import CapturedRequest

if TYPE_CHECKING:
    from hypothesis.strategies import DrawFn

PageKind = Literal["repeat", "change", "error", "slow", "empty"]
KINDS: tuple[PageKind, ...] = ("repeat", "change", "error", "slow", "empty")
STATUSES = (429, 503, 500)
RETRY_AFTER_S = 1.0  # what a 429 asks for: short, so a polite job's wait costs a second
OVER_TIMEOUT_S = 0.3  # how far past the workflow's timeout a slow page is answered


@dataclass(frozen=True)
class PageFault(FamilyFault):
    """One page fault of the first pass; ``page`` is its page number (1-based)."""

    kind: PageKind
    page: int = 1
    status: int = 0  # error: the status answered

    def place(self) -> int:
        """Faults of one schedule list by kind, then page."""
        return KINDS.index(self.kind) * 1000 + self.page

    def exclusive(self) -> str | None:
        """A scenario's ``poll`` table holds one fault of each kind."""
        return f"page:{self.kind}"


def strategy(draw: DrawFn, space: HuntSpace) -> PageFault:
    """A kind, then a page of the first pass (a change before the last page only)."""
    from hypothesis import strategies as st  # a pilot load must not pay for Hypothesis

    kind: PageKind = draw(st.sampled_from(KINDS))
    if kind in ("repeat", "empty"):
        return PageFault(kind, 2 if kind == "empty" else 1)
    last = space.pages - 1 if kind == "change" else space.pages
    page = draw(st.integers(1, max(1, last)))
    status = draw(st.sampled_from(STATUSES)) if kind == "error" else 0
    return PageFault(kind, page, status)


def available(space: HuntSpace) -> bool:
    """Only for a pilot whose records come from a [poll] source."""
    return space.pages > 0


def slow_delay_s(space: HuntSpace) -> float:
    """How late a slow page is answered: past the workflow's wait for a page."""
    return round(space.source_timeout_s + OVER_TIMEOUT_S, 3)


def tell(space: HuntSpace, fault: PageFault, events: Sequence[CapturedRequest]) -> str:
    """The fault in the words of someone reading the source's pages."""
    n = fault.page
    if fault.kind == "repeat":
        return (
            "the source repeats the last record of each page at the start of the next "
            "(a page-boundary repeat)"
        )
    if fault.kind == "change":
        return (
            f"right after page {n} is served, its last record changes at the source "
            "(version + 1) and moves to the end of the listing, mid-pagination"
        )
    if fault.kind == "error":
        wait = f" with Retry-After {RETRY_AFTER_S:g} s" if fault.status == 429 else ""
        return f"page {n} answers {fault.status}{wait} the first time it is asked for"
    if fault.kind == "slow":
        return (
            f"page {n} is answered {slow_delay_s(space):g} s late the first time, past the "
            f"workflow's {space.source_timeout_s:g} s wait for a page"
        )
    return "page 2 comes back empty although more records follow"


def writes(space: HuntSpace, fault: PageFault) -> dict[str, Any]:
    """The scenario's ``poll`` table for this fault."""
    table: dict[str, Any]
    if fault.kind == "repeat":
        table = {"repeat_at_boundary": True}
    elif fault.kind == "change":
        table = {"change_between_pages": fault.page}
    elif fault.kind == "error":
        error: dict[str, Any] = {"page": fault.page, "status": fault.status}
        if fault.status == 429:
            error["retry_after_s"] = RETRY_AFTER_S
        table = {"error_at_page": error}
    elif fault.kind == "slow":
        table = {"slow_page": {"page": fault.page, "delay_s": slow_delay_s(space)}}
    else:
        table = {"empty_page_before_end": True}
    return {"poll": table}


def reads(space: HuntSpace, scenario: Any) -> list[PageFault]:
    """The page faults of a scenario's ``poll`` table (those the hunt draws)."""
    poll = scenario.poll
    out: list[PageFault] = []
    if poll.repeat_at_boundary:
        out.append(PageFault("repeat"))
    if poll.change_between_pages is not None:
        out.append(PageFault("change", poll.change_between_pages))
    if poll.error_at_page is not None:
        out.append(PageFault("error", poll.error_at_page.page, poll.error_at_page.status))
    if poll.slow_page is not None:
        out.append(PageFault("slow", poll.slow_page.page))
    if poll.empty_page_before_end:
        out.append(PageFault("empty", 2))
    return out


FAMILY = Family(
    name="page",
    hunt="page",
    fault=PageFault,
    strategy=strategy,
    available=available,
    tell=tell,
    writes=writes,
    reads=reads,
)
