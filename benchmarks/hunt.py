"""How fast the hunt finds, and how small it shrinks, a failure of the naive workflow.

    .venv/bin/python benchmarks/hunt.py [--seeds 1,2,3,4,5] [--budget 60] [--faults ...]

One hunt per seed against pilots/order-sync-naive.toml, each in a throwaway
reports folder. Per seed: time to the first failing schedule, the size of the
final (shrunk) schedule, schedules tried, total time. Then median and max over
the seeds. A seed that finds nothing within its budget is reported as such
and counts as the budget for the time figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.inputs.pilot import load_pilot
from harness.search.hunt import FAMILIES, hunt, verdict_key

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pilot", type=Path, default=REPO / "pilots/order-sync-naive.toml")
    parser.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated Hypothesis seeds")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per hunt")
    parser.add_argument(
        "--faults", default=",".join(FAMILIES), help="fault families (delivery,partner,toxic)"
    )
    parser.add_argument("--replays", type=int, default=0, help="replays of each counterexample")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    families = [f.strip() for f in args.faults.split(",") if f.strip()]
    pilot = load_pilot(args.pilot)

    rows: list[tuple[int, float | None, int | None, int, float, str]] = []
    print(f"hunt benchmark: {pilot.name}, budget {args.budget:g}s, faults {','.join(families)}")
    print(f"{'seed':>5} {'first failure':>14} {'final size':>11} {'tried':>6} {'total':>8}  broke")
    with tempfile.TemporaryDirectory(prefix="chaoslab-bench-hunt-") as tmp:
        for seed in seeds:
            result = hunt(
                pilot,
                budget_s=args.budget,
                seed=seed,
                reports=Path(tmp),
                replays=args.replays,
                families=families,
            )
            first = result.status.first_failure_s
            size = len(result.schedule) if result.schedule is not None else None
            broke = (
                ",".join(verdict_key(result.result.results, result.judged))
                if result.result
                else "-"
            )
            if result.schedule:
                broke += " by " + ", ".join(f.kind for f in result.schedule)
            rows.append((seed, first, size, result.status.tried, result.duration_s, broke))
            print(
                f"{seed:>5} {'none' if first is None else f'{first:.1f}s':>14} "
                f"{'-' if size is None else size:>11} {result.status.tried:>6} "
                f"{result.duration_s:>7.1f}s  {broke}",
                flush=True,
            )
    firsts = [r[1] if r[1] is not None else args.budget for r in rows]
    sizes = [r[2] for r in rows if r[2] is not None]
    found = sum(1 for r in rows if r[1] is not None)
    print(
        f"found in {found}/{len(rows)} seeds; time to first failure median "
        f"{statistics.median(firsts):.1f}s max {max(firsts):.1f}s; final size "
        + (f"median {statistics.median(sizes):g} max {max(sizes)}" if sizes else "n/a")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
