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

import contextlib
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
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harness.history import HistoryError
from harness.history.columns import (
    ExecutionColumns,
    Executions,
    Outcomes,
    finish,
    outcomes,
    repeated_ids,
)
from harness.history.mapping import Mapping, RowProblem, map_row
from harness.history.readers import BadRow, read_rows
from harness.inputs.history import HistorySpec
from harness.journal import JournalError, list_runs, read_meta, write_meta
from harness.journal.columns import TABLES
from harness.places import inside

__all__ = ["ImportResult", "import_history", "production_imports"]

SCENARIO = "production"
# Rows per Parquet row group: what the writer encodes at once.
ROW_GROUP = 100_000
# run.json keeps this many skipped rows word for word; the count is always exact.
SKIPPED_KEPT = 100


@dataclass
class ImportResult:
    """What one import of an export did, as the command reports it."""

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
    """The folder of a pilot's imported histories; raises UnsafeName for an unsafe pilot name."""
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


@dataclass
class _Read:
    executions: Executions  # events and attempts filled in
    rows: int
    not_production: int
    bad: list[str]


def _executions(
    export: Path, spec: HistorySpec, skip_bad: bool, on_skip: Callable[[str], None]
) -> _Read:
    """The export's production executions — stops at the first bad row unless ``skip_bad``.

    Rows are mapped as they stream in and kept as columns, never as a list of objects.
    """
    mapping = Mapping.of(spec)
    bad: list[str] = []
    out = ExecutionColumns()
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
        workflows[execution.workflow] = workflows.get(execution.workflow, 0) + 1
        out.add(execution)
    named = sorted(w for w in workflows if w)
    if len(named) > 1:
        raise HistoryError(
            f"{export}: holds executions of {len(named)} workflows ({', '.join(named[:5])}); "
            'set [history] workflow = "<id>" to the one this pilot is about'
        )
    # Found on the columns, so after the rows' own problems (a set of every id read
    # would cost as much memory as the objects did).
    repeats = repeated_ids(out.table())
    for number, ident, first in repeats:
        problem(number, f'execution id "{ident}" repeats row {first}')
    if repeats:
        out.without_rows([number for number, _, _ in repeats])
    return _Read(finish(out), rows, not_production, bad)


def _check_columns(export: Path, mapping: Mapping, names: list[str]) -> None:
    absent = mapping.absent(names)
    if absent:
        shown = ", ".join(f'"{n}"' for n in names[:12]) + (", ..." if len(names) > 12 else "")
        raise HistoryError(
            f"{export}: [history] {'; '.join(absent)}: no such column in the export "
            f"(its columns: {shown})"
        )


# ---------------------------------------------------------------- the journal tables


def _column(table: str, name: str, values: Any, rows: int) -> pa.Array | pa.ChunkedArray:
    """A journal column: the values given, else nulls (as ``check_row`` fills them)."""
    kind = TABLES[table].field(name).type
    if values is None:
        return pa.nulls(rows, kind)
    if isinstance(values, str):
        return pa.repeat(pa.scalar(values, kind), rows)
    return values.cast(kind) if hasattr(values, "cast") else pa.array(values, kind)


def _journal_table(table: str, run_id: str, columns: dict[str, Any], rows: int) -> pa.Table:
    given = {"run_id": run_id, **columns}
    return pa.table(
        [_column(table, f.name, given.get(f.name), rows) for f in TABLES[table]],
        schema=TABLES[table],
    )


def _attempts(run_id: str, e: pa.Table, origin: float) -> pa.Table:
    started = pc.subtract(e["started"], origin)
    finished = pc.subtract(e["finished"], origin)
    retry = pc.greater(e["attempt"], 1)
    error_class = pc.if_else(
        pc.equal(e["category"], "success"),
        "",
        pc.if_else(pc.equal(e["category"], "failed"), "failed", "in_flight"),
    )
    columns = {
        "scenario": SCENARIO,
        "delivery_id": e["execution_id"],
        "event_id": e["event_id"],
        "event_type": e["workflow"],
        "entity_id": e["business_key"],
        "attempt": e["attempt"],
        "scheduled_at": started,
        "sent_at": started,
        "finished_at": finished,
        "latency_ms": pc.multiply(pc.subtract(e["finished"], e["started"]), 1000.0),
        # No HTTP status in an execution log; the class says how it ended.
        "status": None,
        "error_class": error_class,
        "fault_tags": pc.if_else(retry, "production,retry", "production"),
    }
    return _journal_table("attempts", run_id, columns, e.num_rows)


def _effects(run_id: str, e: pa.Table, origin: float) -> pa.Table:
    applied = e.filter(pc.and_(pc.equal(e["category"], "success"), pc.not_equal(e["effect"], "")))
    at = pc.subtract(pc.coalesce(applied["finished"], applied["started"]), origin)
    named = pc.match_substring(applied["effect"], ":")
    partner = pc.if_else(
        named, pc.list_element(pc.split_pattern(applied["effect"], ":", max_splits=1), 0), ""
    )
    columns = {
        "at": at,
        "partner": partner,
        "kind": applied["effect"],
        "business_key": applied["business_key"],
        "event_id": applied["event_id"],
        "tied_by": "export",
        "ref": applied["execution_id"],
    }
    return _journal_table("effects", run_id, columns, applied.num_rows)


def _write_tables(
    folder: Path, run_id: str, executions: Executions, ended: Outcomes, origin: float
) -> None:
    """Each table written a row group at a time: only one part's columns exist at once."""
    done = ended.table

    def outcome_rows(start: int) -> pa.Table:
        part = done.slice(start, ROW_GROUP)
        columns = dict(zip(part.column_names, part.columns, strict=True))
        return _journal_table("outcomes", run_id, columns, len(part))

    parts: dict[str, tuple[int, Callable[[int], pa.Table]]] = {
        "attempts": (
            executions.num_rows,
            lambda start: _attempts(run_id, executions.part(start, ROW_GROUP), origin),
        ),
        "outcomes": (done.num_rows, outcome_rows),
        "effects": (
            executions.num_rows,
            lambda start: _effects(run_id, executions.part(start, ROW_GROUP), origin),
        ),
    }
    for table, schema in TABLES.items():
        with pq.ParquetWriter(folder / f"{table}.parquet", schema, compression="zstd") as out:
            if table not in parts:  # production has no plan and no partner log
                out.write_table(_journal_table(table, run_id, {}, 0))
                continue
            rows, part_at = parts[table]
            for start in range(0, max(rows, 1), ROW_GROUP):
                out.write_table(part_at(start))


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


@contextlib.contextmanager
def _returning_memory() -> Iterator[None]:
    """Arrow allocations from the system allocator while an import runs.

    Arrow's default (mimalloc) keeps freed pages for reuse, so every transient
    column of the import stays resident; the system allocator hands large
    blocks back, which took a 200 MB import's peak from about 1 GB to 0.8.
    """
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


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
    with _returning_memory():
        return _import(pilot_name, pilot_path, spec, export, reports, skip_bad, on_skip)


def _import(
    pilot_name: str,
    pilot_path: Path,
    spec: HistorySpec,
    export: Path,
    reports: Path,
    skip_bad: bool,
    on_skip: Callable[[str], None],
) -> ImportResult:
    export = Path(export)
    if not export.is_file():
        raise HistoryError(f"{export}: no such export file")
    sha = sha256_of(export)
    mapping = Mapping.of(spec)
    root = history_root(reports, pilot_name)
    run_id = f"production-{sha[:12]}-{_mapping_id(mapping)}"
    final = root / run_id
    read = _executions(export, spec, skip_bad, on_skip)
    executions = read.executions
    if executions.num_rows == 0:
        raise HistoryError(
            f"{export}: no production executions to import ({read.rows} rows read, "
            f"{read.not_production} not production, {len(read.bad)} bad)"
        )
    span = pc.min_max(executions.table["started"])
    first, last = span["min"].as_py(), span["max"].as_py()
    ended = outcomes(executions)
    result = ImportResult(
        run_dir=final,
        executions=executions.num_rows,
        transactions=ended.table.num_rows,
        in_flight=ended.events - ended.table.num_rows,
        succeeded=ended.processed,
        first=first,
        last=last,
        rows_read=read.rows,
        not_production=read.not_production,
        skipped=read.bad,
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
        _write_tables(scratch, run_id, executions, ended, first)
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
