"""The one definition of the journal's tables.

The journal writer, the invariant checks and the notebooks all read their
columns from here, so a column added in one place exists in all of them.
Times are seconds since the run started (float), so runs compare directly.
"""

from __future__ import annotations

import pyarrow as pa

# One row per delivery attempt made by the harness (the sender).
ATTEMPTS = pa.schema(
    [
        ("run_id", pa.string()),
        ("scenario", pa.string()),
        ("delivery_id", pa.string()),  # unique per attempt
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("entity_id", pa.string()),
        ("entity_version", pa.int64()),
        ("traceparent", pa.string()),  # W3C correlation id, same for every attempt of an event
        ("attempt", pa.int64()),  # 1-based per event
        ("scheduled_at", pa.float64()),
        ("sent_at", pa.float64()),
        ("finished_at", pa.float64()),
        ("latency_ms", pa.float64()),
        ("status", pa.int64()),  # HTTP status, null when no response
        # "", timeout, connect, reset, http_4xx, http_5xx, other, dropped,
        # unfinished (the drill stopped at its deadline mid-answer)
        ("error_class", pa.string()),
        ("fault_tags", pa.string()),  # comma-separated: "duplicate", "reordered", "redelivery", ...
        # The start of the workflow's answer to a non-2xx attempt (evidence of a refusal).
        ("answer", pa.string()),
    ]
)

# One row per side effect the partner applied (the ledger).
EFFECTS = pa.schema(
    [
        ("run_id", pa.string()),
        ("at", pa.float64()),
        ("partner", pa.string()),  # the declared partner that applied it
        ("kind", pa.string()),  # "<partner>:<effect>", as the pilot names effects
        ("business_key", pa.string()),  # the entity key the route declares
        ("entity_version", pa.int64()),
        ("idempotency_key", pa.string()),
        ("correlation_id", pa.string()),  # traceparent trace id the workflow forwarded
        ("event_id", pa.string()),  # resolved from correlation_id by the harness; "" if unknown
        ("tied_by", pa.string()),  # how event_id was found: "traceparent", or "" (key and time)
        ("route", pa.string()),  # the partner route that applied it
        ("ref", pa.string()),  # the id the partner generated for it
    ]
)

# One row per HTTP request a partner received, applied or not, and per page request
# the lab's event source answered (a poll pilot's job paging its source API).
REQUESTS = pa.schema(
    [
        ("run_id", pa.string()),
        ("at", pa.float64()),
        ("partner", pa.string()),
        ("method", pa.string()),
        ("path", pa.string()),
        ("status", pa.int64()),
        ("duration_ms", pa.float64()),
        ("route", pa.string()),  # "" when no route matched
        ("effect", pa.string()),  # the effect applied, "" if none
        ("business_key", pa.string()),
        ("reason", pa.string()),  # why it was answered so: "no route matches", "body.x: required"
        ("correlation_id", pa.string()),
        ("idempotency_key", pa.string()),
        # What the partner did to the call on purpose: "forgot_keys", "lost_answer:<how>", "".
        ("fault", pa.string()),
        # On a 429/503: how long the answer asked the caller to wait (Retry-After,
        # RateLimit reset), in seconds from the answer; null when it named no time.
        ("retry_after_s", pa.float64()),
        # The event whose traceparent the call carried; "" when none was forwarded.
        ("event_id", pa.string()),
        # A page request to the event source (partner "source"): the page of the pass it
        # asked for (0 when its query could not be read). Null for a partner's call, and
        # in runs journaled before page requests were (harness.checks.columns.page_requests).
        ("page", pa.int64()),
    ]
)

# One row per event the workflow reports a terminal outcome for.
OUTCOMES = pa.schema(
    [
        ("run_id", pa.string()),
        ("event_id", pa.string()),
        ("outcome", pa.string()),  # processed | dead_lettered | superseded | duplicate
        ("detail", pa.string()),
    ]
)

# One row per event the harness meant to send (from the fixtures and the schedule).
EXPECTED = pa.schema(
    [
        ("run_id", pa.string()),
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("entity_id", pa.string()),
        ("entity_version", pa.int64()),
        ("partner", pa.string()),  # partner of the rule that matched, "" if none
        ("expected_effect", pa.string()),  # effect kind it must cause exactly once, "" if none
        ("allowed_effect", pa.string()),  # effect kind it may cause any number of times
        ("rule", pa.int64()),  # index of the pilot's expectation rule, -1 when none matched
        ("dropped", pa.bool_()),  # deliberately never delivered by the schedule
        # The statuses the event must be refused with ("400-499"), "" when it must not be.
        ("refuse", pa.string()),
        # The event must end dead-lettered (the pilot's dead_letter = true).
        ("dead_letter", pa.bool_()),
        ("fixture_id", pa.string()),  # the capture's own record id (kept when ids are salted)
        ("note", pa.string()),  # the capture's note about this event, if any
    ]
)

TABLES: dict[str, pa.Schema] = {
    "attempts": ATTEMPTS,
    "effects": EFFECTS,
    "outcomes": OUTCOMES,
    "expected": EXPECTED,
    "requests": REQUESTS,
}


def names(schema: pa.Schema) -> list[str]:
    return list(schema.names)
