"""History import memory: peak RSS of `chaoslab history import` on a ~200 MB CSV.

Writes a CSV export in a temporary folder (an order-sync style log: a retry
now and then, a failure now and then), imports it in a child process and
prints that process's peak resident memory (VmHWM, read by the child just
before it exits) next to the file's size. Target (issue 17): under 1 GB for
a 200 MB file. ``BENCH_HISTORY_MB`` sets another size.

    PYTHONPATH=. .venv/bin/python benchmarks/history_import.py
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

TARGET_MB = float(os.environ.get("BENCH_HISTORY_MB", "200"))
LIMIT_BYTES = 1 << 30
HEADER = "order_id,run,started,ended,result,try,error_message,effect,key\n"
HISTORY = {
    "format": "csv",
    "time_format": "%Y-%m-%d %H:%M:%S",
    "timezone": "UTC",
    "columns": {
        "event_id": "order_id",
        "execution_id": "run",
        "started_at": "started",
        "finished_at": "ended",
        "status": "result",
        "attempt": "try",
        "error": "error_message",
        "effect": "effect",
        "business_key": "key",
    },
    "status_values": {"success": ["ok"], "failed": ["error", "timeout"]},
}

# The child: import, then report its own peak memory.
CHILD = """
import json, sys, time
from pathlib import Path
from harness.inputs.history import HistorySpec
from harness.history.store import import_history
spec = HistorySpec.model_validate(json.loads(sys.argv[1]))
started = time.perf_counter()
result = import_history("bench", Path(sys.argv[2]), spec, Path(sys.argv[3]), Path(sys.argv[4]))
seconds = time.perf_counter() - started
status = Path("/proc/self/status").read_text()
peak_kb = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1])
print(json.dumps({"peak": peak_kb * 1024, "executions": result.executions, "seconds": seconds}))
"""


def write_export(path: Path, target_bytes: float) -> int:
    """An export of about ``target_bytes``; returns its row count."""
    rng = random.Random(17)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    rows = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write(HEADER)
        order = written = 0
        while written < target_bytes:
            order += 1
            at = start + timedelta(seconds=order * 2.5)
            tries = 1 + (rng.random() < 0.05) + (rng.random() < 0.01)
            lines = []
            for attempt in range(1, tries + 1):
                rows += 1
                ok = attempt == tries and rng.random() > 0.02
                began = at + timedelta(seconds=(attempt - 1) * 300)
                ended = began + timedelta(milliseconds=rng.randint(200, 4000))
                lines.append(
                    f"o-{order:08d},r{rows:09d},{began:%Y-%m-%d %H:%M:%S},"
                    f"{ended:%Y-%m-%d %H:%M:%S},{'ok' if ok else 'error'},{attempt},"
                    f"{'' if ok else 'partner said 503'},"
                    f"{'logistics:shipment.created' if ok else ''},o-{order:08d}\n"
                )
            chunk = "".join(lines)
            out.write(chunk)
            written += len(chunk)
    return rows


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        export = Path(folder) / "executions.csv"
        made = time.perf_counter()
        rows = write_export(export, TARGET_MB * 1e6)
        size = export.stat().st_size
        took = time.perf_counter() - made
        print(f"export: {size / 1e6:.0f} MB, {rows:,} rows ({took:.0f} s to write)")
        pilot = Path(folder) / "pilot.toml"
        pilot.write_text("")  # recorded in run.json, never read by the import
        done = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(HISTORY), str(pilot), str(export), folder],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 2
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    peak = figures["peak"]
    print(
        f"import: {figures['executions']:,} executions in {figures['seconds']:.0f} s; "
        f"peak RSS {peak / 2**20:,.0f} MiB = {peak / size:.2f}x the file "
        f"(target < {LIMIT_BYTES / 2**20:,.0f} MiB)"
    )
    return 0 if peak < LIMIT_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
