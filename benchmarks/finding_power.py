"""Finding power: does the hunt find each zoo mutant's defect, how fast, how small; and
does it stay quiet on the hardened workflow?

    .venv/bin/python benchmarks/finding_power.py [--budget 60] [--seeds 1,2,3]
        [--quiet-seeds 1,...,10] [--only key-per-attempt,...] [--workers 3]

For each mutant pilot in benchmarks/zoo/ (one classic defect each, see
workflows/zoo/), one hunt per seed: found or not, the time to the first
failing schedule, the final (shrunk) schedule's size and what it broke,
FLAKY when the final schedule's replays disagreed. Then hunts of the
unmutated hardened workflow (pilots/order-sync.toml) over the quiet seeds:
every schedule it reports there is a false alarm. Each hunt runs in a
throwaway reports folder (``--keep DIR`` keeps them). About
(mutants x seeds + quiet seeds) x (budget + shrink) at worst: ~30 min with
the defaults.
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
from harness.search.hunt import HuntResult, hunt, verdict_key
from harness.search.settings import DEFAULT_WORKERS

REPO = Path(__file__).resolve().parent.parent
ZOO = REPO / "benchmarks/zoo"
HARDENED = REPO / "pilots/order-sync.toml"


def _seeds(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def _row(label: str, seed: int, result: HuntResult) -> str:
    status = result.status
    first = "-" if status.first_failure_s is None else f"{status.first_failure_s:.1f}s"
    size = "-" if result.schedule is None else str(len(result.schedule))
    broke = ",".join(verdict_key(result.result.results, result.judged)) if result.result else "-"
    kinds = ",".join(getattr(f, "kind", type(f).__name__) for f in result.schedule or ())
    flaky = " FLAKY" if result.flaky else ""
    return (
        f"{label:<24} {seed:>4} {'yes' if result.found else 'no':>5} {first:>8} {size:>5} "
        f"{status.tried:>6} {status.per_minute():>7.0f}  {broke}{' by ' + kinds if kinds else ''}"
        f"{flaky}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per hunt")
    parser.add_argument("--seeds", default="1,2,3", help="seeds per mutant")
    parser.add_argument("--quiet-seeds", default="1,2,3,4,5,6,7,8,9,10")
    parser.add_argument("--only", default="", help="comma-separated defect names")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--replays", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="keep the hunts' reports here")
    args = parser.parse_args(argv)
    wanted = {w.strip() for w in args.only.split(",") if w.strip()}
    mutants = [p for p in sorted(ZOO.glob("*.toml")) if not wanted or p.stem in wanted]
    header = (
        f"{'pilot':<24} {'seed':>4} {'found':>5} {'first':>8} {'size':>5} "
        f"{'tried':>6} {'per min':>7}  broke"
    )
    print(f"finding power: {len(mutants)} mutants, budget {args.budget:g}s, seeds {args.seeds}")
    print(header)
    summary: list[str] = []
    with tempfile.TemporaryDirectory(prefix="chaoslab-finding-") as tmp:
        reports = args.keep or Path(tmp)

        def run(path: Path, seed: int) -> HuntResult:
            return hunt(
                load_pilot(path),
                budget_s=args.budget,
                seed=seed,
                reports=reports,
                replays=args.replays,
                workers=args.workers,
            )

        for path in mutants:
            results = [run(path, seed) for seed in _seeds(args.seeds)]
            for seed, result in zip(_seeds(args.seeds), results, strict=True):
                print(_row(path.stem, seed, result), flush=True)
            found = [r for r in results if r.found]
            firsts = [r.status.first_failure_s or args.budget for r in results]
            sizes = [len(r.schedule) for r in found if r.schedule is not None]
            summary.append(
                f"{path.stem:<24} found {len(found)}/{len(results)}, first failure median "
                f"{statistics.median(firsts):.1f}s, final size max "
                f"{max(sizes) if sizes else '-'}, flaky {sum(r.flaky for r in found)}"
            )
        alarms = 0
        quiet = _seeds(args.quiet_seeds)
        for seed in quiet:
            result = run(HARDENED, seed)
            alarms += result.found
            print(_row("hardened (no defect)", seed, result), flush=True)
    print("summary:")
    for line in summary:
        print(f"  {line}")
    print(f"  hardened: {alarms} alarm(s) in {len(quiet)} hunts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
