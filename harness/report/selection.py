"""Which runs a review judges: the workflow as it is now, drilled on the pilot's own scenarios.

Every run records the version of the workflow it drilled (``workflow_version``
in run.json, see ``harness.inputs.provenance``) and where its scenario came
from (``origin``). A review of a workflow that was fixed must not average in
the runs of the broken one, and a hunt's counterexample replayed with
``drill --scenario-file`` is a regression case for engineers, not a scenario
of the pilot a PM's verdict should weigh. So by default a review keeps the
runs of the workflow's current version from the pilot's own scenarios, and
says what it left out; ``--all-versions`` and ``--with-replays`` take the rest
back in. ``choose_runs`` is pure: it reads run metadata handed to it.

``review_inputs`` resolves what a review starts from (the pilot, its
settings, the runs) from the reports folder, and ``select_runs`` lists a
pilot's finished runs there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checks.slo import SloTargets
from harness.cli_support import shown
from harness.history.store import production_imports
from harness.inputs.pilot import Pilot, PilotError, load_pilot
from harness.inputs.provenance import workflow_version
from harness.journal import JournalError, list_runs, pilot_name, read_meta
from harness.places import UnsafeName, check_name
from harness.report.economics import EconomicsConfig
from harness.report.errors import ReviewError
from harness.report.verdict import Thresholds

__all__ = [
    "ReviewInputs",
    "RunChoice",
    "choose_runs",
    "is_pilot_file",
    "review_inputs",
    "select_runs",
    "version_of",
]

# A source checkout's root, for its pilots/ (installed, this is site-packages: none there).
# The notebooks are found through the package (harness/inputs/notebooks.py), never here.
REPO = Path(__file__).resolve().parents[2]
REPLAY = "scenario-file"  # a run's origin when it replayed a scenario file (a hunt's)


def version_of(meta: Mapping[str, Any]) -> str:
    """The workflow version a run recorded ("" for runs made before runs recorded one)."""
    block = meta.get("workflow_version")
    found = block.get("id") if isinstance(block, Mapping) else None
    return str(found) if found and found != "unknown" else ""


def _short(version: str) -> str:
    kind, _, rest = version.partition(":")
    return f"{kind}:{rest[:8]}{'+changes' if '+' in rest else ''}" if rest else version


@dataclass(frozen=True)
class RunChoice:
    """The runs a review judges, and a sentence on what it judged and left out."""

    run_dirs: list[Path]
    version: str  # the workflow version judged; "" when the runs record none
    note: str
    other_versions: dict[str, int] = field(default_factory=dict)  # version -> runs left out
    replays: int = 0  # replayed scenario files left out
    problem: str = ""  # why no run could be judged, when none is


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def choose_runs(
    runs: Sequence[tuple[Path, Mapping[str, Any]]],
    current: str,
    *,
    all_versions: bool = False,
    with_replays: bool = False,
    current_note: str = "",
) -> RunChoice:
    """Pick from ``runs`` (newest first, with their run.json) those of version ``current``.

    ``current`` is the version of the workflow's code now ("" when it could
    not be read: ``current_note`` says why, and the newest run's version is
    judged instead).
    """
    replays = [r for r in runs if r[1].get("origin") == REPLAY]
    pool = list(runs) if with_replays else [r for r in runs if r[1].get("origin") != REPLAY]
    recorded = [version_of(meta) for _, meta in pool]
    left: list[str] = []
    if replays and not with_replays:
        left.append(f"{_plural(len(replays), 'replayed scenario file')} (--with-replays)")
    if all_versions or not any(recorded):
        kept = pool
        versions = Counter(v for v in recorded if v)
        chosen, others = (next(iter(versions)) if len(versions) == 1 else ""), {}
        if len(versions) > 1:
            what = f"{_plural(len(kept), 'run')} of {len(versions)} workflow versions mixed"
        elif versions:
            what = f"{_plural(len(kept), 'run')} of workflow version {_short(chosen)}"
        else:
            what = f"{_plural(len(kept), 'run')}, which record no workflow version"
    else:
        chosen = current if current else next(v for v in recorded if v)
        kept = [r for r, v in zip(pool, recorded, strict=True) if v == chosen]
        others = dict(Counter(v or "none recorded" for v in recorded if v != chosen))
        what = f"{_plural(len(kept), 'run')} of workflow version {_short(chosen)}" + (
            " (its code as it is now)" if current else f" (the newest run's: {current_note})"
        )
        if others:
            n = sum(others.values())
            left.append(
                f"{_plural(n, 'run')} of {_plural(len(others), 'other version')} (--all-versions)"
            )
    note = f"Judged: {what}" + (f"; left out: {'; '.join(left)}." if left else ".")
    problem = ""
    if not kept:
        problem = f"no runs of the workflow as its code is now ({_short(chosen)}); " + (
            "; ".join(left) or "no runs at all"
        )
    return RunChoice(
        run_dirs=[p for p, _ in kept],
        version=chosen,
        note=note,
        other_versions=others,
        replays=0 if with_replays else len(replays),
        problem=problem,
    )


# ---------------------------------------------------------------- a review's runs and pilot


def _pilot_file_of(name: str, run_dirs: Sequence[Path]) -> Path | None:
    """The pilot file the newest run names, else pilots/<name>.toml next to the repo."""
    for run_dir in run_dirs:
        try:
            meta = read_meta(run_dir)
        except JournalError:
            continue
        block = meta.get("pilot")
        path = block.get("path") if isinstance(block, Mapping) else None
        if isinstance(path, str) and Path(path).is_file():
            return Path(path).resolve()
    for guess in (Path("pilots") / f"{name}.toml", REPO / "pilots" / f"{name}.toml"):
        if guess.is_file():
            return guess.resolve()
    return None


def _unknown_pilot(name: str, reports: Path) -> str:
    """Why a pilot name leads nowhere, and the names that would."""
    known: set[str] = set()
    for run_dir in list_runs(reports / "runs"):
        try:
            known.add(pilot_name(read_meta(run_dir)) or "")
        except JournalError:
            continue
    for folder in (Path("pilots"), REPO / "pilots"):
        known.update(p.stem for p in folder.glob("*.toml"))
    known.discard("")
    choices = f"known pilots: {', '.join(sorted(known))}" if known else "no pilots found"
    return (
        f"unknown pilot {name!r}: no runs of it in {reports / 'runs'} and no "
        f"pilots/{name}.toml; {choices} (or pass a pilot file)"
    )


def _check_pilot_name(name: str) -> None:
    """A pilot name becomes a folder and a notebook parameter: refuse one off the rule."""
    if name:
        try:
            check_name(name)
        except UnsafeName as exc:
            raise ReviewError(f"pilot name: {exc}") from None


def is_pilot_file(pilot: str | Path) -> bool:
    """Whether ``pilot`` names a pilot file (a .toml or an existing file) rather than a pilot."""
    return str(pilot).endswith(".toml") or Path(pilot).is_file()


def select_runs(name: str, reports: Path, runs: int | None = None) -> list[Path]:
    """The pilot's finished runs under ``reports/runs``, newest first (at most ``runs``).

    Runs in flight, and runs that errored, were interrupted or were killed, are
    left out: their unsent events would count against the workflow.
    """
    if runs is not None and runs < 1:
        raise ReviewError(f"--runs: must be at least 1, got {runs}")
    found = []
    for path in list_runs(reports / "runs", pilot=name):
        try:
            status = read_meta(path).get("status")
        except JournalError:
            continue
        if status == "finished":
            found.append(path)
    return found[:runs] if runs else found


@dataclass(frozen=True)
class ReviewInputs:
    """What both notebooks start from: the pilot, its settings and the runs to read."""

    pilot: str
    pilot_file: Path | None
    run_dirs: list[Path]
    economics: EconomicsConfig
    thresholds: dict[str, float]
    slo: SloTargets
    # Thresholds the pilot file sets (the rest are the rule's defaults).
    pilot_thresholds: dict[str, float] = field(default_factory=dict)
    # The pilot's production imports (`chaoslab history import`), newest first.
    history_dirs: list[Path] = field(default_factory=list)
    # Which workflow version was judged, and what was left out (selection.choose_runs).
    evidence_note: str = ""
    # The [economics] settings the pilot file sets; the rest are the lab's defaults.
    economics_declared: frozenset[str] = frozenset()
    scenario_count: int = 0  # the pilot file's scenarios: what one `chaoslab drill` runs


def review_inputs(
    pilot: str = "",
    reports: str | Path = "reports",
    run_dirs: Sequence[str | Path] = (),
    pilot_file: str | Path = "",
    runs: int | None = None,
    *,
    all_versions: bool = False,
    with_replays: bool = False,
    evidence_note: str = "",
) -> ReviewInputs:
    """Resolve a notebook's parameters: explicit run folders, or the pilot's runs.

    Without explicit folders the pilot's finished runs are chosen by
    ``selection.choose_runs``: those of the workflow's code as it is now, from
    the pilot's own scenarios (``all_versions``, ``with_replays``: the rest too).
    """
    reports = Path(reports)
    if runs is not None and runs < 1:
        raise ReviewError(f"--runs: must be at least 1, got {runs}")
    path: Path | None = Path(pilot_file) if str(pilot_file) else None
    name = str(pilot)
    if path is None and name and is_pilot_file(name):
        path, name = Path(name), ""
    _check_pilot_name(name)
    loaded = _load(path) if path is not None else None
    name = name or (loaded.spec.name if loaded else "")
    dirs = [Path(d) for d in run_dirs]
    note = evidence_note
    if not dirs:
        if not name:
            raise ReviewError("name a pilot, a pilot file or the run folders to review")
        finished = select_runs(name, reports)
        if not finished:
            target = path or _pilot_file_of(name, [])
            if target is None:
                raise ReviewError(_unknown_pilot(name, reports))
            raise ReviewError(
                f"no runs of pilot {name!r} in {reports / 'runs'}; "
                f"run `chaoslab drill {shown(target)}` first"
            )
        path = path or _pilot_file_of(name, finished)
        loaded = loaded or (_load(path) if path is not None else None)
        choice = _choose(finished, loaded, all_versions=all_versions, with_replays=with_replays)
        if choice.problem:
            where = shown(path) if path else "PILOT"
            raise ReviewError(
                f"{choice.problem}; drill it first (`chaoslab drill {where}`) or review "
                "with --all-versions"
            )
        dirs, note = choice.run_dirs[:runs] if runs else choice.run_dirs, choice.note
    if loaded is None:
        if not name:
            # Named only by its runs: take the pilot from the newest one.
            name = next((n for n in (pilot_name(_meta(d)) for d in dirs) if n), "")
            _check_pilot_name(name)
        path = _pilot_file_of(name, dirs)
        if path is None:
            raise ReviewError(
                f"cannot find the pilot file of {name or 'these runs'!r} "
                "(its economics and thresholds); pass the pilot file"
            )
        loaded = _load(path)
    spec = loaded.spec
    own = {str(k): v for k, v in spec.thresholds.items()}
    t = Thresholds.of(own)
    return ReviewInputs(
        pilot=name or spec.name,
        pilot_file=None if path is None else path.resolve(),
        run_dirs=dirs,
        economics=EconomicsConfig.of(spec.economics, f"{path}: [economics]"),
        thresholds={k: getattr(t, k) for k in t.__dataclass_fields__},
        slo=SloTargets.of(spec.slo),
        pilot_thresholds=own,
        history_dirs=production_imports(reports, name or spec.name),
        evidence_note=note,
        economics_declared=frozenset(spec.economics.model_fields_set),
        scenario_count=len(spec.scenarios),
    )


def _load(path: Path) -> Pilot:
    try:
        return load_pilot(path, require_fixtures=False)
    except PilotError as exc:
        raise ReviewError(str(exc)) from None


def _choose(
    finished: Sequence[Path], pilot: Pilot | None, *, all_versions: bool, with_replays: bool
) -> RunChoice:
    """The runs of the workflow's current version (see ``selection``)."""
    current = workflow_version(pilot.workflow_source()) if pilot else None
    why = (
        current.note or "its source is not declared"
        if current is not None
        else "the pilot file is not found"
    )
    return choose_runs(
        [(d, _meta(d)) for d in finished],
        current.id if current is not None and current.id != "unknown" else "",
        all_versions=all_versions,
        with_replays=with_replays,
        current_note=f"the workflow's code could not be read: {why}",
    )


def _meta(run_dir: Path) -> dict[str, Any]:
    try:
        return read_meta(run_dir)
    except JournalError:
        return {}


# ---------------------------------------------------------------- sentences under figures
