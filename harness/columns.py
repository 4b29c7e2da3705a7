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
        ("error_class", pa.string()),  # "", timeout, connect, reset, http_4xx, http_5xx, other
        ("fault_tags", pa.string()),  # comma-separated: "duplicate", "reordered", "redelivery", ...
    ]
)

# One row per side effect the partner applied (the ledger).
EFFECTS = pa.schema(
    [
        ("run_id", pa.string()),
        ("at", pa.float64()),
        ("kind", pa.string()),  # "shipment.created" | "shipment.updated"
        ("business_key", pa.string()),  # the order id
        ("entity_version", pa.int64()),
        ("idempotency_key", pa.string()),
        ("correlation_id", pa.string()),  # traceparent trace id the workflow forwarded
        ("event_id", pa.string()),  # resolved from correlation_id by the harness; "" if unknown
        ("shipment_id", pa.string()),
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
        ("expected_effect", pa.string()),  # effect kind it must cause exactly once, "" if none
        ("dropped", pa.bool_()),  # deliberately never delivered by the schedule
    ]
)

TABLES: dict[str, pa.Schema] = {
    "attempts": ATTEMPTS,
    "effects": EFFECTS,
    "outcomes": OUTCOMES,
    "expected": EXPECTED,
}


def names(schema: pa.Schema) -> list[str]:
    return list(schema.names)
