"""Evidence tied to the code under review.

Each run records the version of the workflow it drilled; a review judges the
runs of the workflow's code as it is now and names what it left out. The
version comes from git (the tree of the source folders, so an unrelated
commit keeps it) or from the files themselves.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.drill import run_drill
from harness.inputs.pilot import load_pilot
from harness.inputs.provenance import workflow_version
from harness.report import review as rv
from harness.report.analysis import load_runs, pilot_summary
from harness.report.selection import choose_runs
from tests.pilot_tree import pilot_tree

REPO = Path(__file__).resolve().parent.parent


def _meta(version: str = "", origin: str = "pilot") -> dict[str, Any]:
    return {"workflow_version": {"id": version} if version else None, "origin": origin}


def _runs(*specs: tuple[str, str]) -> list[tuple[Path, dict[str, Any]]]:
    return [(Path(f"r{i}"), _meta(v, o)) for i, (v, o) in enumerate(specs)]


def test_a_review_judges_the_current_version_and_names_the_rest() -> None:
    runs = _runs(("git:new", "pilot"), ("git:old", "pilot"), ("git:old", "pilot"), ("", "pilot"))
    choice = choose_runs(runs, "git:new")
    assert [p.name for p in choice.run_dirs] == ["r0"]
    assert choice.other_versions == {"git:old": 2, "none recorded": 1}
    assert choice.note == (
        "Judged: 1 run of workflow version git:new (its code as it is now); "
        "left out: 3 runs of 2 other versions (--all-versions)."
    )
    mixed = choose_runs(runs, "git:new", all_versions=True)
    assert len(mixed.run_dirs) == 4 and "2 workflow versions mixed" in mixed.note


def test_no_run_of_the_current_version_is_a_problem_not_an_empty_review() -> None:
    choice = choose_runs(_runs(("git:old", "pilot")), "git:new")
    assert choice.run_dirs == []
    assert choice.problem.startswith("no runs of the workflow as its code is now (git:new)")


def test_replayed_scenario_files_stay_out_of_the_evidence_unless_asked() -> None:
    runs = _runs(("git:v", "pilot"), ("git:v", "scenario-file"))
    choice = choose_runs(runs, "git:v")
    assert [p.name for p in choice.run_dirs] == ["r0"] and choice.replays == 1
    assert "1 replayed scenario file (--with-replays)" in choice.note
    assert len(choose_runs(runs, "git:v", with_replays=True).run_dirs) == 2


def test_runs_that_record_no_version_are_judged_together_and_said_so() -> None:
    choice = choose_runs(_runs(("", "pilot"), ("", "pilot")), "git:now")
    assert len(choice.run_dirs) == 2
    assert choice.note == "Judged: 2 runs, which record no workflow version."


def test_unreadable_code_falls_back_to_the_newest_runs_version() -> None:
    choice = choose_runs(_runs(("files:b", "pilot"), ("files:a", "pilot")), "", current_note="x")
    assert [p.name for p in choice.run_dirs] == ["r0"] and "the newest run's: x" in choice.note


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", *args],
        check=True, capture_output=True,
    )  # fmt: skip


def test_a_version_changes_with_the_code_and_only_with_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    code = repo / "flow"
    code.mkdir(parents=True)
    (code / "app.py").write_text("print('v1')\n")
    (repo / "README").write_text("elsewhere\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "one")
    first = workflow_version([code])
    assert first.method == "git" and first.id.startswith("git:") and not first.dirty

    (repo / "README").write_text("an unrelated change\n")
    _git(repo, "commit", "-qam", "two")
    assert workflow_version([code]).id == first.id  # another folder's commit keeps it

    (code / "app.py").write_text("print('v2')\n")
    edited = workflow_version([code])
    assert edited.dirty and edited.id != first.id and edited.id.startswith(first.id + "+")
    (code / "new.py").write_text("x = 1\n")
    assert workflow_version([code]).id not in {first.id, edited.id}  # untracked files count
    (code / "new.py").unlink()
    (code / "app.py").write_text("print('v1')\n")
    assert workflow_version([code]).id == first.id  # the same code, the same version

    plain = tmp_path / "plain"
    shutil.copytree(code, plain)
    (plain / "node_modules").mkdir()
    (plain / "node_modules" / "big.js").write_text("installed, not written here")
    files = workflow_version([plain])
    assert files.method == "files" and files.id.startswith("files:")
    (plain / "node_modules" / "big.js").write_text("reinstalled")
    assert workflow_version([plain]).id == files.id
    # A drill's run in reports/ (a scaffolded pilot's workflow runs in the repository's root).
    (plain / "reports" / "runs" / "r1").mkdir(parents=True)
    (plain / "reports" / "runs" / "r1" / "run.json").write_text("{}")
    assert workflow_version([plain]).id == files.id
    (plain / "app.py").write_text("print('v3')\n")
    assert workflow_version([plain]).id != files.id
    assert workflow_version([tmp_path / "gone"]).id == "unknown"


@pytest.mark.slow
def test_a_review_after_a_fix_judges_the_fixed_code(tmp_path: Path) -> None:
    """Errors swallowed (a lost event), then fixed: the review judges only the fix."""
    code = tmp_path / "code"
    shutil.copytree(
        REPO / "workflows",
        code / "workflows",
        ignore=shutil.ignore_patterns("node_modules", "__pycache__", ".node-red"),
    )
    defect = code / "workflows" / "zoo" / "errors_swallowed.py"
    # A pilot extends only inside its tree: a copy of pilots/ beside the code.
    pilot_file = pilot_tree(tmp_path) / "pilot.toml"
    pilot_file.write_text(
        'extends = "order-sync.toml"\n'
        '[pilot]\nname = "fixed-later"\n'
        '[workflow]\ncommand = ["python", "-m", "workflows.zoo"]\n'
        f'cwd = "{code}"\nsource = ["../code/workflows/zoo"]\n'
        '[workflow.env]\nZOO_DEFECT = "errors-swallowed"\n'
        "[scenarios.blip]\n"
        "delivery = { events = [0, 1, 2], rate = 10, concurrency = 1 }\n"
        "partner = { bursts = [{ status = 503, requests = [1] }] }\n"
    )
    reports = tmp_path / "reports"
    broken = asyncio.run(run_drill(load_pilot(pilot_file), "blip", reports=reports))
    assert not broken.ok, "the defect was not caught: the test proves nothing"
    defect.write_text(
        "def install(app: object) -> None:\n    pass  # fixed: retry as hardened does\n"
    )
    fixed = asyncio.run(run_drill(load_pilot(pilot_file), "blip", reports=reports))
    assert fixed.ok, [r.summary for r in fixed.results if not r.ok]

    inputs = rv.review_inputs(pilot_file=str(pilot_file), reports=reports)
    assert inputs.run_dirs == [fixed.run_dir]
    assert "left out: 1 run of 1 other version (--all-versions)" in inputs.evidence_note
    lost = pilot_summary(load_runs(inputs.run_dirs), inputs.economics, inputs.thresholds)
    assert lost["measured"]["lost"] == 0
    both = rv.review_inputs(pilot_file=str(pilot_file), reports=reports, all_versions=True)
    mixed = pilot_summary(load_runs(both.run_dirs), both.economics, both.thresholds)
    assert len(both.run_dirs) == 2 and mixed["measured"]["lost"] >= 1
