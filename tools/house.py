"""Facts about the house, read from the code: what `docs/architecture.md` promises, checked.

    python tools/house.py            # a report for people
    python tools/house.py --json     # the same facts for a test or CI

- cycles between subpackages of ``harness`` (and lazy imports that hide one);
- upward imports: a stage importing a later one, by the layers the
  architecture page lists under "## Layers";
- functions longer than the limit (80 lines);
- docstrings of public classes and methods;
- registries: for each kind of thing kept one module a member, the files
  outside its package that name a member (adding one should touch one module
  plus its test).
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "harness"
LIMIT = 80


@dataclass(frozen=True)
class Import:
    """One import of a harness module by another."""

    source: str  # importing module
    target: str  # imported module
    line: int
    lazy: bool  # inside a function: deferred, often to dodge a cycle


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by dotted name."""
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def parse(path: Path) -> ast.Module:
    """The syntax tree of a source file, parsed once per process while the file stays the same.

    The import graph, the function lengths, the docstrings and the registry
    search each read every module; parsing is most of their cost.
    """
    stat = path.stat()
    return _parsed(path, stat.st_mtime_ns, stat.st_size)


@functools.cache
def _parsed(path: Path, mtime_ns: int, size: int) -> ast.Module:
    # The trees are shared: callers walk them and must not change them.
    return ast.parse(path.read_text(encoding="utf-8"))


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(module: str, path: Path) -> Iterator[Import]:
    """The harness modules ``module`` imports, eagerly or inside a function."""
    tree = parse(path)
    # One pass, carrying "inside a function" down: walking each function's body
    # again made this quadratic in nesting, and it ran at every test collection.
    pending: list[tuple[ast.AST, bool]] = [(tree, False)]
    while pending:
        node, lazy = pending.pop()
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node, path.name == "__init__.py")
            names = [target] + [f"{target}.{a.name}" for a in node.names]
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                yield Import(module, name, node.lineno, lazy)
        inner = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        pending.extend((child, inner) for child in ast.iter_child_nodes(node))


def stage(module: str) -> str:
    """The subpackage (stage) a module belongs to: ``harness.drill.run`` → ``drill``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and _is_package(parts[1])) else parts[-1]


def _is_package(name: str) -> bool:
    return (ROOT / PACKAGE / name).is_dir()


def stage_edges(found: dict[str, Path]) -> dict[tuple[str, str], list[Import]]:
    """Imports between different stages, grouped by (from, to), one per module and line."""
    edges: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for module, path in found.items():
        seen: set[tuple[str, int]] = set()
        for imp in imports(module, path):
            target = next((m for m in _candidates(imp.target) if m in found), None)
            if target is None or (target, imp.line) in seen:
                continue
            seen.add((target, imp.line))
            a, b = stage(module), stage(target)
            if a != b:
                edges[(a, b)].append(Import(module, target, imp.line, imp.lazy))
    return edges


def _candidates(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def cycles(edges: dict[tuple[str, str], list[Import]]) -> list[list[str]]:
    """Strongly connected groups of stages (Tarjan); each is a cycle."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(set(graph) | {b for _, b in edges}):
        if v not in index:
            visit(v)
    return found


def module_cycles(found: dict[str, Path]) -> list[list[str]]:
    """Cycles between modules, lazy imports included (a lazy import only hides a cycle)."""
    edges: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for module, path in found.items():
        for imp in imports(module, path):
            target = next((m for m in _candidates(imp.target) if m in found), None)
            # A package's __init__ re-exporting its own modules is not a cycle to fix.
            if target and target != module and not module.startswith(target + "."):
                edges[(module, target)].append(imp)
    return cycles(edges)


def layers(doc: Path = ROOT / "docs" / "architecture.md") -> dict[str, int]:
    """Each stage's layer, from the architecture page's "## Layers" block (layer: stages)."""
    text = doc.read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1] if "## Layers" in text else ""
    block = re.search(r"```\n(.*?)```", section, flags=re.S)
    out = {}
    for line in (block.group(1) if block else "").splitlines():
        number, _, names = line.partition(":")
        if number.strip().isdigit():
            for name in names.split("#")[0].split():
                out[name] = int(number)
    return out


def upward(edges: dict[tuple[str, str], list[Import]], order: dict[str, int]) -> list[Import]:
    """Imports from a stage to one in a higher layer (or to one the layers do not list)."""
    out = []
    for (a, b), found in sorted(edges.items()):
        if a not in order or b not in order or order[b] > order[a]:
            out += found
    return out


def long_functions(found: dict[str, Path], limit: int = LIMIT) -> list[tuple[str, int]]:
    """(module:function, lines) of every function longer than ``limit`` lines."""
    out = []
    for module, path in found.items():
        tree = parse(path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    out.append((f"{module}:{node.name}", length))
    return sorted(out, key=lambda x: -x[1])


def docstrings(found: dict[str, Path]) -> dict[str, tuple[int, int]]:
    """Public classes and public methods: (with a docstring, all)."""
    counts = {"classes": [0, 0], "methods": [0, 0]}
    for path in found.values():
        tree = parse(path)
        for node in tree.body:
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue
            counts["classes"][1] += 1
            counts["classes"][0] += ast.get_docstring(node) is not None
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not (
                    item.name.startswith("_")
                ):
                    counts["methods"][1] += 1
                    counts["methods"][0] += ast.get_docstring(item) is not None
    return {k: (v[0], v[1]) for k, v in counts.items()}


# A registry: the package that holds one module a member, and how to find its members.
REGISTRIES = {
    "signing schemes": "harness/schemes",
    "delivery fault families": "harness/inputs/delivery_faults",
}


def names_in_code(path: Path) -> set[str]:
    """Every name the code of a file uses: identifiers, attributes read, imported
    modules' parts and whole string literals; not comments or prose, nor methods
    called or keyword arguments (``frame.drop(...)``, ``reset_index(drop=True)``
    name no "drop" fault). Still a heuristic: a string or a variable may share a
    member's name and mean something else (an outcome "duplicate")."""
    called: set[int] = set()
    out: set[str] = set()
    # One walk: it is breadth-first, so a call is seen before the function it calls.
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Call):
            called.add(id(node.func))
        elif isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute) and id(node) not in called:
            out.add(node.attr)
        elif isinstance(node, ast.alias):
            out.update(node.name.split("."))
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.update(node.module.split("."))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.add(node.value)
    return out


def registry_touches(root: Path = ROOT) -> dict[str, dict[str, list[str]]]:
    """For each registry member, the files outside its package whose code names it
    (as an identifier, an attribute, an import or a string of its own)."""
    out: dict[str, dict[str, list[str]]] = {}
    sources = {p: names_in_code(p) for p in (root / PACKAGE).rglob("*.py")}
    for kind, folder in REGISTRIES.items():
        members = sorted(p.stem for p in (root / folder).glob("*.py") if not p.stem.startswith("_"))
        out[kind] = {
            member: sorted(
                str(p.relative_to(root))
                for p, names in sources.items()
                if (root / folder) not in p.parents and member in names
            )
            for member in members
        }
    return out


def facts() -> dict[str, object]:
    found = modules()
    edges = stage_edges(found)
    order = layers()
    return {
        "cycles": cycles(edges),
        "module_cycles": module_cycles(found),
        "lazy_cross_stage_imports": [asdict(i) for e in edges.values() for i in e if i.lazy],
        "upward_imports": [asdict(i) for i in upward(edges, order)],
        "layers": order,
        "long_functions": long_functions(found),
        "docstrings": docstrings(found),
        "registry_touches": registry_touches(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the facts as JSON")
    args = parser.parse_args(argv)
    found = facts()
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    print(f"cycles between stages: {found['cycles'] or 'none'}")
    print(f"cycles between modules (lazy imports included): {found['module_cycles'] or 'none'}")
    up = found["upward_imports"]
    print(f"upward imports: {len(up)}")  # type: ignore[arg-type]
    for imp in up[:20]:  # type: ignore[index]
        print(
            f"  {imp['source']}:{imp['line']} -> {imp['target']}{' (lazy)' if imp['lazy'] else ''}"
        )
    long = found["long_functions"]
    print(f"functions over {LIMIT} lines: {len(long)}")  # type: ignore[arg-type]
    for name, n in long:  # type: ignore[attr-defined]
        print(f"  {n:4d}  {name}")
    for kind, (have, total) in found["docstrings"].items():  # type: ignore[attr-defined]
        print(f"public {kind} with a docstring: {have}/{total} ({have / max(total, 1):.0%})")
    for kind, table in found["registry_touches"].items():  # type: ignore[attr-defined]
        print(
            f"{kind}: "
            + (
                ", ".join(f"{m} named in {len(f)} other files" for m, f in table.items())
                or "no registry yet"
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
