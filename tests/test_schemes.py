"""The signing-scheme registry: every scheme module keeps its parts consistent.

Each scheme's own vectors and edge cases are in test_signing.py (published
examples, independent libraries); here every registered scheme, present or
added later, must sign what it verifies, be recognised by the headers it
sends, and have a replay drop the headers it would send.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest

import harness.schemes
from harness.schemes import NAMES, NONE, SCHEMES, SIGNATURE_HEADERS, Scheme, SignatureError, detect

NOW = 1_793_610_000.0
BODY = b'{"id": "evt_1", "type": "order.paid", "data": {"object": {"id": "ord_7"}}}'
ALL = list(SCHEMES.values())


def _signed(scheme: Scheme, body: bytes = BODY) -> tuple[str, dict[str, str]]:
    secret = scheme.new_secret()
    return secret, scheme.sign(body, secret, NOW, "evt_1", "fixture-1")


def test_the_registry_finds_every_module_in_rank_order() -> None:
    assert list(SCHEMES) == ["stripe", "standard", "github", "shopify"]
    assert NAMES == (*SCHEMES, NONE)
    assert [s.rank for s in ALL] == sorted(s.rank for s in ALL)


@pytest.mark.parametrize("scheme", ALL, ids=lambda s: s.name)
def test_a_fresh_secret_signs_what_the_scheme_verifies(scheme: Scheme) -> None:
    secret, headers = _signed(scheme)
    assert headers
    scheme.verify(BODY, headers, secret, NOW, 300.0)
    # Header names are matched without regard to case, as HTTP has it.
    scheme.verify(BODY, {k.upper(): v for k, v in headers.items()}, secret, NOW + 1, 300.0)


@pytest.mark.parametrize("scheme", ALL, ids=lambda s: s.name)
def test_another_body_or_secret_does_not_verify(scheme: Scheme) -> None:
    secret, headers = _signed(scheme)
    with pytest.raises(SignatureError, match=rf"^{scheme.name}: "):
        scheme.verify(BODY + b" ", headers, secret, NOW, 300.0)
    with pytest.raises(SignatureError, match=rf"^{scheme.name}: "):
        scheme.verify(BODY, headers, scheme.new_secret(), NOW, 300.0)
    with pytest.raises(SignatureError, match=rf"^{scheme.name}: "):
        scheme.verify(BODY, {}, secret, NOW, 300.0)


@pytest.mark.parametrize("scheme", ALL, ids=lambda s: s.name)
def test_a_capture_is_recognised_by_the_headers_its_scheme_sends(scheme: Scheme) -> None:
    _, headers = _signed(scheme)
    assert detect({"Content-Type": "application/json", **headers}) == scheme.name
    assert detect({"Content-Type": "application/json"}) == NONE


@pytest.mark.parametrize("scheme", ALL, ids=lambda s: s.name)
def test_a_replay_drops_every_header_the_scheme_sends(scheme: Scheme) -> None:
    # Otherwise a captured signature would travel beside the fresh one.
    _, headers = _signed(scheme)
    sent = {name.lower() for name in headers}
    assert sent <= scheme.replaced_headers <= SIGNATURE_HEADERS


def test_no_two_schemes_claim_one_signature_header() -> None:
    for i, one in enumerate(ALL):
        for other in ALL[i + 1 :]:
            assert not one.signature_headers & other.signature_headers, (one.name, other.name)


ACME = """
from harness.schemes._scheme import Scheme, SignatureError, header, hmac_sha256


def _sign(body, secret, now, event_id, fixture):
    return {"X-Acme-Mac": hmac_sha256(secret.encode(), body).hex()}


def _verify(body, headers, secret, now, tolerance):
    if header(headers, "x-acme-mac") != hmac_sha256(secret.encode(), body).hex():
        raise SignatureError("acme: signature does not match the body")


SCHEME = Scheme(
    name="acme", rank=25, signature_headers=frozenset({"x-acme-mac"}),
    sign=_sign, verify=_verify, new_secret=lambda: "s3cret",
)
"""


def _copy_of_the_package(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(Path(harness.schemes.__file__).parent, folder)
    return folder


def test_adding_a_scheme_is_adding_a_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _copy_of_the_package(tmp_path, "schemes_plus_acme")
    (folder / "acme.py").write_text(ACME)
    monkeypatch.syspath_prepend(str(tmp_path))
    grown = importlib.import_module("schemes_plus_acme")
    assert list(grown.SCHEMES) == ["stripe", "standard", "acme", "github", "shopify"]
    assert grown.NAMES[-1] == NONE
    assert "x-acme-mac" in grown.SIGNATURE_HEADERS
    assert grown.detect({"X-Acme-Mac": "00"}) == "acme"


def test_a_module_without_a_scheme_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _copy_of_the_package(tmp_path, "schemes_plus_stray")
    (folder / "stray.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match=r"schemes_plus_stray\.stray must define SCHEME"):
        importlib.import_module("schemes_plus_stray")
