"""Salting: fresh ids for a drill on a standing workflow, everything else as captured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.drill.standing import _copy_own_lines
from harness.inputs.expectations import expect_for
from harness.inputs.fixtures import load_fixtures
from harness.inputs.pilot import load_pilot
from harness.replay.salt import new_salt, salt_events
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
