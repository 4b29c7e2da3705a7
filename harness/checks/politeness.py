"""How a workflow treats its partners, and the source it polls: invariants over the requests table.

    retry_after_honoured  after a 429/503 that named a time (Retry-After, RateLimit
                          reset), no call of the same operation before that time
    call_budget           partner calls per effect the run called for, and a polled
                          source's page requests per page it answered, within budget

Like the other checks, pure functions over the run's tables (``requests`` and
``expected`` shaped as ``harness.journal.columns``): no socket, no file.

A call's operation is what the caller is retrying: the event it works for
(the forwarded trace id) and the method and path, else its idempotency key,
else the method and path alone. With ``scope = "partner"`` every call to the
partner counts, for partners whose limit is one bucket for everyone.

A poll pilot's job pages a source API the lab serves, and every page request
the source answered in the passes a drill judges is a row of ``requests`` too
(partner ``source``, with the ``page`` it asked for; ``columns.page_requests``
tells them apart). The source is a partner like any other to Retry-After, with
one rule of its own, and has a budget of its own:

- ``retry_after_honoured``: a page request's operation is the listing (the
  source's path), whatever page or cursor its query names. A source that asks
  for a wait asks it of the client, so the next page is as early as the same
  page again.
- ``call_budget`` counts page requests apart from partner calls. Paging through
  a listing is the job's work, not calls an effect asked for, and the source is
  no partner whose absence from ``[[expectations]]`` is a question for the
  pilot. What a source can be hammered by is a job asking a failing page again
  and again: its budget is ``max_calls_per_effect`` page requests per page it
  answered with a 2xx (one page's worth when it answered none), so a job that
  retries a 5xx with no Retry-After at once, which the check above cannot see,
  is a retry storm here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pandas as pd

from harness.checks.columns import page_requests, partner_calls
from harness.checks.result import MAX_EXAMPLES, InvariantResult
from harness.checks.settings import CheckSettings
from harness.checks.tables import RunTables
from harness.checks.wording import plural

__all__ = [
    "DEFAULT_MAX_CALLS_PER_EFFECT",
    "Politeness",
    "call_budget",
    "check_call_budget",
    "check_retry_after_honoured",
    "retry_after_honoured",
]

# A workflow that retries a failing call up to about eight times with backoff
# stays under it even when the partner is down for the whole run and a drill
# sends a single event; a loop that retries at once until some cap does not.
DEFAULT_MAX_CALLS_PER_EFFECT = 10.0


@dataclass(frozen=True)
class Politeness:
    """The pilot's ``[politeness]``: what it allows its workflow towards partners."""

    max_calls_per_effect: float = DEFAULT_MAX_CALLS_PER_EFFECT
    grace_ms: float = 100.0  # clocks and schedulers are not exact
    scope: Literal["operation", "partner"] = "operation"

    @classmethod
    def of(cls, cfg: Any) -> Politeness:
        """From a Politeness, a mapping or the pilot's ``[politeness]``; None gives the defaults."""
        if cfg is None:
            return cls()
        if isinstance(cfg, Politeness):
            return cfg
        get = cfg.get if isinstance(cfg, dict) else lambda k, d=None: getattr(cfg, k, d)
        return cls(
            max_calls_per_effect=float(get("max_calls_per_effect", DEFAULT_MAX_CALLS_PER_EFFECT)),
            grace_ms=float(get("grace_ms", 100.0)),
            scope=get("scope", "operation"),
        )


def _column(df: pd.DataFrame, name: str, default: Any) -> list[Any]:
    if name not in df.columns:
        return [default] * len(df)
    return [default if pd.isna(v) else v for v in df[name].tolist()]


def _operation(
    partner: str, trace: str, key: str, method: str, path: str, scope: str
) -> tuple[str, ...]:
    if scope == "partner":
        return ("partner", partner)
    if trace:
        return ("trace", partner, method, path, trace)
    if key:
        return ("key", partner, key)
    return ("call", partner, method, path)


@dataclass(frozen=True)
class _Request:
    """One row of ``requests`` as the Retry-After check reads it."""

    at: float
    answered: float  # when its answer left (at + duration)
    wait: float | None  # the wait its answer asked for, None when it named none
    status: int | None
    partner: str
    method: str
    path: str
    page: int | None  # the page asked for, on a page request to the event source
    operation: tuple[str, ...]

    @property
    def until(self) -> float:
        """Until when its answer asked the caller to stay away."""
        return self.answered + (self.wait or 0.0)


def _requests(requests: pd.DataFrame, cfg: Politeness) -> list[_Request]:
    """The table's rows in the order they came."""
    rows = zip(
        _column(requests, "at", 0.0),
        _column(requests, "duration_ms", 0.0),
        _column(requests, "retry_after_s", None),
        _column(requests, "status", None),
        _column(requests, "partner", ""),
        _column(requests, "correlation_id", ""),
        _column(requests, "idempotency_key", ""),
        _column(requests, "method", ""),
        _column(requests, "path", ""),
        _column(requests, "page", None),
        strict=True,
    )
    out = []
    for at, duration, wait, status, partner, trace, key, method, path, page in rows:
        partner, method, path = str(partner), str(method), str(path)
        if page is None:
            op = _operation(partner, str(trace), str(key), method, path, cfg.scope)
        else:
            op = ("listing", partner, path)  # the wait is the client's, whatever the page
        out.append(
            _Request(
                float(at), float(at) + float(duration) / 1000.0,
                None if wait is None else float(wait), None if status is None else int(status),
                partner, method, path, None if page is None else int(page), op,
            )
        )  # fmt: skip
    return sorted(out, key=lambda r: r.at)


@dataclass
class _Tally:
    """What one kind of request (partner calls, page requests to the source) showed."""

    requests: int = 0
    asked: int = 0  # answers that named a wait
    after_a_wait: int = 0  # requests of an operation after a wait was asked of it
    early: list[str] = field(default_factory=list)
    worst: float = 0.0
    unheard: int = 0  # waits asked while a toxic could keep the answer from the caller


def _early(call: _Request, asked: _Request, by: float) -> str:
    """One early request, in the words of what it was sent to."""
    if call.page is None:
        return (
            f"{call.partner} {call.method} {call.path} at {call.at:.2f}s, {by:.2f}s before the "
            f"{asked.wait:g}s asked at {asked.answered:.2f}s"
        )
    return (
        f"{call.partner}: page request {call.method} {call.path} (page {call.page}) at "
        f"{call.at:.2f}s came {by:.2f}s early: page {asked.page} was answered {asked.status} "
        f"at {asked.answered:.2f}s with Retry-After {asked.wait:g}s"
    )


def _unheard(call: _Request, spans: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the answer to ``call`` left while a toxic could keep it from the caller."""
    return any(
        span.get("partner") == call.partner
        and float(span.get("from_s", 0.0)) <= call.answered <= float(span.get("until_s", 0.0))
        for span in spans
    )


def _judge(
    calls: list[_Request], grace: float, spans: Sequence[Mapping[str, Any]] = ()
) -> tuple[_Tally, _Tally]:
    """Partner calls and page requests, each against the longest wait asked of its operation."""
    partners, source = _Tally(), _Tally()
    # Per operation: the answer that asked it to stay away the longest.
    held: dict[tuple[str, ...], _Request] = {}
    for call in calls:
        tally = partners if call.page is None else source
        tally.requests += 1
        if call.wait is not None and _unheard(call, spans):
            # The caller may never have heard this wait: holding it to it would blame
            # the workflow for the lab's own toxic.
            tally.unheard += 1
            call = replace(call, wait=None)
        asked = held.get(call.operation)
        # A request that reached its server before that answer left was sent unaware of it.
        if asked is not None and call.at >= asked.answered:
            tally.after_a_wait += 1
            by = asked.until - call.at
            if by > grace:
                tally.worst = max(tally.worst, by)
                tally.early.append(_early(call, asked, by))
        if call.wait is not None:
            tally.asked += 1
            if asked is None or call.until > asked.until:
                held[call.operation] = call
    return partners, source


def _partner_sentence(t: _Tally) -> str:
    if t.early:
        return (
            f"{len(t.early):,} of {t.requests:,} partner calls came before the time the partner "
            f"asked for after {t.asked:,} throttling answers (up to {t.worst:.2f}s early)."
        )
    if t.asked:
        return f"Every wait the partner asked for ({t.asked:,} answers) was honoured."
    return "The partner never asked for a wait."


def _source_sentence(t: _Tally) -> str:
    answers = plural(t.asked, "answer")
    if t.early:
        return (
            f"{len(t.early):,} of {plural(t.requests, 'page request')} to the source came before "
            f"the time it asked for in {answers} with Retry-After (up to {t.worst:.2f}s early)."
        )
    if t.asked and not t.after_a_wait:
        return f"No page request came after the source's {answers} with Retry-After."
    if t.asked:
        return (
            "Every wait the source asked for was honoured: "
            f"{plural(t.after_a_wait, 'page request')} after its {answers} with Retry-After, "
            "none too soon."
        )
    return f"The source never asked for a wait ({plural(t.requests, 'page request')})."


def retry_after_honoured(
    requests: pd.DataFrame, settings: Any = None, unheard: Sequence[Mapping[str, Any]] = ()
) -> InvariantResult:
    """No call came sooner than the partner (or the polled source) asked, within the
    operation it asked. A wait asked while a link toxic could keep the answer from
    the caller (``unheard``: CheckSettings says their shape) is not held against it."""
    cfg = Politeness.of(settings)
    partners, source = _judge(_requests(requests, cfg), cfg.grace_ms / 1000.0, unheard)
    early = partners.early + source.early
    counts: dict[str, int | float] = {
        "calls": partners.requests,
        "asked_to_wait": partners.asked + source.asked,
        "too_soon": len(early),
        "worst_early_s": round(max(partners.worst, source.worst), 3),
    }
    summary = _partner_sentence(partners)
    unheard_waits = partners.unheard + source.unheard
    if unheard_waits:
        counts["unheard_waits"] = unheard_waits
    if source.requests:
        counts.update(
            page_requests=source.requests,
            page_requests_asked_to_wait=source.asked,
            page_requests_after_a_wait=source.after_a_wait,
            page_requests_too_soon=len(source.early),
        )
        # The source first: a job's pass starts there.
        summary = " ".join([_source_sentence(source), *([summary] if partners.requests else [])])
    if unheard_waits:
        were = "was" if unheard_waits == 1 else "were"
        summary += (
            f" {plural(unheard_waits, 'wait')}, asked while a toxic on the link could keep the "
            f"answer from the caller, {were} not held against it."
        )
    return InvariantResult(
        "retry_after_honoured",
        not early,
        counts,
        early[:MAX_EXAMPLES],
        summary,
        # What was judged is each request that came after a wait was asked of its
        # operation: waits asked and never tested by a later request judge nothing.
        judged=partners.after_a_wait + source.after_a_wait,
    )


def _effects_called_for(expected: pd.DataFrame) -> dict[str, int]:
    if expected.empty:
        return {}
    dropped = _column(expected, "dropped", False)
    partners = _column(expected, "partner", "")
    wanted = _column(expected, "expected_effect", "")
    allowed = _column(expected, "allowed_effect", "")
    out: dict[str, int] = defaultdict(int)
    for gone, partner, must, may in zip(dropped, partners, wanted, allowed, strict=True):
        if not bool(gone) and partner and (must or may):
            out[str(partner)] += 1
    return out


def call_budget(
    expected: pd.DataFrame, requests: pd.DataFrame, settings: Any = None
) -> InvariantResult:
    """Calls to each partner stay within max_calls_per_effect per effect the run called for.

    A partner no event expects an effect from gets a budget of one effect's
    worth: a workflow may look something up, but not hammer it. Page requests
    to a polled source are counted apart, against the pages it answered (the
    module's docstring says why).
    """
    cfg = Politeness.of(settings)
    effects = _effects_called_for(expected)
    partner_rows = partner_calls(requests)
    calls: dict[str, int] = defaultdict(int)
    for partner in _column(partner_rows, "partner", ""):
        calls[str(partner)] += 1
    over: list[str] = []
    counts: dict[str, int | float] = {
        "calls": sum(calls.values()),
        "effects_called_for": sum(effects.values()),
        "max_calls_per_effect": cfg.max_calls_per_effect,
    }
    worst = 0.0
    # Calls to a partner no event expects anything of are a question about the
    # pilot's [[expectations]] first: named apart, never called a retry storm.
    unasked: list[str] = []
    for partner in sorted(set(calls) | set(effects)):
        n, wanted = calls.get(partner, 0), effects.get(partner, 0)
        ratio = n / max(1, wanted)
        counts[f"calls {partner}"] = n
        if not wanted:
            if ratio > cfg.max_calls_per_effect:
                unasked.append(
                    f"{partner}: {n:,} calls, but no event is expected to cause an effect "
                    "there (does an [[expectations]] rule name it?)"
                )
            continue
        worst = max(worst, ratio)
        if ratio > cfg.max_calls_per_effect:
            over.append(f"{partner}: {n:,} calls for {wanted:,} effects ({ratio:.1f} per effect)")
    counts["worst_calls_per_effect"] = round(worst, 2)
    counts["partners_expected_nothing"] = len(unasked)
    hammered, paging = _paging(requests, cfg)
    counts.update(paging)
    if unasked and not over and not hammered:
        summary = (
            f"{len(unasked):,} partner(s) got {counts['calls']:,} calls though no event is "
            "expected to cause an effect there: check the pilot's [[expectations]] before "
            "judging the workflow's retries."
        )
        return InvariantResult(
            "call_budget", False, counts, unasked[:MAX_EXAMPLES], summary, judged=0
        )
    summary = _budget_summary(counts, len(over), worst, cfg)
    if paging:
        summary = " ".join([summary, _paging_summary(len(hammered), counts, cfg)])
    examples = (over + hammered + unasked)[:MAX_EXAMPLES]
    judged = int(counts["calls"]) + int(counts.get("page_requests", 0))
    return InvariantResult(
        "call_budget", not (over or hammered), counts, examples, summary, judged=judged
    )


def _budget_summary(
    counts: dict[str, int | float], over: int, worst: float, cfg: Politeness
) -> str:
    if over:
        return (
            f"A retry storm: {over:,} partner(s) got more than "
            f"{cfg.max_calls_per_effect:g} calls per effect called for ({worst:.1f} at worst)."
        )
    return (
        f"{counts['calls']:,} partner calls for {counts['effects_called_for']:,} effects "
        f"called for: {worst:.1f} per effect at worst, within {cfg.max_calls_per_effect:g}."
    )


def _paging(requests: pd.DataFrame, cfg: Politeness) -> tuple[list[str], dict[str, int | float]]:
    """Each polled source's page requests per page it answered: the sources over budget."""
    if "page" not in requests.columns:
        return [], {}
    pages = requests[page_requests(requests)]
    asked: dict[str, int] = defaultdict(int)
    answered: dict[str, int] = defaultdict(int)
    for source, status in zip(
        _column(pages, "partner", ""), _column(pages, "status", 0), strict=True
    ):
        asked[str(source)] += 1
        answered[str(source)] += 200 <= int(status) < 300
    over, worst = [], 0.0
    for source in sorted(asked):
        n, ok = asked[source], answered[source]
        ratio = n / max(1, ok)
        worst = max(worst, ratio)
        if ratio > cfg.max_calls_per_effect:
            over.append(
                f"{source}: {n:,} page requests for {ok:,} pages answered ({ratio:.1f} per page)"
            )
    if not asked:
        return [], {}
    counts = {"page_requests": sum(asked.values()), "pages_answered": sum(answered.values()),
              "worst_page_requests_per_page": round(worst, 2)}  # fmt: skip
    return over, counts


def _paging_summary(hammered: int, counts: dict[str, int | float], cfg: Politeness) -> str:
    worst = counts["worst_page_requests_per_page"]
    if hammered:
        return (
            f"A retry storm at the source: {hammered:,} source(s) got more than "
            f"{cfg.max_calls_per_effect:g} page requests per page answered ({worst:.1f} at worst)."
        )
    return (
        f"{plural(int(counts['page_requests']), 'page request')} to the source for "
        f"{plural(int(counts['pages_answered']), 'page')} it answered: {worst:.1f} per page at "
        f"worst, within {cfg.max_calls_per_effect:g}."
    )


def check_retry_after_honoured(
    tables: RunTables, *, settings: CheckSettings
) -> InvariantResult | None:
    """The registry's checker; none for a run without partner request journals."""
    if tables.requests is None:
        return None
    return retry_after_honoured(tables.requests, settings.politeness, settings.unheard)


def check_call_budget(tables: RunTables, *, settings: CheckSettings) -> InvariantResult | None:
    """The registry's checker; none for a run without partner request journals."""
    if tables.requests is None:
        return None
    return call_budget(tables.expected, tables.requests, settings.politeness)
