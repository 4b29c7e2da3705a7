"""Webhook signatures: published vectors, independent libraries, stale times, exact bytes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import standardwebhooks
import stripe

from harness.inputs.fixtures import CapturedRequest, load_fixtures
from harness.replay.signing import (
    SignatureError,
    SigningError,
    generate_secret,
    replay_headers,
    sign,
    verify,
    verify_request,
)
from harness.schemes.standard import key as standard_key
from harness.schemes.standard import signature as standard_signature
from harness.schemes.stripe import signature as stripe_signature
from harness.schemes.stripe import verify_header as verify_stripe

EVENTS = Path(__file__).resolve().parent.parent / "fixtures" / "order-sync" / "events.jsonl"

STRIPE_SECRET = "whsec_test_9f3c1a7e5b2d4c6a8e0f"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
PLAIN_SECRET = "It's a Secret to Everybody"
NOW = 1_793_610_000.0
BODY = b'{\n  "id": "evt_1",\n  "type": "payment_intent.succeeded",\n  "name": "Zo\xc3\xab"\n}'

SCHEME_SECRETS = {
    "stripe": STRIPE_SECRET,
    "standard": STANDARD_SECRET,
    "github": PLAIN_SECRET,
    "shopify": PLAIN_SECRET,
}


def request(signing: str, body: bytes = BODY, event_id: str = "evt_1") -> CapturedRequest:
    return CapturedRequest(
        id="t-1",
        captured_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        method="POST",
        path="/webhooks/payments",
        headers={"Content-Type": "application/json"},
        body=body,
        signing=signing,  # type: ignore[arg-type]
        event_id=event_id,
        event_type="payment_intent.succeeded",
        entity_id="ord_1",
        entity_version=1,
    )


# --- published vectors ------------------------------------------------------------


def test_github_documented_vector() -> None:
    req = request("github", body=b"Hello, World!")
    headers = sign(req, PLAIN_SECRET, NOW)
    assert headers["X-Hub-Signature-256"] == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    assert headers["X-Hub-Signature"].startswith("sha1=") and len(headers["X-Hub-Signature"]) == 45


def test_shopify_is_the_same_mac_in_base64() -> None:
    # The GitHub vector's MAC, re-encoded: Shopify sends base64, not hex.
    mac = bytes.fromhex("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    req = request("shopify", body=b"Hello, World!")
    assert sign(req, PLAIN_SECRET, NOW) == {"X-Shopify-Hmac-Sha256": base64.b64encode(mac).decode()}


def test_standard_webhooks_published_vector() -> None:
    assert (
        standard_signature(
            b'{"test": 2432232314}',
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_none_scheme_adds_nothing() -> None:
    assert sign(request("none"), "anything", NOW) == {}


# --- key handling -------------------------------------------------------------------


def test_stripe_keys_with_the_whole_whsec_string() -> None:
    t = int(NOW)
    with_prefix = hmac.new(STRIPE_SECRET.encode(), f"{t}.".encode() + BODY, hashlib.sha256)
    stripped = STRIPE_SECRET.removeprefix("whsec_")
    header = sign(request("stripe"), STRIPE_SECRET, NOW)["Stripe-Signature"]
    assert header == f"t={t},v1={with_prefix.hexdigest()}"
    assert stripe_signature(BODY, stripped, t) != with_prefix.hexdigest()


def test_standard_keys_with_the_decoded_bytes_after_whsec() -> None:
    key = b"0123456789abcdef0123456789abcdef"
    assert standard_key(STANDARD_SECRET) == key
    headers = sign(request("standard"), STANDARD_SECRET, NOW)
    t = int(NOW)
    mac = hmac.new(key, f"evt_1.{t}.".encode() + BODY, hashlib.sha256).digest()
    assert headers == {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(t),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }
    literal = hmac.new(STANDARD_SECRET.encode(), f"evt_1.{t}.".encode() + BODY, hashlib.sha256)
    assert headers["webhook-signature"] != "v1," + base64.b64encode(literal.digest()).decode()


def test_standard_secret_without_padding_or_prefix_decodes_the_same() -> None:
    raw = base64.b64encode(b"sixteen-byte-key!").decode()  # 17 bytes -> padded
    assert raw.endswith("=")
    assert standard_key("whsec_" + raw.rstrip("=")) == b"sixteen-byte-key!"
    assert standard_key(raw) == b"sixteen-byte-key!"


# --- independent implementations ----------------------------------------------------


def test_stripe_library_accepts_our_signature_and_we_accept_its() -> None:
    now = time.time()
    ours = sign(request("stripe"), STRIPE_SECRET, now)["Stripe-Signature"]
    stripe.WebhookSignature.verify_header(BODY.decode(), ours, STRIPE_SECRET, tolerance=300)
    theirs = stripe.WebhookSignature.generate_signature_header(
        BODY.decode(), STRIPE_SECRET, timestamp=int(now)
    )
    assert theirs == ours
    verify("stripe", BODY, {"stripe-signature": theirs}, STRIPE_SECRET, now=now)


def test_standardwebhooks_library_accepts_our_headers_and_we_accept_its() -> None:
    now = time.time()
    ours = sign(request("standard"), STANDARD_SECRET, now)
    assert standardwebhooks.Webhook(STANDARD_SECRET).verify(BODY, ours) == json.loads(BODY)
    theirs = standardwebhooks.Webhook(STANDARD_SECRET).sign(
        "msg_2", datetime.fromtimestamp(int(now), tz=UTC), BODY.decode()
    )
    headers = {
        "webhook-id": "msg_2",
        "webhook-timestamp": str(int(now)),
        "webhook-signature": theirs,
    }
    verify("standard", BODY, headers, STANDARD_SECRET, now=now)
    # Svix names the same headers differently; both families verify.
    svix = {"svix-id": "msg_2", "svix-timestamp": str(int(now)), "svix-signature": theirs}
    verify("standard", BODY, svix, STANDARD_SECRET, now=now)


# --- round trips and failures ---------------------------------------------------------


@pytest.mark.parametrize("scheme", ["stripe", "standard", "github", "shopify"])
def test_round_trip_and_wrong_secret(scheme: str) -> None:
    secret = SCHEME_SECRETS[scheme]
    req = request(scheme)
    headers = sign(req, secret, NOW)
    verify_request(req, headers, secret, now=NOW)
    other = "whsec_" + base64.b64encode(b"another key entirely!!").decode()
    with pytest.raises(SignatureError, match="match"):
        verify(scheme, BODY, headers, other, now=NOW)


@pytest.mark.parametrize("scheme", ["stripe", "standard", "github", "shopify"])
def test_re_serialised_json_fails_verification(scheme: str) -> None:
    secret = SCHEME_SECRETS[scheme]
    headers = sign(request(scheme), secret, NOW)
    reserialised = json.dumps(json.loads(BODY)).encode()
    assert json.loads(reserialised) == json.loads(BODY)  # same data, other bytes
    with pytest.raises(SignatureError, match="match"):
        verify(scheme, reserialised, headers, secret, now=NOW)


def test_re_serialised_json_fails_in_the_stripe_library_too() -> None:
    now = time.time()
    header = sign(request("stripe"), STRIPE_SECRET, now)["Stripe-Signature"]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(
            json.dumps(json.loads(BODY)), header, STRIPE_SECRET, tolerance=300
        )


@pytest.mark.parametrize("scheme", ["stripe", "standard"])
def test_stale_timestamp_is_rejected_by_a_300s_verifier(scheme: str) -> None:
    secret = SCHEME_SECRETS[scheme]
    req = request(scheme)
    fresh = sign(req, secret, NOW - 299)
    verify(scheme, BODY, fresh, secret, now=NOW, tolerance=300)
    stale = sign(req, secret, NOW - 301)
    with pytest.raises(SignatureError, match="too old"):
        verify(scheme, BODY, stale, secret, now=NOW, tolerance=300)
    future = sign(req, secret, NOW + 301)
    with pytest.raises(SignatureError, match="too new"):
        verify(scheme, BODY, future, secret, now=NOW, tolerance=300)
    verify(scheme, BODY, stale, secret, now=NOW, tolerance=None)


def test_stale_timestamp_is_rejected_by_the_reference_libraries() -> None:
    old = time.time() - 600
    stripe_header = sign(request("stripe"), STRIPE_SECRET, old)["Stripe-Signature"]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(BODY.decode(), stripe_header, STRIPE_SECRET, 300)
    std = sign(request("standard"), STANDARD_SECRET, old)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError, match="too old"):
        standardwebhooks.Webhook(STANDARD_SECRET).verify(BODY, std)


@pytest.mark.parametrize("scheme", ["github", "shopify"])
def test_unsigned_time_means_an_old_signature_stays_valid(scheme: str) -> None:
    secret = SCHEME_SECRETS[scheme]
    headers = sign(request(scheme), secret, 0)
    verify(scheme, BODY, headers, secret, now=NOW, tolerance=300)


def test_stripe_rotation_any_v1_may_match() -> None:
    t = int(NOW)
    header = f"t={t},v1={'0' * 64},v0=abc,v1={stripe_signature(BODY, STRIPE_SECRET, t)}"
    assert verify_stripe(BODY, header, STRIPE_SECRET, now=NOW) == t
    with pytest.raises(SignatureError, match="exactly one t="):
        verify_stripe(
            BODY, f"v1={stripe_signature(BODY, STRIPE_SECRET, t)}", STRIPE_SECRET, now=NOW
        )
    with pytest.raises(SignatureError, match="no v1"):
        verify_stripe(BODY, f"t={t},v0=abc", STRIPE_SECRET, now=NOW)
    with pytest.raises(SignatureError, match="match"):
        verify_stripe(BODY, f"t={t},v1=ünïcode", STRIPE_SECRET, now=NOW)


def test_missing_headers_are_named() -> None:
    with pytest.raises(SignatureError, match="no Stripe-Signature"):
        verify("stripe", BODY, {}, STRIPE_SECRET, now=NOW)
    with pytest.raises(SignatureError, match="missing webhook-id"):
        verify("standard", BODY, {"webhook-id": "x"}, STANDARD_SECRET, now=NOW)
    with pytest.raises(SignatureError, match="no X-Hub-Signature-256"):
        verify("github", BODY, {}, PLAIN_SECRET, now=NOW)
    with pytest.raises(SignatureError, match="unknown signing scheme"):
        verify("hmac", BODY, {}, PLAIN_SECRET, now=NOW)


def test_bad_inputs_to_sign() -> None:
    with pytest.raises(SigningError, match="finite"):
        sign(request("stripe"), STRIPE_SECRET, float("nan"))
    with pytest.raises(SigningError, match="negative"):
        sign(request("standard"), STANDARD_SECRET, -1)
    with pytest.raises(SigningError, match="webhook-id"):
        sign(request("standard", event_id="evt.1"), STANDARD_SECRET, NOW)
    with pytest.raises(SigningError, match="empty"):
        sign(request("github"), "", NOW)


# --- secrets stay out of messages and logs ----------------------------------------------


def test_secrets_never_appear_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad_standard = "whsec_this is not base64 SECRET-VALUE-42"
    messages: list[str] = []
    with pytest.raises(SigningError) as caught:
        sign(request("standard"), bad_standard, NOW)
    messages.append(str(caught.value))
    for scheme, secret in SCHEME_SECRETS.items():
        headers = sign(request(scheme), secret, NOW - 10_000)
        for wrong_body in (BODY + b" ", BODY):
            with pytest.raises(SignatureError) as failed:
                verify(scheme, wrong_body, headers, secret + "x", now=NOW)
            messages.append(str(failed.value))
            messages.append(repr(failed.value))
    secrets = [*SCHEME_SECRETS.values(), bad_standard, "SECRET-VALUE-42"]
    for text in [*messages, caplog.text]:
        for secret in secrets:
            assert secret not in text
            assert secret.removeprefix("whsec_") not in text
    assert caplog.records == []


# --- replay headers ---------------------------------------------------------------------


def test_replay_headers_replace_the_captured_signature() -> None:
    records = load_fixtures(EVENTS)
    lower = next(r for r in records if "stripe-signature" in r.headers)
    for rec in (records[0], lower):
        headers = replay_headers(rec, STRIPE_SECRET, NOW)
        names = [n.lower() for n in headers]
        assert names.count("stripe-signature") == 1
        assert headers["Stripe-Signature"] != rec.header("Stripe-Signature")
        assert headers["Stripe-Signature"].startswith(f"t={int(NOW)},v1=")
        verify_request(rec, headers, STRIPE_SECRET, now=NOW)
        kept = {k: v for k, v in rec.headers.items() if k.lower() != "stripe-signature"}
        assert kept.items() <= headers.items()


def test_replay_headers_drop_framing_headers() -> None:
    rec = CapturedRequest(
        id="t-2",
        captured_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        method="POST",
        path="/hook",
        headers={
            "Host": "old.example",
            "Content-Length": "999",
            "webhook-id": "old",
            "svix-signature": "v1,old",
            "X-Trace": "keep-me",
        },
        body=BODY,
        signing="standard",
        event_id="evt_9",
        event_type="x",
        entity_id="",
        entity_version=0,
    )
    headers = replay_headers(rec, STANDARD_SECRET, NOW)
    assert set(headers) == {"X-Trace", "webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "evt_9"


@pytest.mark.parametrize("scheme", ["stripe", "standard", "github", "shopify", "none"])
def test_every_generated_secret_signs_and_verifies(scheme: str) -> None:
    made = [generate_secret(scheme) for _ in range(500)]
    if scheme != "none":
        assert len(set(made)) == len(made)  # random, not a constant
    req = request(scheme)
    for secret in made:
        headers = sign(req, secret, NOW)
        verify(scheme, BODY, headers, secret, now=NOW)
        if scheme == "standard":
            assert len(standard_key(secret)) == 24
            assert standardwebhooks.Webhook(secret).verify(BODY, sign(req, secret, time.time()))


def test_generated_secrets_have_each_schemes_form() -> None:
    assert generate_secret("stripe").startswith("whsec_")
    assert generate_secret("standard").startswith("whsec_")
    assert generate_secret("none") == ""
    # What the drill used to generate for every scheme: url-safe characters are not base64.
    with pytest.raises(SigningError, match="not whsec_ followed by base64"):
        standard_key("whsec_" + "ab-_" * 8)
    with pytest.raises(SigningError, match="unknown signing scheme 'svix'"):
        generate_secret("svix")
