"""`chaoslab init`, `chaoslab --version` and a pilot's own review notebooks, on plain files.

The end-to-end proof (the built wheel, a fresh virtualenv, a real drill and
review) is tests/test_install.py; these are the cheap checks around it.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import harness
from harness.cli import main
from harness.inputs import notebooks
from harness.inputs.pilot import PilotError, load_pilot
from harness.report.review import ReviewError, execute_notebook, notebooks_of
from harness.report.verdict import Thresholds, transactions_needed
from harness.scaffold import LAYOUT, init_layout
from harness.scaffold.install_source import installed_origin, requirement


def chaoslab(
    *args: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["chaoslab", *args])
    with pytest.raises(SystemExit) as done:
        main()
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def test_init_writes_the_layout_and_lists_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = chaoslab("init", str(tmp_path / "team"), capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0
    for rel in LAYOUT:
        assert (tmp_path / "team" / rel).is_file(), rel
        assert f"created {tmp_path / 'team' / rel}" in out
    ignored = (tmp_path / "team" / "reports" / ".gitignore").read_text().splitlines()
    assert "*" in ignored and "!.gitignore" in ignored
    requirements = (tmp_path / "team" / "requirements-chaoslab.txt").read_text()
    comments, line = requirement(installed_origin(), harness.__version__)
    assert requirements.splitlines()[-2:] == [line, "pytest>=8"]
    assert all(c in requirements for c in comments)
    assert f"created {tmp_path / 'team' / '.gitignore'}" in out
    assert ".pytest_cache/" in (tmp_path / "team" / ".gitignore").read_text().splitlines()
    for ci in (".github/workflows/chaoslab.yml", "ci/chaoslab.gitlab-ci.yml"):
        text = (tmp_path / "team" / ci).read_text()
        assert "pytest --pilots pilots/" in text and "reports/" in text, ci


def test_init_refuses_to_overwrite_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pilots").mkdir()
    (tmp_path / "pilots" / "example.toml").write_text("# ours\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = chaoslab("init", capsys=capsys, monkeypatch=monkeypatch)
    assert code == 2 and out == ""
    assert err.strip() == "chaoslab: pilots/example.toml: already exists; nothing was written"
    assert (tmp_path / "pilots" / "example.toml").read_text() == "# ours\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["example.toml", "pilots"]


def test_init_keeps_a_teams_own_gitignore_and_names_what_it_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/\n.venv\n")
    code, out, _ = chaoslab("init", str(tmp_path), capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0
    assert (tmp_path / ".gitignore").read_text() == "node_modules/\n.venv\n"
    assert (
        f"kept {tmp_path / '.gitignore'}; you may add: "
        "__pycache__/ .pytest_cache/ .hypothesis/ .ipynb_checkpoints/"
    ) in out.splitlines()


WHEEL = "chaoslab-0.1.0-py3-none-any.whl"


@pytest.mark.parametrize(
    ("origin", "line"),
    [
        (None, "chaoslab==0.1.0"),  # from an index: the team has that index
        ({"url": "https://git.example.com/lab/chaoslab.git",
          "vcs_info": {"vcs": "git", "commit_id": "ab12"}},
         "chaoslab @ git+https://git.example.com/lab/chaoslab.git@ab12"),
        ({"url": f"https://files.example.com/{WHEEL}", "archive_info": {}},
         f"chaoslab @ https://files.example.com/{WHEEL}"),
        ({"url": f"file:///home/ana/dist/{WHEEL}", "archive_info": {}}, f"./ci/{WHEEL}"),
        ({"url": "file:///home/ana/chaoslab", "dir_info": {"editable": True}}, f"./ci/{WHEEL}"),
    ],
)  # fmt: skip
def test_ci_installs_chaoslab_the_way_it_was_installed(
    origin: dict[str, object] | None, line: str
) -> None:
    """Never a pin CI cannot resolve: a path on this machine becomes a wheel committed in ci/."""
    comments, got = requirement(origin, "0.1.0")
    assert got == line
    assert all(c.startswith("# ") for c in comments) and "EDIT" in "".join(comments)
    if got.startswith("./ci/"):
        assert "/home/ana/" in "".join(comments)  # says which wheel to commit, or build from


def test_the_example_pilots_evidence_threshold_is_what_a_flawless_record_needs(
    tmp_path: Path,
) -> None:
    """Below min_txns: no verdict. Above it a flawless record must be able to promote, so
    min_txns is exactly where the success rate's lower bound first reaches slo_target."""
    init_layout(tmp_path)
    pilot = load_pilot(tmp_path / "pilots" / "example.toml")
    rule = pilot.spec.thresholds.thresholds()
    needed = transactions_needed(1.0, rule.slo_target)
    assert rule.min_txns == needed
    assert transactions_needed(1.0, Thresholds().slo_target) == needed  # the rule's own default
    # The comment's figures are the rule's, and "11 here" is the example's event count.
    text = (tmp_path / "pilots" / "example.toml").read_text()
    events = (tmp_path / "fixtures" / "example" / "events.jsonl").read_text().splitlines()
    assert f"({len(events)} here" in text
    assert f"--volume {needed}`" in text  # the drill that would supply the evidence
    for target in (0.98, 0.95):
        assert f"{target:.2f} needs {transactions_needed(1.0, target)}" in text


def test_init_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "ci").write_text("not a folder\n")
    with pytest.raises(RuntimeError, match=r"ci/chaoslab.gitlab-ci.yml: a file is in the way"):
        init_layout(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["ci"]


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): p.read_text() if p.is_file() else "/"
        for p in sorted(folder.rglob("*"))
    }


def test_init_that_cannot_write_one_file_takes_back_the_others_and_can_run_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".github").mkdir()  # the team's own, with something in it: kept
    (tmp_path / ".github" / "CODEOWNERS").write_text("* @team\n")
    before = _tree(tmp_path)
    real_open = Path.open

    def read_only_ci(self: Path, *args: Any, **kwargs: Any) -> Any:
        # The last file of the layout, in a folder init may not write (as when it is
        # read-only; the tests may run as root, who could write there anyway).
        if self.parent.name == "ci":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.chdir(tmp_path)
    with monkeypatch.context() as patched:
        patched.setattr(Path, "open", read_only_ci)
        code, out, err = chaoslab("init", capsys=capsys, monkeypatch=monkeypatch)
    assert code == 2 and out == ""
    assert err.strip() == (
        "chaoslab: ci/chaoslab.gitlab-ci.yml: cannot write (Permission denied); nothing was written"
    )
    assert _tree(tmp_path) == before  # was: 5 of 6 files written, and init refused ever after
    code, _, _ = chaoslab("init", capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0
    assert all((tmp_path / rel).is_file() for rel in LAYOUT)
    assert (tmp_path / ".github" / "CODEOWNERS").read_text() == "* @team\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_init_into_a_read_only_folder_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci").chmod(0o555)
    try:
        with pytest.raises(RuntimeError, match=r"cannot write .*; nothing was written"):
            init_layout(tmp_path)
        assert [p.name for p in tmp_path.rglob("*")] == ["ci"]
    finally:
        (tmp_path / "ci").chmod(0o755)


def test_version_is_the_package_version(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = chaoslab("--version", capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and out == f"chaoslab {harness.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+", harness.__version__)


def test_the_example_pilot_loads_and_its_commented_scenarios_too(tmp_path: Path) -> None:
    init_layout(tmp_path)
    pilot = load_pilot(tmp_path / "pilots" / "example.toml")
    assert pilot.name == "example" and list(pilot.spec.scenarios) == ["duplicates"]
    assert pilot.spec.webhook.secret_env and "{secret}" in pilot.spec.workflow.env.values()
    # The bad days offered as comments must load once uncommented.
    text = (tmp_path / "pilots" / "example.toml").read_text()
    uncommented = re.sub(
        r"^# (\[scenarios\.|description|delivery|partner|toxics)", r"\1", text, flags=re.M
    )
    (tmp_path / "pilots" / "more.toml").write_text(uncommented)
    more = load_pilot(tmp_path / "pilots" / "more.toml")
    assert list(more.spec.scenarios) == ["duplicates", "partner-errors", "partner-slow"]


PILOT_TAIL = """
[review]
notebooks = {notebooks}
"""


def with_review(tmp_path: Path, entries: list[str]) -> Path:
    init_layout(tmp_path)
    path = tmp_path / "pilots" / "example.toml"
    path.write_text(path.read_text() + PILOT_TAIL.format(notebooks=entries).replace("'", '"'))
    return path


def test_a_pilot_runs_its_own_notebook_beside_ours(tmp_path: Path) -> None:
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "latency.py").write_text("# %%\nprint(pilot)\n")
    path = with_review(tmp_path, ["pilot_review", "../analysis/latency.py"])
    assert load_pilot(path).spec.review.notebooks == ["pilot_review", "../analysis/latency.py"]
    assert notebooks_of(path.resolve()) == [
        ("pilot_review", None),
        ("latency", (tmp_path / "analysis" / "latency.py").resolve()),
    ]
    assert notebooks_of(None) == [("drill_analysis", None), ("pilot_review", None)]


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        (["drill_analysis"], "pilot_review must be listed: it writes the verdict"),
        (["pilot_review", "no_such"], "no_such: no such notebook in chaoslab (ours: "),
        (["pilot_review", "../mine.py"], "../mine.py: no such file "),
        (["pilot_review", "../mine.txt/"], "a notebook is a .py (jupytext) or .ipynb file"),
        # Its stem names <stem>.html and .ipynb in the review's folder: the name rule.
        (["pilot_review", "../a{b}.py"], "../a{b}.py: not a safe name ("),
        (["pilot_review", "../.hidden.py"], "../.hidden.py: not a safe name ("),
        (["pilot_review", "pilot_review"], "a second notebook named 'pilot_review'"),
        ([], "[review] notebooks: List should have at least 1 item"),
    ],
)
def test_review_notebooks_are_checked_on_load(
    tmp_path: Path, entries: list[str], problem: str
) -> None:
    path = with_review(tmp_path, entries)
    with pytest.raises(PilotError) as caught:
        load_pilot(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: [review] notebooks") and problem in message, message
    assert "\n" not in message


def test_our_notebooks_come_from_the_package(tmp_path: Path) -> None:
    folder = notebooks.builtin_dir()  # the checkout's notebooks/, installed as harness.notebooks
    assert (folder / "__init__.py").is_file() and (folder / "pilot_review.py").is_file()
    assert {"drill_analysis", "pilot_review"} <= set(notebooks.builtin_names())
    with pytest.raises(ReviewError, match="no such notebook in chaoslab"):
        notebooks_of(with_review(tmp_path, ["pilot_review", "nope"]).resolve())


@pytest.mark.slow
def test_a_pilots_own_notebook_runs_in_its_folder_with_the_review_parameters(
    tmp_path: Path,
) -> None:
    mine = tmp_path / "analysis" / "mine.py"
    mine.parent.mkdir()
    mine.write_text(
        '# %% tags=["parameters"]\npilot = ""\nrun_dirs = []\npilot_file = ""\n'
        "# %%\nimport pathlib\n"
        'pathlib.Path("seen.txt").write_text(repr((pilot, run_dirs, pilot_file)))\n'
    )
    out = tmp_path / "reports" / "example"
    out.mkdir(parents=True)
    params = {"pilot": "example", "run_dirs": ["/runs/a"], "pilot_file": "/p/example.toml"}
    executed = execute_notebook("mine", params, out, source=mine)
    assert executed == out / "mine.ipynb" and executed.is_file()
    assert (mine.parent / "seen.txt").read_text() == repr(tuple(params.values()))
