"""Is a failed drill the workflow's fault, or could the drill not run at all?

When nearly every call a partner received was rejected before any effect
(malformed, or matching no declared route), the workflow and the declared
partner disagree about the contract: blaming the workflow for "lost" effects
would be wrong. Same when the workflow refuses the webhook path itself. Pure:
tables in, one line (or None) out.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from harness.checks.columns import partner_calls

# Rejections that mean "this call does not fit the declared API".
CONTRACT_STATUSES = frozenset({400, 404, 405, 415, 422})
# How much of the traffic must be rejected before the drill is called unusable.
MOSTLY = 0.8


def contract_mismatch(requests: pd.DataFrame, effects: pd.DataFrame) -> str | None:
    """One line for the first partner whose calls were rejected before any effect.

    Page requests to the event source are left out: the source is the lab's, not a
    declared partner, and has no contract to disagree with."""
    requests = partner_calls(requests)
    if requests.empty:
        return None
    applied = set(effects["partner"]) if "partner" in effects and not effects.empty else set()
    for partner, calls in requests.groupby("partner", sort=True):
        if partner in applied:
            continue
        status = pd.to_numeric(calls["status"], errors="coerce")
        rejected = calls[status.isin(CONTRACT_STATUSES)]
        if len(rejected) < MOSTLY * len(calls) or rejected.empty:
            continue
        (method, path, code, reason), _ = Counter(
            zip(
                rejected["method"],
                rejected["path"],
                pd.to_numeric(rejected["status"]).astype(int),
                rejected["reason"],
                strict=True,
            )
        ).most_common(1)[0]
        return (
            f"{partner}: {len(rejected):,} of {len(calls):,} calls rejected before any effect: "
            f"{method} {_short(path)} -> {code} {reason or 'no reason given'}"
        )
    return None


def webhook_refused(attempts: pd.DataFrame, path: str) -> str | None:
    """One line when the workflow answers 404/405 to (nearly) every delivery."""
    if attempts.empty:
        return None
    status = pd.to_numeric(attempts["status"], errors="coerce")
    refused = status.isin({404, 405})
    if refused.sum() < MOSTLY * len(attempts) or not refused.any():
        return None
    code = int(status[refused].mode().iloc[0])
    return (
        f"workflow: {int(refused.sum()):,} of {len(attempts):,} deliveries answered {code} "
        f"on POST {path}: is [webhook] path right?"
    )


def _short(path: str) -> str:
    # A long id in the path makes every line unique; show the first example as is.
    return path if len(path) <= 80 else path[:77] + "..."


def unexpected_calls(requests: pd.DataFrame) -> list[str]:
    """Calls no declared route matched ("crm: GET /v3/x"), in the order they came.

    Not a verdict: a call the pilot did not declare is either the workflow's
    mistake or a gap in the declaration, and the run says which calls they were.
    """
    requests = partner_calls(requests)
    if requests.empty:
        return []
    status = pd.to_numeric(requests["status"], errors="coerce")
    stray = requests[(requests["route"].fillna("") == "") & (status == 404)]
    return [
        f"{partner}: {method} {_short(path)}"
        for partner, method, path in zip(
            stray["partner"], stray["method"], stray["path"], strict=True
        )
    ]
