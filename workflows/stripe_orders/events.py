"""What the workflows read out of a Stripe-style event.

Event shape (the fixtures follow it; extra keys are ignored):

    {"id": "evt_…", "type": "payment_intent.succeeded", "created": 1700000000,
     "data": {"object": {"id": "pi_…", "object": "payment_intent",
                         "metadata": {"order_id": "ord_1", "address": "…", "version": "1"}}}}
    {"id": "evt_…", "type": "order.updated",
     "data": {"object": {"id": "ord_1", "object": "order", "address": "…", "version": 2}}}

The order id is `metadata.order_id`, else the object's `id`; the version is
the object's `version`, else `metadata.version` (a string of digits is fine,
Stripe metadata values are strings), else 1; the address is
`metadata.address`, else `address`, else `shipping.address`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PAYMENT_SUCCEEDED = "payment_intent.succeeded"
ORDER_UPDATED = "order.updated"
HANDLED_TYPES = (PAYMENT_SUCCEEDED, ORDER_UPDATED)


class EventError(ValueError):
    pass


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    body: dict[str, Any]


@dataclass(frozen=True)
class ShipmentChange:
    order_id: str
    address: Any
    version: int


def parse_envelope(raw: bytes) -> Envelope:
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EventError(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise EventError("body must be a JSON object")
    event_id, event_type = body.get("id"), body.get("type")
    if not isinstance(event_id, str) or not event_id:
        raise EventError("id: must be a non-empty string")
    if not isinstance(event_type, str) or not event_type:
        raise EventError("type: must be a non-empty string")
    return Envelope(id=event_id, type=event_type, body=body)


def _lookup(obj: dict[str, Any], key: str) -> Any:
    meta = obj.get("metadata")
    if isinstance(meta, dict) and meta.get(key) not in (None, ""):
        return meta[key]
    return obj.get(key)


def shipment_change(envelope: Envelope) -> ShipmentChange:
    """The order id, address and version an event carries; EventError names what is missing."""
    data = envelope.body.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise EventError("data.object: must be an object")
    # Same lookup order as the harness uses for the fixtures' entity id and
    # version, so the workflow and the checks agree on which order is meant.
    order_id = _lookup(obj, "order_id")
    if order_id in (None, ""):
        order_id = obj.get("id")
    if not isinstance(order_id, str) or not order_id:
        raise EventError("data.object.metadata.order_id: missing")
    address = _lookup(obj, "address")
    if address is None:
        shipping = obj.get("shipping")
        if isinstance(shipping, dict):
            address = shipping.get("address")
    if not isinstance(address, str | dict):
        raise EventError("data.object.shipping.address: missing")
    raw_version = obj.get("version")
    if raw_version is None:
        meta = obj.get("metadata")
        raw_version = meta.get("version") if isinstance(meta, dict) else None
    if raw_version is None:
        # An unversioned entity counts as its first version.
        raw_version = 1
    try:
        if isinstance(raw_version, bool) or (
            isinstance(raw_version, float) and not raw_version.is_integer()
        ):
            raise ValueError
        version = int(raw_version)
    except (TypeError, ValueError):
        raise EventError(f"data.object.version: must be an integer, got {raw_version!r}") from None
    if version < 0:
        raise EventError(f"data.object.version: must be >= 0, got {version}")
    return ShipmentChange(order_id=order_id, address=address, version=version)
