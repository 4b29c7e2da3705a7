"""The one JSON loader for untrusted input: a nesting limit, checked before decoding."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.inputs.fixtures import lone_surrogate
from harness.partner.boundedjson import (
    MAX_DEPTH,
    JsonTooDeep,
    _brackets_outside_strings,
    depth_exceeded_at,
    loads,
)

REPO = Path(__file__).resolve().parents[1]


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_input_at_the_limit_decodes_and_one_level_more_is_refused() -> None:
    assert depth_exceeded_at(nested(MAX_DEPTH)) is None
    assert loads(nested(MAX_DEPTH)) is not None
    with pytest.raises(JsonTooDeep, match=f"JSON nested deeper than {MAX_DEPTH} levels"):
        loads(nested(MAX_DEPTH + 1))


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = json.dumps({"note": "[" * 500 + '\\"{' * 300, "list": [1, [2, [3]]]})
    assert loads(text)["list"] == [1, [2, [3]]]


def test_many_siblings_are_not_depth() -> None:
    text = json.dumps([{"a": [i]} for i in range(5000)])
    assert len(loads(text)) == 5000


def test_unclosed_deep_input_is_refused_not_a_recursion_error() -> None:
    # The stdlib decoder recurses into these before it finds the end of input.
    with pytest.raises(JsonTooDeep):
        loads("[" * 100_000)
    with pytest.raises(JsonTooDeep):
        loads('{"a":' * 100_000)


def test_the_error_names_the_line_where_the_limit_was_passed() -> None:
    text = "{\n" + '"a":\n' * 10 + '{"b": ' * MAX_DEPTH + "1" + "}" * MAX_DEPTH + "\n}"
    with pytest.raises(JsonTooDeep) as caught:
        loads(text)
    assert caught.value.lineno == 12  # the line where level 65 opens


def test_malformed_shallow_input_is_left_to_the_decoder() -> None:
    with pytest.raises(json.JSONDecodeError) as caught:
        loads("[1, 2")
    assert not isinstance(caught.value, JsonTooDeep)


def test_an_unclosed_quote_before_many_escaped_quotes_is_decided_in_one_pass() -> None:
    # More brackets than the limit (so the exact scan runs), then a quote no string
    # closes and 50,000 escaped quotes. Retrying a string at each quote took 16 s
    # for 40 kB and grew with the square; one pass takes milliseconds.
    hostile = "[]" * 70 + '"' + '\\"' * 50_000
    started = time.process_time()
    assert depth_exceeded_at(hostile, 64) is None
    assert time.process_time() - started < 2.0  # generous: about 5 ms here
    # The brackets after such a quote still count: too deep is still refused.
    assert depth_exceeded_at('"' + "[" * 70, 64) == 65


def test_options_reach_the_decoder() -> None:
    assert loads('{"a": 1, "a": 2}', object_pairs_hook=list) == [("a", 1), ("a", 2)]


# --- The cheap skeleton gives the answers of the plain scan it stands in for.
# The reference below is the scan every earlier version ran (its shortcuts only
# ever skipped it when it would say None), and `lone_surrogate`'s earlier regex.
_REFERENCE_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_REFERENCE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def reference_depth_exceeded_at(text: str, limit: int) -> int | None:
    depth = 0
    for token in _REFERENCE_TOKEN.finditer(text):
        if token.group() in "[{":
            depth += 1
            if depth > limit:
                return token.start()
        elif token.group() in "]}":
            depth = max(depth - 1, 0)
    return None


def reference_skeleton(text: str) -> str:
    return "".join(t.group() for t in _REFERENCE_TOKEN.finditer(text) if t.group() in "[]{}")


def reference_lone_surrogate(text: str) -> tuple[str, int] | None:
    found = _REFERENCE_SURROGATE.search(text)
    return None if found is None else (f"\\u{ord(found.group()):04x}", found.start())


def assert_same_answers(text: str, limits: Sequence[int]) -> None:
    for limit in limits:
        assert depth_exceeded_at(text, limit) == reference_depth_exceeded_at(text, limit), limit
    skeleton = _brackets_outside_strings(text)
    assert skeleton is None or skeleton == reference_skeleton(text)
    found = reference_lone_surrogate(text)
    problem = lone_surrogate(text)
    if found is None:
        assert problem is None
    else:
        assert problem is not None and f"{found[0]} (character {found[1]})" in problem


# Characters that steer the scan: brackets, quotes, backslashes (escapes),
# the NUL the skeleton marks with, a surrogate, and some filler.
_STEERING = st.sampled_from(list('[]{}""\\\\ a:,\n\x00\ud800\udc00é€'))
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=_STEERING, max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(_STEERING), inner),
    max_leaves=40,
)


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=_STEERING, max_size=120), limit=st.integers(0, 6))
def test_hostile_text_gets_the_reference_answers(text: str, limit: int) -> None:
    assert_same_answers(text, [limit, MAX_DEPTH])


@settings(max_examples=100, deadline=None)
@given(
    value=_JSON,
    ascii_only=st.booleans(),
    cut=st.none() | st.integers(0, 400),
    prefix=st.sampled_from(["", "[" * (MAX_DEPTH + 1), '"', "\\", '\\"']),
    limit=st.integers(0, 6),
)
def test_nested_json_whole_cut_or_prefixed_gets_the_reference_answers(
    value: Any, ascii_only: bool, cut: int | None, prefix: str, limit: int
) -> None:
    # json.dumps escapes quotes and backslashes inside strings; the cut leaves
    # strings and brackets unclosed; the prefix puts an escape or a quote outside.
    text = prefix + json.dumps(value, ensure_ascii=ascii_only)[:cut]
    assert_same_answers(text, [limit, MAX_DEPTH])


@pytest.mark.parametrize("folder", ["fixtures", "tests/bad_inputs"])
def test_every_stored_input_gets_the_reference_answers(folder: str) -> None:
    files = [path for path in (REPO / folder).rglob("*") if path.is_file()]
    assert len(files) > 10
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="surrogateescape")
        for piece in [text, *text.splitlines()]:
            assert_same_answers(piece, [0, 2, 8, MAX_DEPTH])
            if piece.lstrip().startswith(('"', "{", "[")):
                with contextlib.suppress(ValueError):
                    inner = json.loads(piece)
                    if isinstance(inner, dict) and isinstance(inner.get("body"), str):
                        assert_same_answers(inner["body"], [0, 2, 8, MAX_DEPTH])


def test_escaped_quotes_outside_strings_fall_back_to_the_scan() -> None:
    # Outside a string the scan skips a backslash and opens at the quote; the
    # skeleton cannot tell that from an escaped quote, so it steps aside.
    text = '\\"[[[" ' + "[" * 3
    assert _brackets_outside_strings(text) is None
    assert depth_exceeded_at(text, 2) == reference_depth_exceeded_at(text, 2) == 9
