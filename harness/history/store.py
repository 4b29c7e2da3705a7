"""A production import as a run folder the review reads like a drill's.

    reports/history/<pilot>/<import-id>/
        run.json            "evidence": "production", source file and sha256, rows,
                            time span, the mapping used, rows skipped and why
        attempts.parquet    one row per execution (scenario "production")
        outcomes.parquet    one row per transaction that ended: processed | dead_lettered
        effects.parquet     effects the export names (its ``effect`` column), else empty
        expected.parquet, requests.parquet   empty: production has no plan and no partner log

Times in the tables are seconds since the export's first execution
(``time_origin`` in run.json), as drills count from their start. The import
id is the export's sha256 and the mapping's: the same file with the same
mapping is imported once; with a changed mapping it replaces the earlier
import. The folder is written under a scratch name and renamed into place,
so an import that fails leaves every earlier one as it was.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from harness.history import HistoryError
from harness.history.mapping import Execution, Mapping, RowProblem, assemble, map_row
from harness.history.readers import BadRow, read_rows
from harness.history.spec import HistorySpec
from harness.journal import JournalError, check_row, list_runs, read_meta, write_meta
from harness.journal.columns import TABLES
from harness.places import inside

__all__ = ["ImportResult", "import_history", "production_imports"]

SCENARIO = "production"
# run.json keeps this many skipped rows word for word; the count is always exact.
SKIPPED_KEPT = 100


@dataclass
class ImportResult:
    run_dir: Path
    executions: int
    transactions: int
    in_flight: int
    succeeded: int
    first: float
    last: float
    rows_read: int
    not_production: int
    skipped: list[str] = field(default_factory=list)  # one line per bad row
    replaced: list[Path] = field(default_factory=list)
    already: bool = False  # the same file with the same mapping was imported before


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def history_root(reports: Path, pilot: str) -> Path:
    return inside(Path(reports), "history", pilot)


def production_imports(reports: Path | str, pilot: str) -> list[Path]:
    """The pilot's production imports, newest first."""
    found = []
    for path in list_runs(history_root(Path(reports), pilot), pilot=pilot):
        try:
            if read_meta(path).get("evidence") == "production":
                found.append(path)
        except JournalError:
            continue  # list_runs already warned about it
    return found


# ---------------------------------------------------------------- reading the export


def _executions(
    export: Path, spec: HistorySpec, skip_bad: bool, on_skip: Callable[[str], None]
) -> tuple[list[Execution], int, int, list[str]]:
    """(executions, rows read, rows not production, bad rows) — stops at the first bad
    row unless ``skip_bad``."""
    mapping = Mapping.of(spec)
    bad: list[str] = []
    out: list[Execution] = []
    seen: dict[str, int] = {}
    workflows: dict[str, int] = {}
    rows = not_production = 0

    def problem(number: int, text: str) -> None:
        line = f"{export}:{number}: {text}"
        if not skip_bad:
            raise HistoryError(line)
        bad.append(line)
        on_skip(line)

    # CSV and Parquet rows all carry every column, so a mapped column missing from the
    # first row is a mistake in [history], not in the rows: said once, not once a row.
    header_checked = spec.format not in ("csv", "parquet")
    for item in read_rows(export, spec.format, spec.delimiter):
        rows += 1
        if isinstance(item, BadRow):
            problem(item.number, item.problem)
            continue
        if not header_checked:
            _check_columns(export, mapping, list(item.values))
            header_checked = True
        try:
            execution = map_row(item.values, item.number, mapping)
        except RowProblem as exc:
            problem(item.number, str(exc))
            continue
        if execution is None:
            not_production += 1
            continue
        if mapping.workflow is not None and execution.workflow != mapping.workflow:
            not_production += 1
            continue
        first = seen.get(execution.execution_id)
        if first is not None:
            problem(item.number, f'execution id "{execution.execution_id}" repeats row {first}')
            continue
        seen[execution.execution_id] = item.number
        workflows[execution.workflow] = workflows.get(execution.workflow, 0) + 1
        out.append(execution)
    named = sorted(w for w in workflows if w)
    if len(named) > 1:
        raise HistoryError(
            f"{export}: holds executions of {len(named)} workflows ({', '.join(named[:5])}); "
            'set [history] workflow = "<id>" to the one this pilot is about'
        )
    return assemble(out), rows, not_production, bad


def _check_columns(export: Path, mapping: Mapping, names: list[str]) -> None:
    absent = mapping.absent(names)
    if absent:
        shown = ", ".join(f'"{n}"' for n in names[:12]) + (", ..." if len(names) > 12 else "")
        raise HistoryError(
            f"{export}: [history] {'; '.join(absent)}: no such column in the export "
            f"(its columns: {shown})"
        )


# ---------------------------------------------------------------- the journal tables


def _attempt_row(e: Execution, origin: float) -> dict[str, Any]:
    latency = None if e.finished is None else (e.finished - e.started) * 1000.0
    tags = ["production"] + (["retry"] if (e.attempt or 1) > 1 else [])
    return {
        "scenario": SCENARIO,
        "delivery_id": e.execution_id,
        "event_id": e.event_id,
        "event_type": e.workflow,
        "entity_id": e.business_key,
        "attempt": e.attempt,
        "scheduled_at": e.started - origin,
        "sent_at": e.started - origin,
        "finished_at": None if e.finished is None else e.finished - origin,
        "latency_ms": latency,
        # No HTTP status in an execution log; the class says how it ended.
        "status": None,
        "error_class": {"success": "", "failed": "failed", "in_flight": "in_flight"}[e.category],
        "fault_tags": ",".join(tags),
    }


def _outcome_rows(executions: list[Execution]) -> Iterator[dict[str, Any]]:
    """One per transaction that ended: processed once any execution succeeded, else
    dead-lettered (a person has to finish it) unless one is still running."""
    last: dict[str, Execution] = {}
    won: dict[str, Execution] = {}
    for e in executions:  # in start order
        last[e.event_id] = e
        if e.category == "success" and e.event_id not in won:
            won[e.event_id] = e
    for event_id, final in last.items():
        if event_id in won:
            yield {
                "event_id": event_id,
                "outcome": "processed",
                "detail": f"execution {won[event_id].execution_id}",
            }
        elif final.category == "failed":
            yield {
                "event_id": event_id,
                "outcome": "dead_lettered",
                "detail": f"{final.status}: {final.error}" if final.error else final.status,
            }


def _effect_row(e: Execution, origin: float) -> dict[str, Any]:
    partner = e.effect.split(":", 1)[0] if ":" in e.effect else ""
    return {
        "at": (e.finished if e.finished is not None else e.started) - origin,
        "partner": partner,
        "kind": e.effect,
        "business_key": e.business_key,
        "event_id": e.event_id,
        "tied_by": "export",
        "ref": e.execution_id,
    }


def _write_tables(folder: Path, run_id: str, executions: list[Execution], origin: float) -> None:
    rows: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    rows["attempts"] = [_attempt_row(e, origin) for e in executions]
    rows["outcomes"] = list(_outcome_rows(executions))
    rows["effects"] = [
        _effect_row(e, origin) for e in executions if e.category == "success" and e.effect
    ]
    for table, items in rows.items():
        checked = [check_row(table, r, run_id=run_id) for r in items]
        data = pa.Table.from_pylist(checked, schema=TABLES[table])
        pq.write_table(data, folder / f"{table}.parquet", compression="zstd")


# ---------------------------------------------------------------- the import


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _mapping_id(mapping: Mapping) -> str:
    body = json.dumps(mapping.describe(), sort_keys=True).encode()
    return hashlib.sha256(body).hexdigest()[:8]


def _earlier(root: Path, sha: str) -> list[Path]:
    """Imports of the same file (any mapping) already in place."""
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        if child.is_dir() and not child.name.startswith("."):
            try:
                source = read_meta(child).get("source")
            except JournalError:
                continue  # a damaged import is not this file's; leave it for a person
            if isinstance(source, dict) and source.get("sha256") == sha:
                found.append(child)
    return found


def import_history(
    pilot_name: str,
    pilot_path: Path,
    spec: HistorySpec,
    export: Path,
    reports: Path,
    *,
    skip_bad: bool = False,
    on_skip: Callable[[str], None] = lambda line: None,
) -> ImportResult:
    """Import one production export of a pilot; see the module docstring for the layout."""
    export = Path(export)
    if not export.is_file():
        raise HistoryError(f"{export}: no such export file")
    sha = sha256_of(export)
    mapping = Mapping.of(spec)
    root = history_root(reports, pilot_name)
    run_id = f"production-{sha[:12]}-{_mapping_id(mapping)}"
    final = root / run_id
    executions, rows, not_production, bad = _executions(export, spec, skip_bad, on_skip)
    if not executions:
        raise HistoryError(
            f"{export}: no production executions to import ({rows} rows read, "
            f"{not_production} not production, {len(bad)} bad)"
        )
    origin = min(e.started for e in executions)
    first, last = origin, max(e.started for e in executions)
    outcomes = list(_outcome_rows(executions))
    result = ImportResult(
        run_dir=final,
        executions=len(executions),
        transactions=len(outcomes),
        in_flight=len({e.event_id for e in executions}) - len(outcomes),
        succeeded=sum(o["outcome"] == "processed" for o in outcomes),
        first=first,
        last=last,
        rows_read=rows,
        not_production=not_production,
        skipped=bad,
    )
    if final.is_dir():
        result.already = True
        return result
    earlier = _earlier(root, sha)
    root.mkdir(parents=True, exist_ok=True)
    _drop_dead_scratch(root)
    # Unique per import, not only per process: two imports in one process may collide too.
    scratch = root / f".{run_id}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    scratch.mkdir()
    try:
        _write_tables(scratch, run_id, executions, origin)
        write_meta(scratch, _meta(run_id, pilot_name, pilot_path, export, sha, mapping, result))
        os.rename(scratch, final)
    except OSError as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and final.is_dir():
            # A concurrent import of the same file got there first: its copy stands.
            result.already = True
            return result
        raise
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    # Replaced only once the new import is in place: a crash before leaves the old one.
    for old in earlier:
        shutil.rmtree(old, ignore_errors=True)
    result.replaced = earlier
    return result


def _drop_dead_scratch(root: Path) -> None:
    """Scratch folders of imports that were killed (their process is gone)."""
    for folder in root.glob(".*.tmp"):
        parts = folder.name.split(".")  # "", run id, pid, [token,] "tmp"
        pid = parts[2] if len(parts) >= 4 else ""
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # alive, someone else's


def _meta(
    run_id: str,
    pilot_name: str,
    pilot_path: Path,
    export: Path,
    sha: str,
    mapping: Mapping,
    r: ImportResult,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "evidence": "production",
        "pilot": {"name": pilot_name, "path": str(Path(pilot_path).resolve())},
        "scenario": SCENARIO,
        "status": "finished",
        # Ordering key for list_runs: when it was imported, not what it covers.
        "started_at": time.time(),
        "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": {
            "file": str(export.resolve()),
            "name": export.name,
            "sha256": sha,
            "bytes": export.stat().st_size,
        },
        "mapping": mapping.describe(),
        "rows": {
            "read": r.rows_read,
            "executions": r.executions,
            "not_production": r.not_production,
            "skipped_bad": len(r.skipped),
        },
        "skipped": r.skipped[:SKIPPED_KEPT],
        "transactions": r.transactions,
        "in_flight": r.in_flight,
        "span": {"from": _iso(r.first), "until": _iso(r.last), "days": (r.last - r.first) / 86400},
        "time_origin": r.first,
        "outcomes_known": True,
    }
