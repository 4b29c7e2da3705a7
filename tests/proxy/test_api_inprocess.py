"""In-process checks of the API's Go emulation: JSON decoding/encoding and the handler timeout."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.proxy import api as api_module
from harness.proxy import gojson
from harness.proxy.api import PROXY_STRUCT, Api, Request
from harness.proxy.collection import ProxyCollection


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff", "invalid character '\u00ff' looking for beginning of value"),
        (b"\x80", "invalid character '\\u0080' looking for beginning of value"),
        (b"'", "invalid character '\\'' looking for beginning of value"),
        (b'{"a":1,}', "invalid character '}' looking for beginning of object key string"),
        (b"[1.]", "invalid character ']' after decimal point in numeric literal"),
        (b"-x", "invalid character 'x' in numeric literal"),
        (b"1e+", "unexpected EOF"),
        (b'"\\u12"', "invalid character '\"' in \\u hexadecimal character escape"),
        (b"[" * 10001, "invalid character '[' exceeded max depth"),
    ],
)
def test_syntax_errors_read_like_go(body: bytes, message: str) -> None:
    with pytest.raises(gojson.GoJSONError) as err:
        gojson.parse(body)
    assert str(err.value) == message


def test_deep_but_legal_nesting_is_fine() -> None:
    node = gojson.parse(b"[" * 10000 + b"]" * 10000)
    assert node.kind == "arr"


def test_struct_decoding_follows_encoding_json() -> None:
    # Keys match case-insensitively, and the last duplicate wins.
    data = gojson.decode_struct(b'{"NAME":"a","name":"b","Upstream":"u","x":1}', PROXY_STRUCT)
    assert data == {"name": "b", "upstream": "u"}
    # null leaves a field alone.
    assert gojson.decode_struct(b'{"enabled":null}', PROXY_STRUCT) == {}
    # The first type error is reported even when later fields are fine.
    with pytest.raises(gojson.GoJSONError, match=r"Proxy\.listen of type string"):
        gojson.decode_struct(b'{"listen":1,"enabled":"x"}', PROXY_STRUCT)
    # Strings: Go's replacement of undecodable bytes and lone surrogates.
    data = gojson.decode_struct(b'{"name":"a\xe2\x82b\\ud800c"}', PROXY_STRUCT)
    assert data["name"] == "a\ufffd\ufffdb\ufffdc"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (1e-7, "1e-7"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (0.000001, "0.000001"),
        (3.4028234663852886e38, "3.4028235e+38"),
        (16777217.0, "16777216"),
    ],
)
def test_float32_is_printed_like_go(value: float, text: str) -> None:
    assert gojson.format_float32(gojson.to_float32(value)) == text


def test_strings_are_encoded_like_go() -> None:
    assert gojson.encode_string('<a&b>"\\\n\x00\u2028') == (
        '"\\u003ca\\u0026b\\u003e\\"\\\\\\n\\u0000\\u2028"'
    )


async def test_slow_handler_answers_503_and_finishes_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    collection = ProxyCollection()
    release = asyncio.Event()
    finished = asyncio.Event()

    async def slow_reset() -> None:
        await release.wait()
        finished.set()

    monkeypatch.setattr(collection, "reset", slow_reset)
    monkeypatch.setattr(api_module, "HANDLER_TIMEOUT_S", 0.05)
    api = Api(collection)
    response = await api.dispatch(Request("POST", "/reset", "", [], b""))
    assert response.status == 503
    assert response.body == api_module.TIMEOUT_BODY
    assert response.header("X-Toxiproxy-Request-Id")
    assert not finished.is_set()
    # Other handlers wait for the slow one (one lock), /version does not.
    version = await api.dispatch(Request("GET", "/version", "", [], b""))
    assert version.status == 200
    release.set()
    await api.drain()
    assert finished.is_set()


def test_request_ids_are_xids() -> None:
    ids = [api_module._Xid().new() for _ in range(3)]
    alphabet = "0123456789abcdefghijklmnopqrstuv"
    for xid in ids:
        assert len(xid) == 20 and set(xid) <= set(alphabet)
        value = 0
        for ch in xid:
            value = value * 32 + alphabet.index(ch)
        # 12 bytes, padded with 4 zero bits; the first 4 are the Unix time.
        assert value & 0xF == 0
        seconds = int.from_bytes((value >> 4).to_bytes(12, "big")[:4], "big")
        assert abs(seconds - time.time()) < 60
    assert len(set(ids)) == 3
