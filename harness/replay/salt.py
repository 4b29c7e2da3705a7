"""Salting: the same captured events under fresh event ids and entity keys.

A standing workflow (one kept running across many drills, see
``harness.drill.standing``) remembers what it saw: its inbox dedupes event
ids, its store holds entity versions. Replaying the same capture twice would
make the second drill a test of the first one's leftovers. Salting gives each
drill its own copy of the events: every value an event or entity is known by
is replaced, wherever it appears in the body or the headers, by a
drill-unique one. Versions, amounts and everything else stay as captured, so
the events mean the same thing to the workflow; the sender signs the new
bytes afresh, as the provider would.

Which values name an entity comes from the pilot: the fixture's ids and the
fields each expectation rule's ``key`` reads. A key composed of several
fields (``key = "{body.repo}#{body.number}"``) has each of its fields salted,
so the key the workflow composes from the salted event is the salted key the
drill expects. Text gets a suffix (``acme/shop`` → ``acme/shop-s1a2b3c``);
a number stays a number (``101`` → ``4201000101``: the salt's digits in
front), at the place the rule reads it, and a string of digits stays digits.

A key the event does not carry (a fixture ``entity_id`` the workflow composes
from several fields the pilot did not name) cannot be salted: ``unsalted_keys``
finds those, and the hunt then runs on fresh stages instead.

Nothing here knows a domain: which values are identities comes from the
fixture fields and the pilot's expectation rules.
"""

from __future__ import annotations

import copy
import json
import secrets
import types
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.inputs.expectations import (
    UNMATCHED,
    ExpectationRule,
    event_sources,
    expect_for,
    key_parts,
)
from harness.inputs.fixtures import CapturedRequest
from harness.partner.selectors import MISSING, parse_selector

# Letters and digits only: a suffix must survive as part of any id scheme
# (no '.', which a signing scheme may forbid in the id it signs).
SALT_BYTES = 3
# Fixture fields a key may name directly; they are salted by value.
_FIXTURE_FIELDS = frozenset({"event_id", "entity_id"})


def new_salt() -> str:
    return "s" + secrets.token_hex(SALT_BYTES)


def salted(value: str, salt: str) -> str:
    return f"{value}-{salt}"


# Salted numbers stay below 10**18, inside a signed 64-bit integer.
MAX_DIGITS = 18


def salted_number(value: int, salt: str, width: int) -> int:
    """``value`` with the salt's number in front of its ``width`` digits: still a number,
    never equal to a captured one, and unique per salt (salts of one stage differ)
    unless the numbers are so wide that only a few digits are left for the salt."""
    tag = int(salt[1:], 16) + 1 if salt[1:] else 1
    room = MAX_DIGITS - width
    if room < len(str(tag)):
        # A wide id (a 15-digit order number): a shorter tag, which two drills of a
        # stage may share; the no-fault check catches a workflow that minds.
        tag = tag % 10 ** max(room, 1) or 1
    return tag * 10**width + value


def _is_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


Edit = tuple[tuple[str | int, ...], int, int]  # body path, captured number, salted number


@dataclass
class Salting:
    """What one drill's salt changes: identity strings by value, numbers where read."""

    salt: str
    strings: dict[str, str] = field(default_factory=dict)
    numbers: dict[int, list[Edit]] = field(default_factory=dict)  # per event index

    def numbers_given(self) -> frozenset[str]:
        """Every salted number as text, so a stage can tell this drill's keys from another's."""
        given = {str(new) for edits in self.numbers.values() for _, _, new in edits}
        given.update(v for k, v in self.strings.items() if _is_digits(k))
        return frozenset(given)


def _key_template(
    event: CapturedRequest, rules: Sequence[ExpectationRule], partners: Sequence[str]
) -> str:
    want = expect_for(event, rules, partners) if rules else None
    return rules[want.rule].key if want is not None and want.rule != UNMATCHED else "entity_id"


def _key_values(
    event: CapturedRequest, rules: Sequence[ExpectationRule], partners: Sequence[str]
) -> list[tuple[str, Any]]:
    """(selector, value) of every field the event's entity key is read from."""
    sources = event_sources(event)
    parts = key_parts(_key_template(event, rules, partners))
    return [(part, parse_selector(part).get(sources)) for part in parts]


def identities(
    events: Iterable[CapturedRequest], rules: Sequence[ExpectationRule], partners: Sequence[str]
) -> set[str]:
    """Every string that names an event or an entity in these events."""
    found: set[str] = set()
    for event in events:
        found.update((event.event_id, event.entity_id))
        for _, value in _key_values(event, rules, partners):
            if isinstance(value, str):
                found.add(value)
    found.discard("")
    return found


def _plain_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def plan_salting(
    events: Sequence[CapturedRequest],
    salt: str,
    rules: Sequence[ExpectationRule],
    partners: Sequence[str],
    only: Collection[int] | None = None,
) -> Salting:
    """What salting ``events`` (the indexes in ``only``, default all) with ``salt`` changes."""
    picked = range(len(events)) if only is None else sorted(set(only))
    picked = [i for i in picked if i < len(events)]
    strings = identities([events[i] for i in picked], rules, partners)
    located: dict[int, list[tuple[tuple[str | int, ...], int]]] = {}
    for index in picked:
        for selector, value in _key_values(events[index], rules, partners):
            parsed = parse_selector(selector)
            if parsed.root == "body" and parsed.steps and _plain_int(value):
                located.setdefault(index, []).append((parsed.steps, value))
    # One width for the drill, so every salted number of it carries the same tag.
    numbers = [int(s) for s in strings if _is_digits(s)]
    numbers += [n for edits in located.values() for _, n in edits]
    width = len(str(max(numbers, default=0)))
    out = Salting(salt)
    for value in strings:
        digits = _is_digits(value)
        out.strings[value] = (
            str(salted_number(int(value), salt, width)) if digits else salted(value, salt)
        )
    for index, edits in located.items():
        out.numbers[index] = [(steps, n, salted_number(n, salt, width)) for steps, n in edits]
    return out


def salted_rules(rules: Sequence[ExpectationRule], salting: Salting) -> list[ExpectationRule]:
    """The rules as a drill salted this way must read them: a ``when`` that names an
    identity (``"body.data.object.id" = "ord_1"``) names its salted form, so it still
    picks out the event it was written for."""
    out = []
    for rule in rules:
        when = {sel: _salted_value(v, salting.strings) for sel, v in rule.when.items()}
        out.append(rule if when == rule.when else rule.model_copy(update={"when": when}))
    return out


def _salted_value(value: str | int | float | bool, table: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return table.get(value, value)
    if _plain_int(value) and _is_digits(table.get(str(value), "")):
        return int(table[str(value)])
    return value


def _walk(value: Any, table: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return table.get(value, value)
    if _plain_int(value) and _is_digits(table.get(str(value), "")):
        # An id captured as text ("1042") that the body also holds as a number.
        return int(table[str(value)])
    if isinstance(value, list):
        return [_walk(v, table) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, table) for k, v in value.items()}
    return value


def _set(body: Any, edit: Edit) -> None:
    """Put the salted number where the path leads, if the captured one is still there."""
    steps, old, new = edit
    holder = body
    try:
        for step in steps[:-1]:
            holder = holder[step]
        if _plain_int(holder[steps[-1]]) and holder[steps[-1]] == old:
            holder[steps[-1]] = new
    except (KeyError, IndexError, TypeError):
        return


def salt_body(body: bytes, table: Mapping[str, str], numbers: Sequence[Edit] = ()) -> bytes:
    """The body with every identity string replaced and each located number set; JSON
    is walked, anything else has the quoted or bare occurrences replaced byte for byte."""
    try:
        decoded = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        out = body
        for old, new in table.items():
            out = out.replace(old.encode(), new.encode())
        return out
    walked = _walk(decoded, table)
    for edit in numbers:
        _set(walked, edit)
    return json.dumps(walked, ensure_ascii=False).encode("utf-8")


def salt_event(
    event: CapturedRequest, table: Mapping[str, str], numbers: Sequence[Edit] = ()
) -> CapturedRequest:
    # A copy, not dataclasses.replace: the record was validated when it was
    # loaded, salting only lengthens ids, and validating again costs a
    # standing drill more than its replay does.
    out = copy.copy(event)
    headers = {name: table.get(value, value) for name, value in event.headers.items()}
    object.__setattr__(out, "headers", types.MappingProxyType(headers))
    object.__setattr__(out, "body", salt_body(event.body, table, numbers))
    object.__setattr__(out, "event_id", table.get(event.event_id, event.event_id))
    object.__setattr__(out, "entity_id", table.get(event.entity_id, event.entity_id))
    return out


def apply_salting(
    events: Sequence[CapturedRequest],
    salting: Salting,
    rules: Sequence[ExpectationRule],
    partners: Sequence[str],
    only: Collection[int] | None = None,
) -> list[CapturedRequest]:
    """The events as a drill with this salting sends them, in the same order."""
    picked = range(len(events)) if only is None else sorted(set(only))
    out = list(events)
    for index in picked:
        if index >= len(events):
            continue
        before, numbers = events[index], salting.numbers.get(index, [])
        after = salt_event(before, salting.strings, numbers)
        if rules and len(key_parts(_key_template(before, rules, partners))) > 1:
            # A composed key is whatever its salted parts make; the same text
            # anywhere else (the fixture's entity_id, a field) follows it.
            old = expect_for(before, rules, partners).key
            new = expect_for(after, rules, partners).key
            if old and new != old:
                after = salt_event(before, {**salting.strings, old: new}, numbers)
        out[index] = after
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
    salting = plan_salting(events, salt, rules, partners, only)
    return apply_salting(events, salting, rules, partners, only)


def _carried(event: CapturedRequest, value: str) -> bool:
    """Whether ``value`` is a whole value somewhere in the event's body or headers."""
    if value in event.headers.values():
        return True
    try:
        body = json.loads(event.body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return value.encode() in event.body
    stack = [body]
    while stack:  # bounded by the body's own size
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item is not None and not isinstance(item, bool) and str(item) == value:
            return True
    return False


def unsalted_keys(
    events: Iterable[CapturedRequest], rules: Sequence[ExpectationRule], partners: Sequence[str]
) -> list[tuple[CapturedRequest, str]]:
    """(event, key) for each entity key the event itself does not carry.

    Such a key is composed by the workflow from fields the pilot did not name
    (``acme/shop#101`` from a repository and a number): salting can change
    what the workflow reads, but not into the salted key the drill expects.
    """
    found = []
    for event in events:
        if rules and not expect_for(event, rules, partners).effect:
            continue  # an event that must cause nothing: its key is never compared
        for selector, value in _key_values(event, rules, partners):
            if parse_selector(selector).root not in _FIXTURE_FIELDS or value is MISSING:
                continue
            text = str(value)
            if text and not _carried(event, text):
                found.append((event, text))
    return found
