"""Ids the partner hands out in its answers, and what each one stands for.

A create answers a fresh id each time (shaped like the document's example:
the next integer, a UUID, or the example text with a counter), so a workflow
that reuses the example id or the wrong ticket's id is caught: a route that
takes an id (`known_id`) answers 404 for any id this space never handed out.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .selectors import parse_selector

_UUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")


@dataclass(frozen=True)
class Handed:
    """What a handed-out id stands for, so a later call by that id finds its entity."""

    entity: str  # the entity the create was about ("" when the route has no effect)
    key: str | None  # its key, so an update by id is recorded against the right entity


def _fresh(sample: Any, n: int) -> Any:
    if isinstance(sample, int) and not isinstance(sample, bool):
        return max(sample, 0) + n
    if isinstance(sample, str) and _UUID.match(sample):
        return str(uuid.UUID(int=n))
    if isinstance(sample, str) and sample.isdigit():
        return str(int(sample) + n)
    if isinstance(sample, str) and sample:
        return f"{sample}-{n}"
    return n


class HandedIds:
    """Every id the partner's answers handed out,
    per id space; not thread-safe (one event loop owns it)."""

    def __init__(self) -> None:
        self._handed: dict[str, dict[str, Handed]] = defaultdict(dict)
        self._count: dict[str, int] = defaultdict(int)

    def hand_out(self, space: str, sample: Any, handed: Handed) -> Any:
        """A fresh id for `space`, shaped like `sample`, remembered with what it stands for."""
        self._count[space] += 1
        value = _fresh(sample, self._count[space])  # distinct for every count, by its shape
        self._handed[space][str(value)] = handed
        return value

    def lookup(self, space: str, value: Any) -> Handed | None:
        """What `value` stands for, or None when this space never handed it out."""
        if value is None or isinstance(value, dict | list):
            return None
        return self._handed.get(space, {}).get(str(value))

    def state(self) -> dict[str, list[str]]:
        """The ids handed out per space, for the admin state."""
        return {space: list(ids) for space, ids in self._handed.items() if ids}

    def clear(self) -> None:
        self._handed.clear()
        self._count.clear()


def with_fresh_id(body: Any, where: str, fresh: Callable[[Any], Any]) -> Any:
    """`body` with the value at `where` (`id`, `ticket.id`) replaced by `fresh(old value)`.

    A body without that place is returned as it is: the answer names no id to hand out.
    """
    selector = parse_selector(where)
    steps = (selector.root, *selector.steps)
    out = copy.deepcopy(body)
    node = out
    for step in steps[:-1]:
        node = _step(node, step)
        if node is None:
            return body
    last = steps[-1]
    if isinstance(node, dict) and isinstance(last, str) and last in node:
        node[last] = fresh(node[last])
        return out
    if isinstance(node, list) and isinstance(last, int) and -len(node) <= last < len(node):
        node[last] = fresh(node[last])
        return out
    return body


def _step(node: Any, step: str | int) -> Any:
    if isinstance(node, dict) and isinstance(step, str):
        return node.get(step)
    if isinstance(node, list) and isinstance(step, int) and -len(node) <= step < len(node):
        return node[step]
    return None
