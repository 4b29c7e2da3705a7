"""Salting: the same captured events under fresh event ids and entity keys.

A standing workflow (one kept running across many drills, see
``harness.drill.standing``) remembers what it saw: its inbox dedupes event
ids, its store holds entity versions. Replaying the same capture twice would
make the second drill a test of the first one's leftovers. Salting gives each
drill its own copy of the events: every string that equals an event id, an
entity id or a declared expectation key value is replaced, wherever it
appears in the body or the headers, by the same value plus a drill-unique
suffix. Versions, amounts and everything else stay as captured, so the
events mean the same thing to the workflow; the sender signs the new bytes
afresh, as the provider would.

Nothing here knows a domain: which strings are identities comes from the
fixture fields and the pilot's expectation rules.
"""

from __future__ import annotations

import copy
import json
import secrets
import types
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from harness.inputs.expectations import ExpectationRule, expect_for
from harness.inputs.fixtures import CapturedRequest

# Letters and digits only: a suffix must survive as part of any id scheme
# (no '.', which the "standard" signing scheme forbids in a webhook-id).
SALT_BYTES = 3


def new_salt() -> str:
    return "s" + secrets.token_hex(SALT_BYTES)


def salted(value: str, salt: str) -> str:
    return f"{value}-{salt}"


def identities(
    events: Iterable[CapturedRequest], rules: Sequence[ExpectationRule], partners: Sequence[str]
) -> set[str]:
    """Every string that names an event or an entity in these events."""
    found: set[str] = set()
    for event in events:
        found.update((event.event_id, event.entity_id))
        if rules:
            key = expect_for(event, rules, partners).key
            if key:
                found.add(key)
    found.discard("")
    return found


def _walk(value: Any, table: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return table.get(value, value)
    if isinstance(value, list):
        return [_walk(v, table) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, table) for k, v in value.items()}
    return value


def salt_body(body: bytes, table: Mapping[str, str]) -> bytes:
    """The body with every identity string replaced; JSON is walked, anything else
    has the quoted or bare occurrences replaced byte for byte."""
    try:
        decoded = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        out = body
        for old, new in table.items():
            out = out.replace(old.encode(), new.encode())
        return out
    return json.dumps(_walk(decoded, table), ensure_ascii=False).encode("utf-8")


def salt_event(event: CapturedRequest, table: Mapping[str, str]) -> CapturedRequest:
    # A copy, not dataclasses.replace: the record was validated when it was
    # loaded, salting only lengthens ids, and validating again costs a
    # standing drill more than its replay does.
    out = copy.copy(event)
    headers = {name: table.get(value, value) for name, value in event.headers.items()}
    object.__setattr__(out, "headers", types.MappingProxyType(headers))
    object.__setattr__(out, "body", salt_body(event.body, table))
    object.__setattr__(out, "event_id", table.get(event.event_id, event.event_id))
    object.__setattr__(out, "entity_id", table.get(event.entity_id, event.entity_id))
    return out


def salt_events(
    events: Sequence[CapturedRequest],
    salt: str,
    rules: Sequence[ExpectationRule],
    partners: Sequence[str],
    only: Collection[int] | None = None,
) -> list[CapturedRequest]:
    """The events as a drill salted with ``salt`` sends them, in the same order.

    ``only``: the indexes the drill sends; the others are left as captured.
    """
    picked = range(len(events)) if only is None else sorted(set(only))
    sent = [events[i] for i in picked if i < len(events)]
    table = {value: salted(value, salt) for value in identities(sent, rules, partners)}
    out = list(events)
    for index in picked:
        if index < len(events):
            out[index] = salt_event(events[index], table)
    return out
