"""Salting: fresh ids for a drill on a standing workflow, everything else as captured."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.drill.standing import _copy_own_lines
from harness.inputs.expectations import expect_for
from harness.inputs.fixtures import load_fixtures
from harness.inputs.pilot import load_pilot
from harness.replay.salt import (
    apply_salting,
    new_salt,
    plan_salting,
    salt_events,
    salted_number,
    salted_rules,
    unsalted_keys,
)
from harness.replay.signing import SignatureError, sign, verify_request

REPO = Path(__file__).resolve().parent.parent
PILOT = load_pilot(REPO / "pilots/order-sync.toml")
CAPTURED = load_fixtures(PILOT.resolve(PILOT.spec.webhook.fixtures))
PARTNERS = sorted(PILOT.spec.partners)


def test_ids_and_keys_get_the_suffix_versions_stay() -> None:
    salt = new_salt()
    out = salt_events(CAPTURED, salt, PILOT.spec.expectations, PARTNERS)
    assert len(out) == len(CAPTURED)
    for before, after in zip(CAPTURED, out, strict=True):
        assert after.event_id == f"{before.event_id}-{salt}"
        assert after.entity_id == f"{before.entity_id}-{salt}"
        assert after.entity_version == before.entity_version
        want_before = expect_for(before, PILOT.spec.expectations, PARTNERS)
        want_after = expect_for(after, PILOT.spec.expectations, PARTNERS)
        assert want_after.key == f"{want_before.key}-{salt}"
        assert want_after.version == want_before.version
        body = json.loads(after.body)
        assert body["id"] == after.event_id
        # Nothing else moved: amounts, types and versions read as captured.
        assert body["type"] == json.loads(before.body)["type"]
        assert after.body.count(salt.encode()) >= 2


def test_a_repeated_capture_stays_one_event_and_two_drills_never_share_ids() -> None:
    a = salt_events(CAPTURED, "s000001", PILOT.spec.expectations, PARTNERS)
    b = salt_events(CAPTURED, "s000002", PILOT.spec.expectations, PARTNERS)
    assert a[2].event_id == a[3].event_id  # the capture repeats line 2 as line 3
    assert not {e.event_id for e in a} & {e.event_id for e in b}


def test_only_the_events_sent_are_salted() -> None:
    out = salt_events(CAPTURED, "s0000aa", PILOT.spec.expectations, PARTNERS, only=[1, 4])
    assert out[0] is CAPTURED[0]
    assert out[1].event_id.endswith("-s0000aa") and out[4].event_id.endswith("-s0000aa")


def test_a_salted_event_is_signed_afresh_and_verifies() -> None:
    (event,) = salt_events(CAPTURED[:1], "s0000ab", PILOT.spec.expectations, PARTNERS)
    secret = "whsec_test"
    headers = {**event.headers, **sign(event, secret, 1_800_000_000)}
    verify_request(event, headers, secret, now=1_800_000_000)
    # The signature covers the salted bytes: the captured body would not pass with it.
    with pytest.raises(SignatureError):
        verify_request(CAPTURED[0], headers, secret, now=1_800_000_000)


def test_stragglers_of_another_drill_are_left_out(tmp_path: Path) -> None:
    source, target = tmp_path / "ledger.jsonl", tmp_path / "mine.jsonl"
    lines = [
        {"key": "ord_1-s0000aa", "n": 1},
        {"key": "ord_2-s0000bb", "n": 2},  # a late retry from the drill before
        {"key": "plain", "n": 3},  # not salted: kept (a wrong key is a finding)
    ]
    source.write_text("".join(json.dumps(x) + "\n" for x in lines))
    _copy_own_lines(source, target, "s0000aa")
    kept = [json.loads(x)["n"] for x in target.read_text().splitlines()]
    assert kept == [1, 3]


# ---------------------------------------------------------------- composed and numeric keys

TICKETS = load_pilot(REPO / "pilots/ticket-router.toml")
ISSUES = load_fixtures(TICKETS.resolve(TICKETS.spec.webhook.fixtures))
COMPOSED = [
    rule.model_copy(update={"key": "gh-{body.repository.name}-{body.issue.number}"})
    if rule.effect
    else rule
    for rule in TICKETS.spec.expectations
]
HELPDESK = ["helpdesk"]


def test_a_composed_key_has_each_field_salted_and_stays_one_key() -> None:
    salt = "s00002a"
    out = salt_events(ISSUES, salt, COMPOSED, HELPDESK)
    opened = [i for i, e in enumerate(ISSUES) if e.event_type == "issues.opened"]
    assert opened
    for i in opened:
        before, after = json.loads(ISSUES[i].body), json.loads(out[i].body)
        number = before["issue"]["number"]
        # Text gets the suffix, a number stays a number (the salt's digits in front).
        assert after["repository"]["name"] == f"{before['repository']['name']}-{salt}"
        assert isinstance(after["issue"]["number"], int)
        assert after["issue"]["number"] != number and str(after["issue"]["number"]).endswith(
            str(number)
        )
        # The key the workflow composes from the salted event is the key the drill expects,
        # and the fixture's entity_id (the same composed key) follows it.
        composed = f"gh-{after['repository']['name']}-{after['issue']['number']}"
        assert expect_for(out[i], COMPOSED, HELPDESK).key == composed == out[i].entity_id
        assert expect_for(ISSUES[i], COMPOSED, HELPDESK).key == ISSUES[i].entity_id
        # Versions, titles and the rest read as captured.
        assert after["issue"]["updated_at"] == before["issue"]["updated_at"]
        assert after["issue"]["title"] == before["issue"]["title"]


def test_two_drills_compose_different_keys() -> None:
    a = salt_events(ISSUES, "s000001", COMPOSED, HELPDESK)
    b = salt_events(ISSUES, "s000002", COMPOSED, HELPDESK)
    keys_a = {expect_for(e, COMPOSED, HELPDESK).key for e in a if e.event_type == "issues.opened"}
    keys_b = {expect_for(e, COMPOSED, HELPDESK).key for e in b if e.event_type == "issues.opened"}
    assert keys_a and not keys_a & keys_b


def test_a_numeric_key_is_salted_as_a_number() -> None:
    by_number = [
        rule.model_copy(update={"key": "body.issue.number"}) if rule.effect else rule
        for rule in TICKETS.spec.expectations
    ]
    plan = plan_salting(ISSUES, "s000003", by_number, HELPDESK)
    out = apply_salting(ISSUES, plan, by_number, HELPDESK)
    i = next(i for i, e in enumerate(ISSUES) if e.event_type == "issues.opened")
    salted_no = json.loads(out[i].body)["issue"]["number"]
    assert isinstance(salted_no, int) and salted_no != json.loads(ISSUES[i].body)["issue"]["number"]
    assert expect_for(out[i], by_number, HELPDESK).key == str(salted_no)
    assert str(salted_no) in plan.numbers_given()


def test_a_key_the_event_does_not_carry_is_named() -> None:
    # ticket-router's fixtures key each ticket gh-<repo>-<number>, which no field holds:
    # keyed by the fixture's entity_id alone, salting cannot reach it.
    by_entity_id = [rule.model_copy(update={"key": "entity_id"}) for rule in COMPOSED]
    missing = unsalted_keys(ISSUES, by_entity_id, HELPDESK)
    assert missing and all(key.startswith("gh-") for _, key in missing)
    assert unsalted_keys(ISSUES, COMPOSED, HELPDESK) == []
    assert unsalted_keys(CAPTURED, PILOT.spec.expectations, PARTNERS) == []


def test_stragglers_with_composed_or_numeric_keys_are_left_out(tmp_path: Path) -> None:
    source, target = tmp_path / "ledger.jsonl", tmp_path / "mine.jsonl"
    lines = [
        {"key": "gh-widgets-s0000aa-1000211", "n": 1},
        {"key": "gh-widgets-s0000bb-2000211", "n": 2},  # another drill's, salt inside
        {"key": "3000211", "n": 3},  # a number another drill was given
        {"key": "1000212", "n": 4},  # one of ours
    ]
    source.write_text("".join(json.dumps(x) + "\n" for x in lines))
    _copy_own_lines(source, target, "s0000aa", frozenset({"3000211"}))
    kept = [json.loads(x)["n"] for x in target.read_text().splitlines()]
    assert kept == [1, 4]


def test_a_salted_number_keeps_its_digits_and_fits_64_bits() -> None:
    assert salted_number(211, "s1a2b3c", 3) == 1715005211
    assert str(salted_number(211, "s000001", 3)).endswith("211")
    wide = 820982911946154  # a 15-digit order number
    salted = salted_number(wide, "s1a2b3c", 15)
    assert salted != wide and str(salted).endswith(str(wide)) and salted < 2**63


def test_an_entity_id_captured_as_digits_is_salted_where_the_body_holds_it_as_a_number() -> None:
    event = copy.copy(CAPTURED[0])
    body = {"id": "evt_n1", "order": {"number": 1042, "total": 1042.5, "items": 3}}
    object.__setattr__(event, "body", json.dumps(body).encode())
    object.__setattr__(event, "event_id", "evt_n1")
    object.__setattr__(event, "entity_id", "1042")
    (out,) = salt_events([event], "s000007", [], [])
    after = json.loads(out.body)
    assert out.entity_id == str(after["order"]["number"]) != "1042"
    assert isinstance(after["order"]["number"], int)
    assert after["order"]["total"] == 1042.5 and after["order"]["items"] == 3


def test_a_rule_that_names_an_identity_still_picks_out_its_salted_event() -> None:
    # queue-hardened dead-letters os-012 by a rule naming its order id; salted, the
    # event carries the salted id, and the rule must follow it or match nothing.
    pilot = load_pilot(REPO / "pilots/queue-hardened.toml")
    captured = load_fixtures(pilot.resolve(pilot.spec.webhook.fixtures))
    rules, partners = pilot.spec.expectations, sorted(pilot.spec.partners)
    (index,) = [i for i, e in enumerate(captured) if e.id == "os-012"]
    salting = plan_salting(captured, "s0000ac", rules, partners, only=[index])
    salted = apply_salting(captured, salting, rules, partners, only=[index])[index]
    before = expect_for(captured[index], rules, partners, "consumer-cut")
    assert before.dead_letter
    assert not expect_for(salted, rules, partners, "consumer-cut").dead_letter
    after = expect_for(salted, salted_rules(rules, salting), partners, "consumer-cut")
    assert after.dead_letter and after.rule == before.rule
    # Rules that name nothing salted are the pilot's own objects.
    assert salted_rules(rules, salting)[0] is rules[0]
