"""pytest plugin: every scenario of every pilot file is a test item.

    pytest --pilots pilots/                          # all pilot files in the folder
    pytest --pilots pilots/order-sync.toml -k throttle
    pytest --pilots pilots/ --pilots-reports /tmp/runs   # runs elsewhere than reports/

An item drills its scenario (``harness.drill.run_drill``) and passes when the
invariants did what the scenario expects (``expect = "pass"``: all held;
``"violation"``: one broke), and no figure regressed beyond the pilot's
``[baseline]`` tolerances against ``<pilot>.baseline.json`` (see
``harness.regression.baseline``). Items are named ``<pilot name>::<scenario>``.

All items of a session share one `harness.drill.DrillSession` (one fault proxy,
one event loop): the loop is
private to this plugin (never installed as the thread's current loop), so it
does not meet pytest-asyncio's loops, and it lives as long as the proxy does.

A pilot's scenarios run one after another on a standing stage, as the hunt's
drills do (``harness.drill.standing``): its workflow and partners start once,
and each drill replays salted events. Starting them is most of a short drill's
cost. A fresh drill stays the truth, as in the hunt's no-fault check
(``harness.search.nofault``):

- a pilot whose entity keys salting cannot follow runs every scenario fresh;
- a standing drill that does not do what the file promises is drilled again on
  fresh services, whose answer the item reports; later scenarios run fresh;
- a stage's spurious break would pass a scenario that expects a violation, so
  the first such scenario runs twice on the stage and once fresh; the item
  judges the fresh drill, and if a standing one broke other invariants, the
  pilot's later scenarios run fresh.

The summary names every pilot drilled fresh, and why. Under xdist each item
carries ``xdist_group(<pilot name>)``, so with ``--dist loadgroup`` one worker
drills a whole pilot on one stage.
"""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# The plugin loads in every pytest run of this environment; the harness (pandas,
# pyarrow, httpx) is imported only once --pilots asks for drills, so other test
# runs stay fast and never depend on the drill engine importing cleanly.
if TYPE_CHECKING:
    from harness.drill import DrillResult, DrillSession
    from harness.inputs.pilot import Pilot, ScenarioSpec
    from harness.regression.baseline import FigureCheck

PLUGIN_NAME = "chaoslab-pilots"
EXAMPLES = 3  # per broken invariant: enough to look one up, few enough to read
# A pilot's first scenario on its standing stage, before the stage is trusted:
# the second drill meets whatever the first left in the workflow.
STAGE_CHECKS = 2


def _setup_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "the drill could not run"; shown as one line, not a traceback."""
    from harness.drill import DrillError
    from harness.inputs.pilot import PilotError
    from harness.regression.baseline import BaselineError
    from harness.runtime.faultproxy import FaultProxyError
    from harness.runtime.processes import ServiceError

    # ServiceError: a workflow or partner that would not start is the pilot's to fix.
    return (
        PilotError, BaselineError, DrillError, FaultProxyError, ServiceError, OSError,
        TimeoutError,
    )  # fmt: skip


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaoslab", "chaos drills of pilot files (chaoslab)")
    group.addoption(
        "--pilots",
        action="append",
        default=[],
        metavar="PATH",
        help="drill every scenario of this pilot file, or of every pilot file in this folder "
        "(repeatable)",
    )
    group.addoption(
        "--pilots-reports",
        default=None,
        metavar="DIR",
        help="reports folder for the pilot drills' runs (default: $CHAOSLAB_REPORTS, else "
        "reports/, as for every chaoslab command)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "pilot: a pilot scenario drilled by chaoslab (--pilots)")
    raw: list[str] = config.getoption("pilots") or []
    if not raw:
        return
    base = config.invocation_params.dir
    roots: list[Path] = []
    for entry in raw:
        path = (base / entry).resolve()
        if not path.exists():
            raise pytest.UsageError(f"--pilots {entry}: no such file or folder")
        roots.append(path)
    # Where `chaoslab drill` would put them, so a team's CI artifact (reports/) holds the runs.
    reports_opt = config.getoption("pilots_reports") or os.environ.get("CHAOSLAB_REPORTS")
    reports = (base / (reports_opt or "reports")).resolve()
    runner = PilotRunner(config, roots, reports)
    config.pluginmanager.register(runner, PLUGIN_NAME)
    config.add_cleanup(runner.close)
    # Collect the pilots next to whatever else was asked for (testpaths by default),
    # unless an argument already names them or a part of them (pilots/x.toml::burst).
    given = [(base / a.split("::")[0]).resolve() for a in config.args]
    config.args.extend(
        str(r) for r in roots if not any(g == r or r in g.parents or g in r.parents for g in given)
    )


def _broken(result: DrillResult) -> list[str]:
    return sorted(r.name for r in result.results if not r.ok)


def _disagreement(standing: list[DrillResult], fresh: DrillResult) -> str:
    """Why the stage is not trusted: a standing drill broke other invariants than the fresh one."""
    for run in standing:
        if _broken(run) != _broken(fresh):
            return (
                f"on a standing stage the scenario broke {_broken(run) or 'nothing'} "
                f"(run {run.run_id}), on fresh services {_broken(fresh) or 'nothing'} "
                f"(run {fresh.run_id})"
            )
    return ""


def _unsalted_reason(pilot: Pilot) -> str:
    """Why this pilot's drills cannot share a standing stage (its source, or keys salting
    cannot follow), or ''."""
    from harness.drill.standing import cannot_stand
    from harness.inputs.fixtures import load_fixtures
    from harness.replay.salt import unsalted_keys

    if why := cannot_stand(pilot):
        return why
    spec = pilot.spec
    events = load_fixtures(pilot.resolve(spec.webhook.fixtures))
    missing = unsalted_keys(events, spec.expectations, sorted(spec.partners))
    if not missing:
        return ""
    event, key = missing[0]
    return f"the entity key {key!r} of event {event.event_id} appears nowhere in the event"


def _is_pilot_file(path: Path) -> bool:
    """A pilot file has [pilot] or extends one; scenario files (a hunt's) have neither."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return True  # collect it, so its error is reported rather than silently skipped
    return "pilot" in data or "extends" in data


@dataclass
class ItemRecord:
    nodeid: str
    outcome: str
    duration_s: float
    figures: dict[str, float | None]
    baseline: str  # "ok", "regressed", "none" (no baseline for this scenario)
    run_dir: Path | None
    fresh: str = ""  # why the judged drill ran on fresh services after a standing one


@dataclass(eq=False)  # pluggy keeps plugins in sets: identity hashing
class PilotRunner:
    """Session state: the pilot roots, one loop, one fault proxy, what each item found."""

    config: pytest.Config
    roots: list[Path]
    reports_folder: Path  # made on the first drill, so a collect-only run writes nothing
    records: list[ItemRecord] = field(default_factory=list)
    _session: DrillSession | None = None
    _reports: Path | None = None
    _names: dict[str, Path] = field(default_factory=dict)
    _fresh: dict[Path, str] = field(default_factory=dict)  # pilot file -> why it runs fresh
    _checked: set[Path] = field(default_factory=set)  # pilots whose stage was checked

    # ------------------------------------------------------------ collection

    def claims(self, path: Path) -> bool:
        if path.suffix != ".toml":
            return False
        resolved = path.resolve()
        inside = any(resolved == r or (r.is_dir() and r in resolved.parents) for r in self.roots)
        return inside and _is_pilot_file(resolved)

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> PilotFile | None:
        if not self.claims(file_path):
            return None
        nodeid = self._readable_id(file_path)
        if nodeid is None:
            return PilotFile.from_parent(parent, path=file_path)
        return PilotFile.from_parent(parent, path=file_path, nodeid=nodeid)

    def _readable_id(self, path: Path) -> str | None:
        """The pilot's name as the file's id, unless it is unusable or taken."""
        from harness.inputs.pilot import PilotError, load_pilot

        try:
            name = load_pilot(path).name
        except PilotError:
            return None  # the file's collection reports the error
        if "::" in name or "[" in name or self._names.get(name, path) != path:
            return None
        self._names[name] = path
        return name

    # ------------------------------------------------------------ running

    def reports(self) -> Path:
        # A method, not a property: pluggy reads every attribute of a plugin object.
        if self._reports is None:
            self.reports_folder.mkdir(parents=True, exist_ok=True)
            self._reports = self.reports_folder
        return self._reports

    def session(self) -> DrillSession:
        from harness.drill import DrillSession

        if self._session is None:
            self._session = DrillSession(self.reports(), standing=1)
        return self._session

    def drill(self, pilot: Pilot, name: str, scenario: ScenarioSpec) -> tuple[DrillResult, bool]:
        """A drill of the scenario, and whether it ran on the pilot's standing stage.

        A scenario expected to pass runs standing: if the stage misleads, the
        item fails and runtest drills it again fresh. One expected to break an
        invariant would pass on a stage's spurious break, so before the first
        such scenario runs standing the stage is checked as the hunt's
        no-fault check does (``harness.search.nofault``): the scenario twice on
        the stage, the second meeting what the first left, then once fresh. The
        item judges the fresh drill; the stage serves the pilot's later
        scenarios only if both standing drills broke what the fresh one broke.
        """
        session = self.session()
        if pilot.path not in self._fresh:
            self._fresh[pilot.path] = _unsalted_reason(pilot)
        if self._fresh[pilot.path]:
            return session.run_fresh(pilot, name, scenario), False
        if scenario.expect == "violation" and pilot.path not in self._checked:
            self._checked.add(pilot.path)
            standing = [session.run(pilot, name, scenario) for _ in range(STAGE_CHECKS)]
            fresh = session.run_fresh(pilot, name, scenario)
            self._fresh[pilot.path] = _disagreement(standing, fresh)
            return fresh, False
        return session.run(pilot, name, scenario), True

    def drill_fresh(self, pilot: Pilot, name: str, scenario: ScenarioSpec, why: str) -> DrillResult:
        """Again on fresh services, after a standing drill disagreed; later drills run fresh."""
        self._fresh[pilot.path] = why
        return self.session().run_fresh(pilot, name, scenario)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # ------------------------------------------------------------ reporting

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.records:
            return
        from harness.regression.baseline import FIGURES, SHORT

        tr = terminalreporter
        tr.section("chaoslab pilots")
        width = max(len(r.nodeid) for r in self.records)
        for r in self.records:
            figures = "  ".join(
                f"{SHORT[n]} {_fmt(n, r.figures.get(n))}" for n in FIGURES if n in r.figures
            )
            baseline = {"none": "no baseline", "ok": "baseline ok"}.get(r.baseline, r.baseline)
            tr.write_line(
                f"{r.nodeid.ljust(width)}  {r.outcome:6} {r.duration_s:5.1f}s  "
                f"{figures}  [{baseline}]" + (f"  fresh: {r.fresh}" if r.fresh else "")
            )
        total = sum(r.duration_s for r in self.records)
        tr.write_line(f"{len(self.records)} drills, {total:.0f}s; runs in {self.reports()}")
        for path, why in self._fresh.items():
            if why:
                tr.write_line(f"{_shown(path)}: drilled on fresh services: {why}")


def _fmt(figure: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if figure.endswith("_per_txn") else f"{value:.0f}"


class PilotCheckFailed(Exception):
    """The drill ran and the pilot did not do what its file promises; ``report`` says how."""

    def __init__(self, report: str) -> None:
        super().__init__(report)
        self.report = report


class PilotFile(pytest.File):
    def collect(self) -> Iterator[PilotItem]:
        from harness.inputs.pilot import load_pilot

        pilot = load_pilot(self.path)
        for name, scenario in pilot.spec.scenarios.items():
            yield PilotItem.from_parent(self, name=name, pilot=pilot, scenario=scenario)

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str | Any:
        from harness.inputs.pilot import PilotError

        if isinstance(excinfo.value, PilotError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class PilotItem(pytest.Item):
    def __init__(self, *, pilot: Pilot, scenario: ScenarioSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pilot = pilot
        self.scenario = scenario
        self.add_marker(pytest.mark.pilot)
        # One worker drills a whole pilot, on one standing stage (--dist loadgroup).
        self.add_marker(pytest.mark.xdist_group(pilot.name))

    @property
    def label(self) -> str:
        return f"{self.pilot.name}::{self.name}"

    def _runner(self) -> PilotRunner:
        runner = self.config.pluginmanager.get_plugin(PLUGIN_NAME)
        assert isinstance(runner, PilotRunner), "pilot items exist only with --pilots"
        return runner

    def runtest(self) -> None:
        runner = self._runner()
        started = time.monotonic()
        record = ItemRecord(self.nodeid, "error", 0.0, {}, "none", None)
        runner.records.append(record)
        try:
            result, standing = runner.drill(self.pilot, self.name, self.scenario)
            checks, report = self._judge(result, record)
            if report and standing:
                # The fresh drill is the truth: a standing stage may hold what an
                # earlier drill left, so only a fresh drill's failure is reported.
                why = f"its standing drill (run {result.run_id}) failed the item"
                record.fresh = why
                result = runner.drill_fresh(self.pilot, self.name, self.scenario, why)
                checks, report = self._judge(result, record)
        finally:
            record.duration_s = time.monotonic() - started
        for name, value in record.figures.items():
            self.user_properties.append((name, value))
        self.user_properties.append(("run_dir", str(result.run_dir)))
        if checks is not None:
            record.baseline = "regressed" if any(c.regressed for c in checks) else "ok"
        record.outcome = "failed" if report else "passed"
        if report:
            raise PilotCheckFailed(report)

    def _judge(
        self, result: DrillResult, record: ItemRecord
    ) -> tuple[list[FigureCheck] | None, str]:
        """The baseline checks and the failure report (empty when the item passes)."""
        from harness.regression.baseline import figures_of

        record.run_dir = result.run_dir
        record.figures = figures_of(result.run_dir)
        checks = self._baseline_checks(record.figures)
        return checks, self._report(result, checks)

    def _baseline_checks(self, figures: dict[str, float | None]) -> list[FigureCheck] | None:
        from harness.regression.baseline import baseline_path, compare, load_baseline

        path = baseline_path(self.pilot)
        if not path.exists():
            return None
        old = load_baseline(path).get(self.name)
        if old is None:
            return None
        return compare(old, figures, self.pilot.spec.baseline)

    def _report(self, result: DrillResult, checks: list[FigureCheck] | None) -> str:
        """Empty when the item passes; else what a person needs, without a traceback."""
        from harness.regression.baseline import baseline_path, format_checks

        sections: list[str] = []
        problems: list[str] = []  # the first line, which pytest's short summary shows
        broken = [r for r in result.results if not r.ok]
        if self.scenario.expect == "pass" and broken:
            problems.append("broke " + ", ".join(r.name for r in broken))
            lines = ["invariants broken (this scenario expects every invariant to hold):"]
            for r in broken:
                lines.append(f"  {r.name}: {r.summary}")
                lines += [f"    e.g. {example}" for example in r.examples[:EXAMPLES]]
            sections.append("\n".join(lines))
        elif self.scenario.expect == "violation" and not broken:
            problems.append("expected a violation, every invariant held")
            lines = ["invariants (this scenario expects one to break):"]
            lines += [f"  {r.name}: {r.summary}" for r in result.results]
            sections.append("\n".join(lines))
        if checks is not None and any(c.regressed for c in checks):
            problems.append(
                "regressed "
                + ", ".join(
                    f"{c.figure} {_fmt(c.figure, c.old)} -> {_fmt(c.figure, c.new)}"
                    for c in checks
                    if c.regressed
                )
            )
            table = format_checks(checks)
            sections.append(
                f"baseline regressed (against {_shown(baseline_path(self.pilot))}):\n"
                + "\n".join(f"  {line}" for line in table.splitlines())
            )
        if not sections:
            return ""
        head = (
            f"{'; '.join(problems)}\n"
            f"drill of {_shown(self.pilot.path)}, seed {result.seed}, {result.duration_s:.1f}s, "
            f"run {result.run_dir}"
        )
        return "\n\n".join([head, *sections])

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        error = excinfo.value
        while isinstance(error, BaseExceptionGroup) and error.exceptions:
            error = error.exceptions[0]
        if isinstance(error, PilotCheckFailed):
            return error.report
        if isinstance(error, _setup_errors()):
            return f"{self.label}: the drill could not run: {type(error).__name__}: {error}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.label


def _shown(path: Path) -> str:
    """A path relative to the working folder when it is inside it (shorter to read)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
