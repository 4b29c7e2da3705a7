"""OpenAPI documents split over several files, joined into one before anything reads them.

A `$ref` such as `schemas/ticket.yaml#/Ticket` names another file, relative
to the file that holds the ref. Each file named is read like the document
itself (inside the pilot's folder, a regular file, bounded, YAML aliases
bounded), at most `MAX_FILES` of them, and laid into the document under
`x-chaoslab-files`; its refs are rewritten to point there. Afterwards every
ref is local (`#/...`), so the rest of the import and the simulator never
read a file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .spec import PartnerSpecError

MAX_FILES = 64  # documents split further than this are generated, not written by hand
FILES_KEY = "x-chaoslab-files"

Read = Callable[[Path], Any]  # a confined, bounded document reader


class _Joiner:
    def __init__(self, main: Path, doc: dict[str, Any], read: Read) -> None:
        self.main, self.doc, self.read = main.resolve(), doc, read
        self.slots: dict[Path, str] = {self.main: ""}  # file → its pointer prefix in doc
        self.files: dict[str, Any] = {}

    def slot(self, path: Path, shown: str, holder: Path) -> str:
        """The pointer prefix of `path` in the joined document, reading it the first time."""
        resolved = path.resolve()
        if resolved in self.slots:
            return self.slots[resolved]
        if len(self.slots) > MAX_FILES:
            raise PartnerSpecError(f"{holder}: $ref {shown}: more than {MAX_FILES} files")
        name = str(len(self.files))
        prefix = f"/{FILES_KEY}/{name}"
        self.slots[resolved] = prefix
        try:
            self.files[name] = loaded = self.read(path)
        except PartnerSpecError as exc:
            raise PartnerSpecError(f"{holder}: $ref {shown}: {exc}") from None
        self.rewrite(loaded, resolved, prefix)
        return prefix

    def target(self, ref: str, holder: Path, prefix: str) -> str:
        """`ref` as written in `holder` → a local ref into the joined document."""
        where, _, pointer = ref.partition("#")
        if "://" in where:
            raise PartnerSpecError(
                f"{holder}: $ref {ref[:80]}: a web address; only files in the pilot's folder "
                "are read"
            )
        if pointer and not pointer.startswith("/"):
            raise PartnerSpecError(f"{holder}: $ref {ref[:80]}: the part after # must start with /")
        if where:
            prefix = self.slot(holder.parent / where, ref[:80], holder)
        return f"#{prefix}{pointer}"

    def rewrite(self, root: Any, holder: Path, prefix: str) -> None:
        """Every `$ref` under `root` (a file's content) made local to the joined document."""
        seen: set[int] = set()  # YAML aliases share nodes: rewrite each once
        stack = [root]
        while stack:
            node = stack.pop()
            if id(node) in seen or not isinstance(node, dict | list):
                continue
            seen.add(id(node))
            if isinstance(node, list):
                stack.extend(node)
                continue
            ref = node.get("$ref")
            if isinstance(ref, str) and (prefix or not ref.startswith("#")):
                node["$ref"] = self.target(ref, holder, prefix)
            stack.extend(node.values())


def join_files(path: Path, doc: dict[str, Any], read: Read) -> dict[str, Any]:
    """`doc` (read from `path`) with every file its refs name laid in, all refs local."""
    joiner = _Joiner(path, doc, read)
    joiner.rewrite(doc, joiner.main, "")
    if joiner.files:
        doc[FILES_KEY] = joiner.files
    return doc
