"""How long the pilot review takes on a big history, against a 10 s target.

    .venv/bin/python benchmarks/review.py [--attempts N] [--keep DIR]

Builds one synthetic run of N delivery attempts (default 1,000,000) in the
journal's own layout (the schemas of harness/journal/columns.py, parquet plus
run.json), vectorised with numpy, then measures:

- analysis: loading the run, ``pilot_summary`` and the sensitivity grid, in
  this process (the work the pilot_review notebook does);
- notebook: executing pilot_review with papermill (kernel start, the same
  analysis, four figures);
- HTML: rendering the executed notebook without code (nbconvert).

The target is notebook + HTML within 10 s; the ratio says how much of it is
used (below 1.0 is inside the target).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.journal.columns import TABLES
from harness.report.analysis import load_runs, pilot_summary, verdict_sensitivity
from harness.report.economics import Measured
from harness.report.review import execute_notebook, render_html, review_inputs

REPO = Path(__file__).resolve().parent.parent
PILOT = REPO / "pilots" / "order-sync.toml"
TARGET_S = 10.0


def _ids(prefix: str, n: int) -> pa.Array:
    return pa.array(np.char.add(prefix, np.arange(n).astype(str)))


def _write(run_dir: Path, table: str, columns: dict[str, object], rows: int) -> None:
    """One journal table; columns not given are null, as the journal leaves them."""
    schema = TABLES[table]
    arrays = []
    for fld in schema:
        value = columns.get(fld.name)
        if value is None:
            arrays.append(pa.nulls(rows, fld.type))
        elif isinstance(value, str):
            arrays.append(pa.array(np.full(rows, value, dtype=object), fld.type))
        else:
            arrays.append(pa.array(value, fld.type))
    pq.write_table(
        pa.Table.from_arrays(arrays, schema=schema),
        run_dir / f"{table}.parquet",
        compression="zstd",
    )


def build_history(run_dir: Path, n_attempts: int, seed: int = 7) -> dict[str, int]:
    """A run of ``n_attempts`` attempts: most events delivered first time, some retried
    through 503s and timeouts, a few dead-lettered, a few shipped twice."""
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    # Attempts per event: 1 for most, up to 4 under faults; the last event takes the rest.
    per_event = rng.choice([1, 2, 3, 4], size=n_attempts, p=[0.86, 0.09, 0.04, 0.01])
    ends = np.cumsum(per_event)
    n_events = int(np.searchsorted(ends, n_attempts) + 1)
    per_event = per_event[:n_events]
    per_event[-1] -= int(ends[n_events - 1] - n_attempts)
    event_of = np.repeat(np.arange(n_events), per_event)
    first = np.r_[0, np.cumsum(per_event)[:-1]]
    attempt_no = np.arange(n_attempts) - first[event_of] + 1
    last = attempt_no == per_event[event_of]

    # An hour of traffic; each retry 0.2-2 s after the previous attempt.
    start = np.sort(rng.random(n_events) * 3600.0)
    sent = start[event_of] + (attempt_no - 1) * rng.uniform(0.2, 2.0, n_attempts)
    took = rng.gamma(2.0, 0.02, n_attempts)
    timeout = ~last & (rng.random(n_attempts) < 0.4)
    took[timeout] = 2.0
    status = np.where(last, 200, 503).astype(np.int64)
    error = np.where(last, "", np.where(timeout, "timeout", "http_5xx")).astype(object)
    events = _ids("evt_", n_events)
    orders = _ids("ord_", n_events)
    status_arr = pa.array(status, pa.int64(), mask=timeout)  # a timeout has no status
    _write(
        run_dir,
        "attempts",
        {
            "run_id": "bench",
            "scenario": "synthetic-load",
            "delivery_id": _ids("dlv_", n_attempts),
            "event_id": events.take(pa.array(event_of)),
            "event_type": "payment_intent.succeeded",
            "entity_id": orders.take(pa.array(event_of)),
            "entity_version": np.ones(n_attempts, dtype=np.int64),
            "attempt": attempt_no.astype(np.int64),
            "scheduled_at": sent,
            "sent_at": sent,
            "finished_at": sent + took,
            "latency_ms": took * 1000.0,
            "status": status_arr,
            "error_class": error,
        },
        n_attempts,
    )
    dead = rng.random(n_events) < 0.0005
    shipped = np.flatnonzero(~dead)
    twice = shipped[rng.random(len(shipped)) < 0.0001]
    effect_of = np.r_[shipped, twice]
    delivered_at = sent[last]
    _write(
        run_dir,
        "effects",
        {
            "run_id": "bench",
            "at": delivered_at[effect_of] + 0.05,
            "kind": "shipment.created",
            "business_key": orders.take(pa.array(effect_of)),
            "entity_version": np.ones(len(effect_of), dtype=np.int64),
            "event_id": events.take(pa.array(effect_of)),
        },
        len(effect_of),
    )
    _write(
        run_dir,
        "outcomes",
        {
            "run_id": "bench",
            "event_id": events,
            "outcome": np.where(dead, "dead_lettered", "processed").astype(object),
            "detail": "",
        },
        n_events,
    )
    _write(
        run_dir,
        "expected",
        {
            "run_id": "bench",
            "event_id": events,
            "event_type": "payment_intent.succeeded",
            "entity_id": orders,
            "entity_version": np.ones(n_events, dtype=np.int64),
            "expected_effect": "shipment.created",
            "dropped": np.zeros(n_events, dtype=bool),
        },
        n_events,
    )
    meta = {
        "run_id": "bench",
        "pilot": {"name": "order-sync", "path": str(PILOT)},
        "scenario": "synthetic-load",
        "status": "finished",
        "started_at": time.time(),
        "slo": {"p95_latency_ms": 3000.0, "success_rate": 0.99},
        "partner_requests": int(len(effect_of) * 1.1),
        "toxics_applied": [
            {"link": "partner", "type": "latency", "toxic": "t", "from_s": 600.0, "until_s": 900.0}
        ],
    }
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2) + "\n")
    return {"attempts": n_attempts, "events": n_events, "effects": len(effect_of)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the run and the report here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chaoslab-bench-") as scratch:
        root = args.keep or Path(scratch)
        run_dir = root / "runs" / "bench"
        started = time.perf_counter()
        sizes = build_history(run_dir, args.attempts)
        built = time.perf_counter() - started

        started = time.perf_counter()
        inputs = review_inputs(run_dirs=[run_dir], pilot_file=PILOT)
        summary = pilot_summary(
            load_runs(inputs.run_dirs), inputs.economics, inputs.thresholds, slo=inputs.slo
        )
        m = summary["measured"]
        measured = Measured(**{k: m[k] for k in Measured.__dataclass_fields__})
        verdict_sensitivity(inputs.economics, measured, m["good"], inputs.thresholds)
        analysis = time.perf_counter() - started

        out = root / "order-sync"
        out.mkdir(parents=True, exist_ok=True)
        params = {
            "pilot": "order-sync",
            "run_dirs": [str(run_dir)],
            "pilot_file": str(PILOT),
            "interactive": False,  # as `chaoslab review` runs it: no what-if sliders
        }
        started = time.perf_counter()
        executed = execute_notebook("pilot_review", params, out)
        notebook = time.perf_counter() - started
        started = time.perf_counter()
        render_html(executed, out / "pilot_review.html")
        rendering = time.perf_counter() - started

    total = notebook + rendering
    print(
        f"history: {sizes['attempts']:,} attempts, {sizes['events']:,} events, "
        f"{sizes['effects']:,} effects (built and written in {built:.1f} s)"
    )
    print(f"verdict on it: {summary['decision']}")
    print(f"{'stage':<44}{'seconds':>9}")
    print("-" * 53)
    for label, seconds in (
        ("analysis in-process (load, summary, grid)", analysis),
        ("pilot_review executed (papermill)", notebook),
        ("HTML rendered (nbconvert, no input)", rendering),
        ("notebook + HTML", total),
    ):
        print(f"{label:<44}{seconds:>9.2f}")
    print(f"ratio to the {TARGET_S:.0f} s target: {total / TARGET_S:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
