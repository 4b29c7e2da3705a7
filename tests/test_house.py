"""The house as docs/architecture.md draws it, read from the code by tools/house.py.

Data flows one way: a stage imports only stages in lower layers, no two
stages import each other, ``harness.inputs`` (the leaf every stage reads)
imports nothing of the engine, and a signing scheme is named only in its own
module of ``harness.schemes``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import house

LAYERS = house.layers()
Edges = dict[tuple[str, str], list[house.Import]]
# One worker parses the harness once for all of these.
pytestmark = pytest.mark.xdist_group("house")


# Read on first use, not at import: every xdist worker imports this module to
# collect it, and parsing the whole harness there cost each of them a second.
@pytest.fixture(scope="module")
def modules() -> dict[str, Path]:
    return house.modules()


@pytest.fixture(scope="module")
def edges(modules: dict[str, Path]) -> Edges:
    return house.stage_edges(modules)


def _shown(imports: list[house.Import]) -> str:
    return "; ".join(
        f"{i.source}:{i.line} -> {i.target}{' (lazy)' if i.lazy else ''}" for i in imports
    )


def test_no_cycle_between_stages(edges: Edges) -> None:
    found = house.cycles(edges)
    assert found == [], f"stages importing each other: {found}"


def test_no_stage_imports_a_later_one(edges: Edges) -> None:
    up = house.upward(edges, LAYERS)
    assert up == [], f"imports against docs/architecture.md's layers: {_shown(up)}"


def test_inputs_imports_only_standalone_packages(edges: Edges) -> None:
    # Stricter than the layers: inputs sits in layer 1 beside journal and
    # runtime, but reads nothing of them; only layer 0 (partner, proxy, schemes, ...).
    reached = {b: found for (a, b), found in edges.items() if a == "inputs"}
    beyond = [i for b, found in reached.items() if LAYERS.get(b) != 0 for i in found]
    assert reached, "inputs imports nothing at all: the import graph was not read"
    assert beyond == [], f"inputs reaches into the engine: {_shown(beyond)}"


def test_standalone_packages_import_nothing_else_of_harness(edges: Edges) -> None:
    # The walls: partner, proxy and schemes (and the other layer-0 modules) stand alone.
    standalone = {name for name, layer in LAYERS.items() if layer == 0}
    assert {"partner", "proxy", "schemes"} <= standalone
    crossing = [i for (a, _), found in edges.items() if a in standalone for i in found]
    assert crossing == [], f"a standalone package imports harness: {_shown(crossing)}"


def test_the_checks_can_fail() -> None:
    # A cycle and an upward import drawn by hand are found, so an empty answer above means none.
    a_to_b = house.Import("harness.a.x", "harness.b.y", 1, lazy=False)
    b_to_a = house.Import("harness.b.y", "harness.a.x", 2, lazy=True)
    edges = {("a", "b"): [a_to_b], ("b", "a"): [b_to_a]}
    assert house.cycles(edges) == [["a", "b"]]
    assert house.upward(edges, {"a": 1, "b": 2}) == [a_to_b]
    assert house.upward(edges, {"a": 1}) == [a_to_b, b_to_a]  # an unlisted stage is suspect


def test_every_stage_has_a_layer(modules: dict[str, Path]) -> None:
    stages = {house.stage(m) for m in modules}
    assert stages - set(LAYERS) == set()


def test_signing_schemes_are_named_only_in_their_own_modules() -> None:
    touches = house.registry_touches()["signing schemes"]
    assert set(touches) == {"stripe", "standard", "github", "shopify"}
    named = {scheme: files for scheme, files in touches.items() if files}
    assert named == {}, f"outside harness/schemes: {named}"


@pytest.mark.parametrize(
    "source,named",
    [
        ('SCHEMES = ("stripe", "shopify")\n', True),
        ("from harness.schemes import shopify\n", True),
        ("import harness.schemes\nx = harness.schemes.shopify\n", True),
        ("shopify = 1\n", True),
        ('x = "written to shopify-like standard output"  # the shopify scheme, .shopify/\n', False),
        ('"""Signs like shopify does."""\n', False),
        ("shopifyish = 1\n", False),
    ],
)
def test_a_scheme_is_named_in_code_not_in_prose(tmp_path: Path, source: str, named: bool) -> None:
    # The check above would pass on nothing if the name search found nothing ever.
    path = tmp_path / "module.py"
    path.write_text(source)
    assert ("shopify" in house.names_in_code(path)) is named


def test_no_function_over_80_lines(modules: dict[str, Path]) -> None:
    long = house.long_functions(modules)
    assert long == [], f"functions over {house.LIMIT} lines: {long}"
