"""YAML with its aliases bounded: a few lines of anchors must not expand to billions of nodes.

PyYAML builds an alias as a shared reference, so a "billion laughs" anchor
chain loads small; it is whatever walks it later (an import, a JSON dump, a
copy) that exhausts memory and hangs. The loader here counts aliases while
composing and, before building anything, measures the size the document
would have with every alias expanded; past either limit it refuses.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_ALIASES = 500  # hand-written documents use a few dozen at most
MAX_EXPANDED_NODES = 2_000_000  # an 8 MiB document has well under a million nodes


class YamlRefused(yaml.YAMLError):
    """Valid YAML, but too expensive to use; the message is one line."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def expanded_size(root: yaml.Node, limit: int) -> int | None:
    """Nodes in the document with every alias expanded; None past `limit` or on a cycle."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the current path: meeting one again is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if finished:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in _children(node))
            if sizes[id(node)] > limit:
                return None
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_nodes:
            return None
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)
    return sizes[id(root)]


class _BoundedLoader(yaml.SafeLoader):
    aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise YamlRefused(f"more than {MAX_ALIASES} aliases; refused")
        return super().compose_node(parent, index)

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        if expanded_size(node, MAX_EXPANDED_NODES) is None:
            raise YamlRefused(
                f"its aliases expand to more than {MAX_EXPANDED_NODES:,} nodes "
                "(or into themselves); refused"
            )
        return self.construct_document(node)


def load_yaml(text: str) -> Any:
    """`yaml.safe_load`, with aliases bounded (YamlRefused past the limits)."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
