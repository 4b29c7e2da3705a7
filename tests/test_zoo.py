"""The zoo: mutants of the hardened workflow, one classic defect each.

Every defect has a module that says what it is, and a pilot whose short
`defect` scenario shows it. Three representative mutants are drilled here
(a duplicate, a retry storm, a lost update: one per family of invariants);
the no-key-memory-dedupe mutant is drilled in test_nemesis.py. All seven were
drilled by hand against their scenario, mutant and hardened side by side
(docs/workflows.md, "The zoo").
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from harness.drill import run_drill
from harness.inputs.pilot import load_pilot
from workflows.zoo import DEFECTS

REPO = Path(__file__).resolve().parents[1]
ISSUE_DEFECTS = {
    "key-per-attempt", "no-key-memory-dedupe", "early-update-dropped", "retry-after-ignored",
    "errors-swallowed", "memory-inbox", "blind-versions",
}  # fmt: skip


def test_every_defect_has_a_module_a_story_and_a_pilot() -> None:
    assert set(DEFECTS) == ISSUE_DEFECTS
    for defect, module_name in DEFECTS.items():
        module = importlib.import_module(f"workflows.zoo.{module_name}")
        assert callable(module.install)
        assert (module.__doc__ or "").startswith(f"{defect}: ")
        pilot = load_pilot(REPO / f"benchmarks/zoo/{defect}.toml")
        assert pilot.spec.workflow.env["ZOO_DEFECT"] == defect
        assert pilot.spec.workflow.command == ["python", "-m", "workflows.zoo"]
        assert pilot.scenario("defect").expect == "violation"
        # Everything else is order-sync's, with its paths still pointing there.
        assert set(pilot.spec.scenarios) > {"baseline", "partner-throttle", "defect"}
        assert pilot.resolve(pilot.spec.webhook.fixtures).is_file()


def test_an_unknown_defect_is_one_line_and_exit_2() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "ZOO_DEFECT": "typo"}
    done = subprocess.run(
        [sys.executable, "-m", "workflows.zoo"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("workflows.zoo: ZOO_DEFECT: unknown defect 'typo'")
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("defect", "caught_by"),
    [
        ("key-per-attempt", {"exactly_once"}),
        ("retry-after-ignored", {"retry_after_honoured", "call_budget"}),
        ("early-update-dropped", {"final_state"}),
    ],
)
async def test_a_mutant_is_caught_in_a_short_drill(
    defect: str, caught_by: set[str], tmp_path: Path
) -> None:
    drill = await run_drill(load_pilot(REPO / f"benchmarks/zoo/{defect}.toml"), "defect",
                            reports=tmp_path)  # fmt: skip
    broken = {r.name for r in drill.results if not r.ok}
    assert caught_by <= broken, [r.summary for r in drill.results]
