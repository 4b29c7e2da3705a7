"""The one JSON loader for untrusted input: a nesting limit, checked before decoding."""

from __future__ import annotations

import json

import pytest

from harness.partner.boundedjson import MAX_DEPTH, JsonTooDeep, depth_exceeded_at, loads


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


def test_options_reach_the_decoder() -> None:
    assert loads('{"a": 1, "a": 2}', object_pairs_hook=list) == [("a", 1), ("a", 2)]
