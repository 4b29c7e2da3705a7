"""Schedules per minute: one fresh drill per schedule (before) against standing stages (after).

    .venv/bin/python benchmarks/hunt.py [--budget 60] [--seed 1] [--workers 3]
        [--faults delivery,move,partner,...]

Both hunts run in this one process, one after the other, on the hardened
reference pilot (pilots/order-sync.toml): the hunt finds nothing there, so
each explores for its whole budget and the figure is clean. Before: every
schedule starts its own partner, links and workflow (``standing=False``).
After: ``--workers`` standing stages side by side, partners reset and events
salted per schedule. Prints schedules per minute while exploring for each,
and the ratio; a schedule that breaks an invariant here is a false alarm and
is printed too. ``--faults delivery,partner,toxic`` keeps to the families
the hunt had before the larger fault space, whose schedules are shorter (no
late copies, rate limits or restarts).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.inputs.pilot import load_pilot
from harness.search.hunt import HuntResult, hunt
from harness.search.settings import DEFAULT_WORKERS, FAMILIES

REPO = Path(__file__).resolve().parent.parent


def _line(label: str, result: HuntResult) -> str:
    status = result.status
    alarm = "" if not result.found else f"  FALSE ALARM: {result.counterexample}"
    return (
        f"{label:<28} {status.explored:>6} {status.explore_s:>8.1f}s "
        f"{status.per_minute():>9.1f}{alarm}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pilot", type=Path, default=REPO / "pilots/order-sync.toml")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of exploring per mode")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="standing stages")
    parser.add_argument("--faults", default=",".join(FAMILIES), help="fault families")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep the hunts here (default: a temp folder)"
    )
    args = parser.parse_args(argv)
    pilot = load_pilot(args.pilot)
    families = [f.strip() for f in args.faults.split(",") if f.strip()]
    print(
        f"hunt speed: {pilot.name}, {args.budget:g}s budget per mode, seed {args.seed}, "
        f"faults {','.join(families)}"
    )
    print(f"{'mode':<28} {'tried':>6} {'explore':>9} {'per min':>9}")
    with tempfile.TemporaryDirectory(prefix="chaoslab-bench-hunt-") as tmp:
        reports = args.keep or Path(tmp)

        def run(standing: bool, workers: int) -> HuntResult:
            return hunt(
                pilot,
                budget_s=args.budget,
                seed=args.seed,
                reports=reports,
                replays=0,
                families=families,
                standing=standing,
                workers=workers,
            )

        before = run(False, 1)
        print(_line("before: a drill per schedule", before), flush=True)
        after = run(True, args.workers)
        print(_line(f"after: {args.workers} standing stages", after), flush=True)
    ratio = after.status.per_minute() / max(before.status.per_minute(), 1e-9)
    print(f"ratio: {ratio:.1f}x schedules per minute")
    return 0


if __name__ == "__main__":
    sys.exit(main())
