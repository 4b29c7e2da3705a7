"""Reading declaration documents: TOML, JSON or YAML, with errors that name file and line.

Files are read through bounded.py (a regular file, of bounded size, inside
the folder given). YAML is parsed with a loader that counts aliases and the
size the document would have once every alias is expanded: an anchor chain
("billion laughs") is a few lines that expand to billions of nodes, and
walking it later would exhaust memory, so it is refused here.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import yaml

from .bounded import MAX_DOCUMENT_BYTES, read_bounded
from .spec import PartnerSpecError

MAX_ALIASES = 500  # hand-written documents use a few dozen at most
MAX_EXPANDED_NODES = 2_000_000  # a 16 MB document has well under a million nodes


class _Refused(yaml.YAMLError):
    """The document is valid YAML but too expensive to use."""


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
                raise _Refused(f"more than {MAX_ALIASES} aliases; refused")
        return super().compose_node(parent, index)

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        if expanded_size(node, MAX_EXPANDED_NODES) is None:
            raise _Refused(
                f"its aliases expand to more than {MAX_EXPANDED_NODES:,} nodes "
                "(or into themselves); refused"
            )
        return self.construct_document(node)


def load_yaml(text: str) -> Any:
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_document(
    path: Path, *, root: Path | None = None, limit: int = MAX_DOCUMENT_BYTES
) -> Any:
    """A TOML, JSON or YAML file, decoded; errors name the file and the line.

    `root`: the folder the file must be inside (the pilot's), when given.
    """
    try:
        text = read_bounded(path, root=root, limit=limit).decode("utf-8")
    except UnicodeDecodeError:
        raise PartnerSpecError(f"{path}: not UTF-8 text") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in {".yaml", ".yml"}:
            return load_yaml(text)
        return json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PartnerSpecError(f"{path}: not valid TOML: {exc}") from None
    except json.JSONDecodeError as exc:
        raise PartnerSpecError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    except _Refused as exc:
        raise PartnerSpecError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PartnerSpecError(f"{path}: not valid YAML{line}: {problem}") from None
    except RecursionError:
        raise PartnerSpecError(f"{path}: nested too deeply to read") from None
