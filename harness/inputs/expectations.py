"""What each captured event must cause, as the pilot file declares it.

A pilot's ``[[expectations]]`` rules are tried in order against every event;
the first whose ``when`` conditions hold decides which partner effect the
event must cause, where its entity key and version come from, and whether
the effect is counted (``times = "once"``) or only allowed (``"any"``), or
that the workflow must refuse the event (``refuse``: a final 4xx answer), or
dead-letter it (``dead_letter``: its terminal outcome is ``dead_lettered``,
the queue consumer's way of saying no, as a 4xx is a webhook's). A rule may
hold in some scenarios only (``scenarios``): what an event must cause can
depend on what else the drill sends (an update whose create a scenario never
publishes cannot be done). Nothing here knows a domain: it reads selectors
the pilot wrote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.inputs.fixtures import CapturedRequest
from harness.partner import templating
from harness.partner.selectors import MISSING, parse_selector

UNMATCHED = -1
# What ``refuse = true`` means: any client error the workflow answers with.
ANY_REFUSAL = (400, 499)


class ExpectationRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    when: dict[str, str | int | float | bool] = Field(default_factory=dict)
    # "partner:effect" (the partner may be left out when the pilot has one);
    # "" means the event deliberately causes nothing. Required unless ``refuse``.
    effect: str = ""
    times: Literal["once", "any"] = "once"
    # A selector, or a template of selectors for a key composed of several
    # fields: "{body.repository.full_name}#{body.issue.number}".
    key: str = "entity_id"
    # "" for an entity with no version (final_state then does not judge it).
    version: str = "entity_version"
    # The workflow must refuse the event: true (any 4xx), a status (422) or a
    # range of them ("400-409"). Stored as the range it stands for.
    refuse: str = ""
    # The workflow must dead-letter the event (its outcome is dead_lettered);
    # processing it, or applying an effect for it, is a finding.
    dead_letter: bool = False
    # The scenarios this rule holds in; none: all of them. Elsewhere (and in the
    # hunt, whose scenarios are drawn) the next rule that holds decides.
    scenarios: tuple[str, ...] = ()

    @field_validator("refuse", mode="before")
    @classmethod
    def _refusal(cls, value: Any) -> str:
        return refusal_range(value)

    @model_validator(mode="after")
    def _effect_or_refusal(self) -> ExpectationRule:
        if self.refuse and self.effect:
            raise ValueError("effect: a refused event causes nothing; leave effect out")
        if self.dead_letter and self.effect:
            raise ValueError("effect: a dead-lettered event causes nothing; leave effect out")
        if self.dead_letter and self.refuse:
            raise ValueError("dead_letter: an event is refused or dead-lettered, not both")
        if not (self.refuse or self.dead_letter) and "effect" not in self.model_fields_set:
            raise ValueError(
                'effect: required ("" for an event that causes nothing, refuse = true '
                "or dead_letter = true)"
            )
        return self

    @field_validator("when")
    @classmethod
    def _selectors_in_when(cls, value: dict[str, Any]) -> dict[str, Any]:
        for selector in value:
            _check_selector(selector)
        return value

    @field_validator("key")
    @classmethod
    def _key_field(cls, value: str) -> str:
        for part in key_parts(value):
            _check_selector(part)
        return value

    @field_validator("version")
    @classmethod
    def _selector_fields(cls, value: str) -> str:
        if value:
            _check_selector(value)
        return value


def refusal_range(value: Any) -> str:
    """``refuse`` as the pilot wrote it (true, 422, "422", "400-409") → "lo-hi", "" for none."""
    if value is False or value == "":
        return ""
    if value is True:
        return f"{ANY_REFUSAL[0]}-{ANY_REFUSAL[1]}"
    text = str(value).strip() if isinstance(value, int | str) else ""
    low, _, high = text.partition("-")
    if not (low.isdigit() and (high.isdigit() or not high)):
        raise ValueError(f'true, a status (422) or a range ("400-409"), got {value!r}')
    lo, hi = int(low), int(high or low)
    if not (ANY_REFUSAL[0] <= lo <= hi <= ANY_REFUSAL[1]):
        raise ValueError(f"a refusal is a 4xx answer (400-499), got {value!r}")
    return f"{lo}-{hi}"


def in_range(status: int, refuse: str) -> bool:
    """Whether a status is one of a ``refuse`` range ("400-409")."""
    low, _, high = refuse.partition("-")
    return low.isdigit() and high.isdigit() and int(low) <= status <= int(high)


def _check_selector(text: str) -> None:
    try:
        parse_selector(text)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None


def key_parts(key: str) -> tuple[str, ...]:
    """The selectors an entity key is made of: its placeholders, or the key itself."""
    if "{" not in key:
        return (key,) if key else ()
    parts = tuple(templating.placeholders(key))
    if not parts:
        raise ValueError(f"{key!r}: a key template needs at least one {{selector}}")
    return parts


def key_of(key: str, sources: Mapping[str, Any]) -> str:
    """The entity key an event names, as text ("" when a selector finds nothing)."""
    if "{" not in key:
        return _as_text(parse_selector(key).get(sources))
    return templating.as_text(templating.render(key, sources))


def qualify(effect: str, partners: Sequence[str]) -> tuple[str, str]:
    """("partner", "effect") for a rule's effect; ValueError names what is wrong."""
    if not effect:
        return "", ""
    if ":" in effect:
        partner, name = effect.split(":", 1)
    elif len(partners) == 1:
        partner, name = partners[0], effect
    else:
        raise ValueError(f"effect: {effect!r} must name its partner, e.g. '{partners[0]}:{effect}'")
    if partner not in partners:
        known = ", ".join(partners) or "none"
        raise ValueError(f"effect: {effect!r} names no declared partner (partners: {known})")
    if not name:
        raise ValueError(f"effect: {effect!r} has no effect name after ':'")
    return partner, name


def effect_kind(partner: str, effect: str) -> str:
    """The one spelling of an effect in the journal: ``partner:effect``."""
    return f"{partner}:{effect}" if partner else effect


def event_sources(event: CapturedRequest) -> dict[str, Any]:
    """What a selector can read from a captured event."""
    try:
        body: Any = json.loads(event.body)
    except (ValueError, UnicodeDecodeError):
        body = None
    return {
        "body": body,
        "header": dict(event.headers),
        "event_id": event.event_id,
        "event_type": event.event_type,
        "entity_id": event.entity_id,
        "entity_version": event.entity_version,
    }


def _as_text(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def as_version(value: Any) -> int | None:
    # Providers send versions as numbers or digit strings; anything else is none.
    if isinstance(value, bool) or value is MISSING or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _holds(rule: ExpectationRule, sources: Mapping[str, Any]) -> bool:
    for selector, wanted in rule.when.items():
        got = parse_selector(selector).get(sources)
        if got is MISSING or _as_text(got) != _as_text(wanted):
            return False
    return True


@dataclass(frozen=True)
class Expectation:
    """What one event must cause, after the rules were applied."""

    rule: int  # index into the pilot's rules, UNMATCHED when none applied
    partner: str
    effect: str  # qualified kind, "" for none
    times: str  # "once", "any" or "" (nothing expected)
    key: str
    version: int | None
    refuse: str = ""  # "lo-hi" when the event must be refused
    dead_letter: bool = False  # the event must end dead-lettered


def expect_for(
    event: CapturedRequest,
    rules: Sequence[ExpectationRule],
    partners: Sequence[str],
    scenario: str | None = None,
) -> Expectation:
    """What ``event`` must cause: the first rule that holds (in ``scenario``, if bound)."""
    sources = event_sources(event)
    for index, rule in enumerate(rules):
        if rule.scenarios and scenario not in rule.scenarios:
            continue
        if not _holds(rule, sources):
            continue
        partner, name = qualify(rule.effect, partners)
        key = key_of(rule.key, sources)
        version = as_version(parse_selector(rule.version).get(sources)) if rule.version else None
        times = rule.times if name else ""
        kind = effect_kind(partner, name)
        return Expectation(index, partner, kind, times, key, version, rule.refuse, rule.dead_letter)
    return Expectation(UNMATCHED, "", "", "", event.entity_id, event.entity_version)


def expected_rows(
    run_id: str,
    events: Sequence[CapturedRequest],
    never_delivered: frozenset[str],
    rules: Sequence[ExpectationRule],
    partners: Sequence[str],
    scenario: str | None = None,
) -> list[dict[str, Any]]:
    """One row per distinct event the run is about, with what it must cause."""
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.event_id in rows:
            continue
        want = expect_for(event, rules, partners, scenario)
        rows[event.event_id] = {
            "run_id": run_id,
            "event_id": event.event_id,
            "event_type": event.event_type,
            "entity_id": want.key,
            "entity_version": want.version,
            "partner": want.partner,
            "expected_effect": want.effect if want.times == "once" else "",
            "allowed_effect": want.effect if want.times == "any" else "",
            "rule": want.rule,
            "dropped": event.event_id in never_delivered,
            "refuse": want.refuse,
            "dead_letter": want.dead_letter,
            "fixture_id": event.id,
            "note": event.note,
        }
    return list(rows.values())


def unmatched(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Event ids no rule matched: counted and listed, never silently ignored."""
    return [str(r["event_id"]) for r in rows if r.get("rule") == UNMATCHED]


def pilot_mistakes(
    rows: Sequence[Mapping[str, Any]], rules: Sequence[ExpectationRule]
) -> tuple[list[str], list[str]]:
    """The pilot's own mistakes in its rules, found before any workflow is judged.

    Errors: no rule matched any event (nothing would be judged, and every
    partner call would look like a storm), or a rule's ``key`` selector came
    out empty for every event the rule expects an effect of (every effect
    would be "lost … for "). Warnings: rules that matched none of the events
    while others went unmatched (a misspelt ``when``, most likely).
    """
    errors: list[str] = []
    warnings: list[str] = []
    if not rows or not rules:
        return errors, warnings
    matched: dict[int, list[Mapping[str, Any]]] = {}
    for row in rows:
        matched.setdefault(int(row.get("rule", UNMATCHED)), []).append(row)
    if set(matched) == {UNMATCHED}:
        types = sorted({str(r.get("event_type") or "?") for r in rows})
        errors.append(
            f"no [[expectations]] rule matched any of the {len(rows):,} events "
            f"(event types: {', '.join(types[:5])}{', …' if len(types) > 5 else ''}): "
            "nothing about the workflow could be judged"
        )
        return errors, warnings
    for index, rule in enumerate(rules):
        mine = matched.get(index, [])
        effect = any(r.get("expected_effect") or r.get("allowed_effect") for r in mine)
        if mine and effect and all(not r.get("entity_id") for r in mine):
            errors.append(
                f"[[expectations]] #{index + 1} key: {rule.key!r} is empty for all "
                f"{len(mine):,} events the rule matched (e.g. {mine[0].get('event_id')}): "
                "no effect could be tied to them"
            )
        elif not mine and UNMATCHED in matched:
            warnings.append(
                f"[[expectations]] #{index + 1} matched none of the {len(rows):,} events, while "
                f"{len(matched[UNMATCHED]):,} matched no rule: is its `when` right?"
            )
    return errors, warnings
