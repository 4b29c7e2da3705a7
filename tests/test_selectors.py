"""Field selectors: parsing, lookup in nested sources, one-line errors."""

from __future__ import annotations

import re

import pytest

from harness.partner.selectors import MISSING, parse_selector

SOURCES = {
    "path": {"id": "c_1"},
    "body": {"a": {"b": [{"c": 7}, {"c": 8}]}, "a.b": "dotted", "n": None},
    "query": {"page": "2"},
    "header": {"content-type": "application/json"},
    "event_id": "evt_1",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("path.id", "c_1"),
        ("body.a.b[0].c", 7),
        ("body.a.b[-1].c", 8),
        ('body."a.b"', "dotted"),
        ("query.page", "2"),
        ("header.Content-Type", "application/json"),
        ("HEADER.content-type", MISSING),  # only the header's name folds case, not the root
        ("event_id", "evt_1"),
        ("body.n", None),
        ("body.a.b[5]", MISSING),
        ("body.a.x", MISSING),
        ("body.a.b.c", MISSING),
        ("path.id[0]", MISSING),
        ("nowhere.x", MISSING),
    ],
)
def test_get(text: str, expected: object) -> None:
    value = parse_selector(text).get(SOURCES)
    if expected is MISSING:
        assert value is MISSING
    else:
        assert value == expected


def test_missing_is_distinct_from_null() -> None:
    assert parse_selector("body.n").get(SOURCES) is None
    assert parse_selector("body.zz").get(SOURCES) is MISSING
    assert not MISSING and repr(MISSING) == "MISSING"


def test_parts_are_kept() -> None:
    selector = parse_selector('body."a.b"[2].c')
    assert (selector.root, selector.steps, str(selector)) == (
        "body",
        ("a.b", 2, "c"),
        'body."a.b"[2].c',
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "non-empty"),
        ("body.", "empty key"),
        ("body..a", "empty key"),
        ('body."a', "unclosed quote"),
        ('body.""', "empty quoted key"),
        ("body[x]", "not a list index"),
        ("body[1", "unclosed ["),
        ("body]", "unexpected"),
        (" body", "whitespace"),
    ],
)
def test_bad_selectors_say_why_on_one_line(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)) as caught:
        parse_selector(text)
    assert "\n" not in str(caught.value)
