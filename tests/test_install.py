"""chaoslab as a team uses it: the built wheel, a fresh virtualenv, an empty folder.

Follows the README's "Use it in your repository" section word by word: its
shell lines run as written, with ``$CHAOSLAB`` set to the wheel built here
(from an sdist of the package's own files, so the sdist is proven too). The
virtualenv is new and holds the wheel's files; the wheel's dependencies are
this checkout's, made visible through a path file rather than downloaded, so
the test needs no network (pip runs with PIP_NO_INDEX). Between the README's
two blocks the test does what the prose asks: it drops in a one-file
workflow (tests/data/install/service.py), its captured deliveries, and fills
in the pilot's `command`.

Everything is written under tmp_path (HOME and TMPDIR point there too), and
the checkout is compared before and after: nothing in it may change.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

import harness

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "install"
# What an sdist is built from: the package's own files and what pyproject.toml names.
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE")
SOURCE_DIRS = ("harness", "notebooks", "docs")
# Caches and scratch that tools keep in a checkout; everything else must stay as it was.
UNWATCHED = {
    *(".git", ".venv", ".venv-lab", ".hypothesis", ".pytest_cache", ".mypy_cache", ".ruff_cache"),
    "node_modules",  # Node-RED's install, thousands of files no chaoslab command writes
    "test-artifacts",  # reports/test-artifacts: screenshots other tests of this suite save
}
TIMEOUT_S = 240


def readme_blocks() -> tuple[list[str], list[str], str]:
    """The section's two shell blocks (lines) and its prose."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Use it in your repository\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2, "the section has an install block and a drill block"
    first, second = ([ln for ln in b.splitlines() if ln.strip()] for b in blocks)
    return first, second, section


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file of the checkout (outside caches) with its size and modification time."""
    found: dict[str, tuple[int, int]] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in UNWATCHED and d != "__pycache__"]
        for name in files:
            path = Path(folder, name)
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            found[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return found


def run(argv: list[str] | str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        shell=isinstance(argv, str),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


# The PEP 517 hooks pip would call (setuptools from this venv, so nothing is
# downloaded): the sdist of the copy, then the wheel from the unpacked sdist.
BUILD = """
import pathlib, sys, tarfile
from setuptools import build_meta
out = pathlib.Path(sys.argv[1])
sdist = out / build_meta.build_sdist(str(out))
with tarfile.open(sdist) as tar:
    tar.extractall(out / "unpacked", filter="data")
(tree,) = (out / "unpacked").iterdir()
import os; os.chdir(tree)
print(sdist, out / build_meta.build_wheel(str(out)))
"""


def build_wheel(tmp: Path, env: dict[str, str]) -> tuple[Path, list[str]]:
    """A wheel built from an sdist of a copy of the package's files; also the sdist's names."""
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        shutil.copy2(REPO / name, src / name)
    for name in SOURCE_DIRS:
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp / "dist"
    dist.mkdir()
    sdist, wheel = run([sys.executable, "-c", BUILD, str(dist)], src, env).stdout.split()[-2:]
    with tarfile.open(sdist) as tar:
        return Path(wheel), tar.getnames()


def fresh_venv(tmp: Path, env: dict[str, str]) -> Path:
    """A new virtualenv; this checkout's installed dependencies, minus chaoslab, on its path."""
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp, env)
    deps = tmp / "deps"
    deps.mkdir()
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        if entry.name.startswith(("chaoslab", "__editable__", "harness")) or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry)
    site = Path(
        run(
            [
                str(venv / "bin/python"),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            tmp,
            env,
        ).stdout.strip()
    )
    (site / "_chaoslab_test_deps.pth").write_text(f"{deps}\n")
    # What installing pip and the dependencies would also have put in the venv:
    # their Jupyter data (kernel spec, nbconvert templates) and two scripts.
    share = venv / "share" / "jupyter"
    share.mkdir(parents=True)
    for entry in (Path(sys.prefix) / "share" / "jupyter").iterdir():
        (share / entry.name).symlink_to(entry)
    for name, main in (("pip", "pip._internal.cli.main:main"), ("pytest", "pytest:console_main")):
        module, func = main.split(":")
        script = venv / "bin" / name
        script.write_text(
            f"#!{venv / 'bin/python'}\nimport sys\nfrom {module} import {func}\n"
            f"sys.exit({func}())\n"
        )
        script.chmod(0o755)
    return venv


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S)
def test_a_team_installs_the_wheel_and_follows_the_readme(tmp_path: Path) -> None:
    install, commands, prose = readme_blocks()
    assert install == ['pip install "$CHAOSLAB" pytest', "chaoslab init"], install
    assert commands == [
        "chaoslab drill pilots/example.toml",
        "chaoslab review example",
        "pytest --pilots pilots/",
    ], commands
    for asked in ("`EDIT`", "`command`", "`fixtures/example/events.jsonl`"):
        assert asked in prose, asked
    before = snapshot(REPO)
    started = time.perf_counter()
    took: dict[str, float] = {}

    def lap(step: str) -> None:
        took[step] = round(time.perf_counter() - started - sum(took.values()), 1)

    home, scratch = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    scratch.mkdir()
    base = {
        "HOME": str(home),
        "TMPDIR": str(scratch),
        "LANG": "C.UTF-8",
        "PATH": "/usr/bin:/bin",
        "PIP_NO_INDEX": "1",  # everything pip needs is here; it must not look elsewhere
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    wheel, in_sdist = build_wheel(tmp_path, base)
    assert [n for n in in_sdist if n.endswith("/notebooks/pilot_review.py")], in_sdist
    lap("sdist, then wheel")
    with zipfile.ZipFile(wheel) as zf:
        shipped = set(zf.namelist())
    for notebook in (REPO / "notebooks").glob("*.py"):
        assert f"harness/notebooks/{notebook.name}" in shipped, notebook.name
    assert "harness/scaffold/templates/example.toml" in shipped
    assert not [n for n in shipped if n.startswith(("tests/", "workflows/", "pilots/"))]

    venv = fresh_venv(tmp_path, base)
    lap("venv")
    team = tmp_path / "team"
    team.mkdir()
    env = {**base, "PATH": f"{venv / 'bin'}:{base['PATH']}", "VIRTUAL_ENV": str(venv)}
    env["CHAOSLAB"] = str(wheel)
    for line in install:
        done = run(line, team, env)
        lap(line)
    assert f"next: commit the chaoslab wheel as ci/{wheel.name} for CI" in done.stdout
    where = "import harness.inputs.notebooks as n; print(n.__file__); print(n.builtin_dir())"
    found = run(["python", "-c", where], team, env).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in found), found  # the wheel's files run
    version = run(["chaoslab", "--version"], team, env).stdout.strip()
    assert version == f"chaoslab {harness.__version__}"
    refused = subprocess.run(
        ["chaoslab", "init"], cwd=team, env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2 and "already exists" in refused.stderr, refused
    assert (team / ".gitignore").is_file()

    # What CI installs: the wheel this chaoslab came from, committed where the comment says.
    requirements = (team / "requirements-chaoslab.txt").read_text(encoding="utf-8")
    assert f"./ci/{wheel.name}" in requirements.splitlines(), requirements
    assert str(wheel) in requirements  # the comment names the wheel to commit
    missing = subprocess.run(
        ["pip", "install", "-r", "requirements-chaoslab.txt"],
        cwd=team, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert missing.returncode != 0 and wheel.name in missing.stderr, missing
    shutil.copy(wheel, team / "ci" / wheel.name)
    run(["pip", "install", "-r", "requirements-chaoslab.txt"], team, env)  # no index at all
    lap("CI's install line")

    # What the prose asks: the team's workflow, its captures, and the command.
    shutil.copy(DATA / "service.py", team / "service.py")
    shutil.copy(DATA / "events.jsonl", team / "fixtures" / "example" / "events.jsonl")
    pilot = team / "pilots" / "example.toml"
    text, filled = re.subn(
        r"^command = \[[^\]]*\]",
        'command = ["python", "service.py"]',
        pilot.read_text(encoding="utf-8"),
        count=1,
        flags=re.M,
    )
    assert filled == 1
    pilot.write_text(text, encoding="utf-8")

    outputs = []
    for line in commands:
        outputs.append(run(line, team, env))
        lap(line)
    print(f"wheel {wheel.stat().st_size / 1024:.0f} KiB, {len(shipped)} files; seconds: {took}")
    review = (team / "reports" / "example" / "pilot_review.html").read_text(encoding="utf-8")
    verdict = re.search(r"Verdict: ([A-Z][A-Z ]*[A-Z])", review)
    assert verdict, "the review names its verdict"
    assert verdict.group(1) in outputs[1].stdout
    if verdict.group(1) not in ("PROMOTE", "REFACTOR", "RETIRE"):
        # A dozen drilled events are too few for any verdict: the review names the
        # scaffold's threshold, the number a flawless record needs to promote.
        assert "268" in review, review
    assert " 1 passed" in outputs[2].stdout, outputs[2].stdout
    # `pytest --pilots` keeps its run in reports/, beside the drill's, for CI's artifact.
    assert len(list((team / "reports" / "runs").iterdir())) == 2

    assert snapshot(REPO) == before, "the checkout changed"
    written = {p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*")}
    assert written <= {"src", "dist", "deps", "venv", "team", "home", "tmp"}, written
    # Outside the team's folder: only the kernel's caches in HOME, and pytest's
    # own temp folder.
    caches = (".cache/matplotlib/", ".config/matplotlib/", ".ipython/")
    in_home = [str(p.relative_to(home)) for p in home.rglob("*") if not p.is_dir()]
    assert [p for p in in_home if not p.startswith(caches)] == [], in_home
    in_tmp = [p.relative_to(scratch) for p in scratch.rglob("*") if not p.is_dir()]
    assert [p for p in in_tmp if not p.parts[0].startswith("pytest-of-")] == [], in_tmp
