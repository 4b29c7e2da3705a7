"""What the end of a drill costs: compacting the journal, reading it back, judging it.

    .venv/bin/python benchmarks/checks.py RUNS... [--golden FILE] [--compare FILE]

RUNS are run folders, or folders of them (``reports/runs``). Each finished
run's tables are written back as the live journal would have them (jsonl,
not timed) in a scratch folder, then the drill's own end is timed there, in
CPU seconds: closing the journal (jsonl to parquet), reading the tables back
and ``check_all`` with the run's settings (``slo``, ``outcomes_known`` and
``workflow_errors`` from run.json; ``[politeness]`` and ``[checks]`` from
its pilot file, defaults when it is gone). The baseline, measured in the
same run, is reading the run's own parquet tables: what the judging costs
against just looking at the run.

``--golden FILE`` saves every run's results (``asdict`` of each, with the
Python type of every count); ``--compare FILE`` exits 1 naming the first run
whose results differ in any sentence, example or number. It also counts the
runs whose compacted tables are not byte for byte their own parquet files:
none among runs this code wrote, some among runs an older journal wrote (other
columns).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd

from harness.checks.registry import check_all
from harness.inputs.pilot import PilotError, load_pilot
from harness.journal import JournalWriter, load_run, read_meta
from harness.journal.columns import TABLES


@dataclass
class Clock:
    """CPU seconds per stage, summed over the runs."""

    seconds: dict[str, float] = field(default_factory=dict)

    def time(self, stage: str, work: Callable[[], Any]) -> Any:
        """Run ``work`` and add its CPU time to ``stage``."""
        t0 = time.process_time()
        out = work()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.process_time() - t0
        return out


def run_folders(roots: list[Path]) -> Iterator[Path]:
    """Every finished run under the roots, in name order."""
    for root in roots:
        folders = [root] if (root / "run.json").exists() else sorted(root.iterdir())
        for folder in folders:
            if (folder / "run.json").exists() and read_meta(folder).get("status") == "finished":
                yield folder


def settings(meta: dict[str, Any]) -> dict[str, Any]:
    """``check_all``'s keywords as ``_finish`` gives them, from run.json and the pilot."""
    politeness, fail = None, False
    path = (meta.get("pilot") or {}).get("path")
    if path and Path(path).exists():
        try:
            spec = load_pilot(path, require_fixtures=False).spec
        except PilotError:
            spec = None
        if spec is not None:
            politeness, fail = spec.politeness, spec.checks.dead_lettered_applied == "fail"
    return {
        "outcomes_known": meta["outcomes_known"],
        "politeness": politeness,
        "fail_dead_lettered_applied": fail,
        "crashes": meta.get("workflow_errors") or [],
    }


def live_copy(run: Path, into: Path) -> JournalWriter:
    """The run's tables as jsonl, as its journal held them before closing (still open)."""
    run_id = str(read_meta(run).get("run_id") or run.name)
    writer = JournalWriter(into, run_id)
    for table in TABLES:
        source = run / f"{table}.parquet"
        if source.exists():
            for row in pq.read_table(source).to_pylist():
                writer.write(table, row)
    return writer


def read_back(run: Path, writer: JournalWriter | None = None) -> dict[str, pd.DataFrame]:
    """What ``harness.drill.run._finish`` judges: the journal closed, its tables read back."""
    loaded = load_run(run) if writer is None else writer.read_back()
    return {t: loaded.table(t) for t in ("attempts", "effects", "outcomes", "expected", "requests")}


def dump(results: list[Any]) -> list[dict[str, Any]]:
    """Results as data, with each count's Python type (an int must stay an int)."""
    out = []
    for result in results:
        row = asdict(result)
        row["count_types"] = {k: type(v).__name__ for k, v in result.counts.items()}
        out.append(row)
    return out


def same_tables(run: Path, copy: Path) -> str | None:
    """The first table whose compacted copy differs from the run's own file, else None."""
    for table in TABLES:
        ours, theirs = run / f"{table}.parquet", copy / f"{table}.parquet"
        if not ours.exists():
            continue
        # Byte for byte: the same rows, written the same way, make the same file.
        if ours.read_bytes() != theirs.read_bytes():
            return table
    return None


def judge_one(run: Path, scratch: Path, clock: Clock) -> tuple[list[dict[str, Any]], str | None]:
    """One run's end as the drill does it, timed: close, read back, check."""
    meta = read_meta(run)
    keywords = settings(meta)
    clock.time("baseline: read the run's parquet", lambda: read_back(run))
    copy = scratch / run.name
    writer = live_copy(run, copy)
    tables = clock.time("close and read back", lambda: read_back(copy, writer))
    results = clock.time("check_all", lambda: check_all(tables, meta["slo"], **keywords))
    return dump(results), same_tables(run, copy)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--golden", type=Path, help="save every run's results here")
    parser.add_argument("--compare", type=Path, help="exit 1 unless results equal this golden")
    args = parser.parse_args()
    clock = Clock()
    found: dict[str, list[dict[str, Any]]] = {}
    rewritten: list[str] = []  # runs whose tables this journal writes as other bytes
    with tempfile.TemporaryDirectory(prefix="bench-checks-") as tmp:
        for run in run_folders(args.runs):
            found[run.name], differs = judge_one(run, Path(tmp), clock)
            if differs:
                rewritten.append(f"{run.name} ({differs})")
    text = {name: json.dumps(results, sort_keys=False) for name, results in found.items()}
    n = len(found)
    print(f"{n} runs")
    if rewritten:
        # A run written by an older journal (other columns) comes out different; a
        # run this code wrote must not. Timing and the golden still cover them all.
        print(
            f"{len(rewritten)} runs compact to other bytes than their own, e.g. {rewritten[0]}",
            file=sys.stderr,
        )
    print(f"{'stage':<36}{'CPU s':>9}{'per run ms':>12}")
    for stage, seconds in clock.seconds.items():
        print(f"{stage:<36}{seconds:>9.2f}{seconds / max(n, 1) * 1000:>12.1f}")
    base = clock.seconds.get("baseline: read the run's parquet", 0.0)
    judged = clock.seconds.get("close and read back", 0.0) + clock.seconds.get("check_all", 0.0)
    print(f"ratio of close + read + check to the baseline: {judged / max(base, 1e-9):.2f}")
    if args.golden:
        args.golden.write_text(json.dumps(text, indent=0) + "\n")
        print(f"golden: {args.golden}")
    if args.compare:
        return compare(text, json.loads(args.compare.read_text()))
    return 0


def compare(ours: dict[str, str], golden: dict[str, str]) -> int:
    """0 when every run's results equal the golden's, else 1 naming the first that differs."""
    if set(ours) != set(golden):
        print(f"runs differ: {sorted(set(ours) ^ set(golden))[:5]}", file=sys.stderr)
        return 1
    for name in sorted(ours):
        if ours[name] != golden[name]:
            mine, theirs = json.loads(ours[name]), json.loads(golden[name])
            for a, b in zip(mine, theirs, strict=False):
                if a != b:
                    print(f"{name}: {a['name']} differs:\n  {b}\n  {a}", file=sys.stderr)
                    break
            else:
                print(f"{name}: a different list of results", file=sys.stderr)
            return 1
    print(f"identical to {len(golden)} golden runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
