"""Calls a partner rejected before any effect: a contract finding, never a loss.

A partner that answers 400 naming a field (or 405, 415, or a 422 not about
an idempotency key) did nothing: the workflow and the declared API disagree about the
contract. Whatever their share, such calls are reported per partner, route
and reason with their count, and the events they belong to are judged here
rather than as lost by the other checks. A drill where this is the only
finding cannot judge those events, so it exits 2 (``contract_only``).
Pure: tables in, a result and the events it took out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import pandas as pd

from harness.checks.columns import flag, partner_calls, text
from harness.checks.result import MAX_EXAMPLES, InvariantResult
from harness.checks.settings import CheckSettings
from harness.checks.tables import RunTables

NAME = "contract"
# Answers that mean "this call does not fit the declared API", when the
# partner says so before doing anything (not a fault it was told to inject).
_REJECTING = frozenset({400, 405, 415, 422})


def rejected_calls(requests: pd.DataFrame) -> pd.DataFrame:
    """The calls a partner turned away as not fitting its declared API."""
    requests = partner_calls(requests)
    if requests.empty:
        return requests
    status = pd.to_numeric(requests["status"], errors="coerce")
    rejecting = status.isin(_REJECTING)
    if not rejecting.any():
        # No call was answered so (most runs): the same empty selection, sooner.
        return requests[rejecting]
    route = text(requests, "route")
    reason = text(requests, "reason")
    fault = text(requests, "fault")
    # A 404 (an update before its create, or a lookup no route declares: listed
    # as unexpected calls) and a 422 about an idempotency key are the
    # workflow's doing, not a contract; so is anything injected.
    misfit = rejecting & ~((status == 422) & reason.str.contains("idempotency", case=False))
    keep = misfit & (route != "") & (fault == "") & ~reason.str.startswith("injected")
    return requests[keep]


@dataclass(frozen=True)
class ContractFinding:
    """The contract check's result, and the events it judged (out of the other checks)."""

    result: InvariantResult
    events: frozenset[str]  # events whose effect is missing because of rejected calls


def _tied_events(rejected: pd.DataFrame, expected: pd.DataFrame, effects: pd.DataFrame) -> set[str]:
    """Events the rejected calls were made for that did not get their effect anyway."""
    by_trace = set(text(rejected, "event_id")) - {""}
    untraced = rejected[text(rejected, "event_id") == ""]
    keys = set(zip(text(untraced, "partner"), text(untraced, "business_key"), strict=True))
    keys = {(p, k) for p, k in keys if k}
    live = expected[~flag(expected, "dropped")]
    applied_events = set(text(effects, "event_id")) - {""}
    applied_keys = set(zip(text(effects, "kind"), text(effects, "business_key"), strict=True))
    out: set[str] = set()
    for event_id, partner, key, must in zip(
        text(live, "event_id"),
        text(live, "partner"),
        text(live, "entity_id"),
        text(live, "expected_effect"),
        strict=True,
    ):
        if event_id not in by_trace and (partner, key) not in keys:
            continue
        if event_id in applied_events or (must and (must, key) in applied_keys):
            continue
        out.add(event_id)
    return out


def contract(
    requests: pd.DataFrame, expected: pd.DataFrame, effects: pd.DataFrame
) -> ContractFinding:
    """Every call rejected before any effect, by partner, route and reason, with its count.

    Page requests to the event source are no partner calls: the source is the lab's
    and declares no contract (its 400 to a cursor it never handed out is in ``reason``).
    """
    requests = partner_calls(requests)
    rejected = rejected_calls(requests)
    calls = len(requests)
    if rejected.empty:
        summary = (
            f"No partner rejected any of the {calls:,} calls as not fitting its declared API."
            if calls
            else "No partner call was made, so no contract was tried."
        )
        result = InvariantResult(NAME, True, {"calls": calls, "rejected": 0}, [], summary, calls)
        return ContractFinding(result, frozenset())
    groups = Counter(
        zip(
            text(rejected, "partner"),
            text(rejected, "method"),
            text(rejected, "route"),
            text(rejected, "path"),
            pd.to_numeric(rejected["status"]).astype(int),
            text(rejected, "reason"),
            strict=True,
        )
    )
    # One line per partner, route and reason: paths with ids would make each call unique.
    lines: Counter[tuple[str, str, str, int, str]] = Counter()
    for (partner, method, route, path, status, reason), n in groups.items():
        lines[(partner, method, route or _short(path), status, reason)] += n
    events = _tied_events(rejected, expected, effects)
    examples = [
        f"{partner}: {method} {where} -> {status} {reason or 'no reason given'} "
        f"({n:,} call{'s' if n != 1 else ''})"
        for (partner, method, where, status, reason), n in lines.most_common(MAX_EXAMPLES)
    ]
    partner, method, where, status, reason = lines.most_common(1)[0][0]
    summary = (
        f"{len(rejected):,} of {calls:,} partner calls were rejected before any effect "
        f"(e.g. {partner}: {method} {where} -> {status} {reason or 'no reason given'}): "
        "the workflow and the declared API disagree"
        + (
            f"; {len(events):,} event{'s' if len(events) != 1 else ''} left without an effect "
            "are judged here, not as lost."
            if events
            else "."
        )
    )
    counts: dict[str, int | float] = {
        "calls": calls,
        "rejected": len(rejected),
        "events": len(events),
        **{f"rejected {p}": n for p, n in Counter(text(rejected, "partner")).items()},
    }
    result = InvariantResult(NAME, False, counts, examples, summary, calls)
    return ContractFinding(result, frozenset(events))


def _short(path: str) -> str:
    return path if len(path) <= 80 else path[:77] + "..."


def without_events(table: pd.DataFrame, events: frozenset[str]) -> pd.DataFrame:
    """The table less the rows of ``events`` (the contract check judged them)."""
    if not events or table.empty or "event_id" not in table.columns:
        return table
    return table[~text(table, "event_id").isin(events)]


def set_aside(tables: RunTables) -> RunTables:
    """The tables with the contract judged: its events taken out of what the others judge.

    Events whose calls a partner rejected as not fitting its API are judged by
    ``contract`` alone, never counted as lost. Without ``requests``, as they are.
    """
    if tables.requests is None:
        return tables
    finding = contract(tables.requests, tables.expected, tables.effects)
    return replace(
        tables,
        expected=without_events(tables.expected, finding.events),
        attempts=without_events(tables.attempts, finding.events),
        outcomes=without_events(tables.outcomes, finding.events),
        contract=finding.result,
    )


def check_contract(tables: RunTables, *, settings: CheckSettings) -> InvariantResult | None:
    """The registry's checker: the finding ``set_aside`` made (none without ``requests``)."""
    return tables.contract
