"""Executions as Arrow columns: built a batch at a time, finished on the columns.

A production export can hold millions of executions. Kept as Python objects
(one dataclass and one dict per row) a 200 MB CSV took 5.8 GB; as columns it
takes about what its text does. Rows are mapped one batch at a time
(`ExecutionColumns.add`), and what needs every row at once — repeated ids,
retry chains, attempt numbers, each transaction's outcome — is computed on
the columns with Arrow and NumPy, by sorting (a hash table of every id would
cost another copy of them). The start order is kept as a permutation
(`Executions`), never as a reordered copy of the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness.history.mapping import Execution

__all__ = [
    "BATCH_ROWS",
    "EXECUTION_SCHEMA",
    "ExecutionColumns",
    "Executions",
    "Outcomes",
    "finish",
    "outcomes",
]

# Rows mapped before they become columns: the Python objects alive at once.
BATCH_ROWS = 20_000

EXECUTION_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("execution_id", pa.string()),
        ("event_id", pa.string()),
        ("started", pa.float64()),
        ("finished", pa.float64()),
        ("category", pa.string()),
        ("status", pa.string()),
        ("attempt", pa.int64()),
        ("retry_of", pa.string()),
        ("error", pa.string()),
        ("effect", pa.string()),
        ("business_key", pa.string()),
        ("workflow", pa.string()),
    ]
)
_NAMES = EXECUTION_SCHEMA.names


class ExecutionColumns:
    """Executions added one at a time, held as record batches of `BATCH_ROWS`."""

    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []
        self._pending: list[Execution] = []
        self._table: pa.Table | None = None

    def add(self, execution: Execution) -> None:
        """Keep one execution; a full batch is turned into columns at once, bounding memory."""
        self._pending.append(execution)
        if len(self._pending) >= BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        data = {name: [getattr(e, name) for e in self._pending] for name in _NAMES}
        self.batches.append(pa.RecordBatch.from_pydict(data, schema=EXECUTION_SCHEMA))
        self._pending = []

    def table(self) -> pa.Table:
        """Every execution added, in the order added (the batches become one table)."""
        if self._table is None:
            self._flush()
            self._table = pa.Table.from_batches(self.batches, schema=EXECUTION_SCHEMA)
            self.batches = []
        return self._table

    def without_rows(self, rows: list[int]) -> None:
        """Leave out the executions read from these rows."""
        table = self.table()
        gone = pa.array(rows, pa.int64())
        self._table = table.filter(pc.invert(pc.is_in(table["row"], value_set=gone)))

    def hand_over(self) -> pa.Table:
        """The table, no longer held here: whoever reorders it can let the original go."""
        table = self.table()
        self._table = None
        return table


def _runs(values: pa.ChunkedArray) -> np.ndarray:
    """For values in sorted order: True where a run of equal values starts."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    same = pc.equal(values[1:], values[:-1]).to_numpy()
    return np.concatenate([[True], ~same])


def repeated_ids(table: pa.Table) -> list[tuple[int, str, int]]:
    """(row, execution id, the row it first appeared on) for each repeat, in file order.

    Found by sorting, not hashing: a hash table of every id costs a copy of them all.
    """
    order = pc.sort_indices(table, sort_keys=[("execution_id", "ascending"), ("row", "ascending")])
    starts = _runs(table["execution_id"].take(order))
    again = np.flatnonzero(~starts)
    if len(again) == 0:
        return []
    index = np.arange(len(starts))
    first = np.maximum.accumulate(np.where(starts, index, 0))
    rows = table["row"].take(order).to_numpy()
    ids = table["execution_id"].take(pa.array(order.to_numpy()[again])).to_pylist()
    found = zip(rows[again].tolist(), ids, rows[first[again]].tolist(), strict=True)
    return sorted(found)


def _chain_roots(table: pa.Table) -> pa.Table:
    """Event ids from retry chains where the export has none (the chain's first execution)."""
    event_id = table["event_id"]
    empty = pc.equal(event_id, "")
    if not pc.any(empty).as_py():
        return table
    retries = table.filter(pc.not_equal(table["retry_of"], ""))
    parent = dict(
        zip(retries["execution_id"].to_pylist(), retries["retry_of"].to_pylist(), strict=True)
    )
    roots = [_root(ident, parent) for ident in table.filter(empty)["execution_id"].to_pylist()]
    filled = pc.replace_with_mask(
        pa.concat_arrays(event_id.chunks) if event_id.num_chunks else pa.array([], pa.string()),
        pa.concat_arrays(empty.chunks) if empty.num_chunks else pa.array([], pa.bool_()),
        pa.array(roots, pa.string()),
    )
    return table.set_column(table.schema.get_field_index("event_id"), "event_id", filled)


def _root(execution_id: str, parent: dict[str, str]) -> str:
    """The first execution of a retry chain (outside the export if it started earlier)."""
    seen = {execution_id}
    current = execution_id
    while parent.get(current):
        current = parent[current]
        if current in seen:  # a cycle: the export is odd, the chain ends here
            break
        seen.add(current)
    return current


@dataclass(frozen=True)
class Executions:
    """Executions in start order, without copying them into that order.

    ``order[p]`` is the table row of the p-th execution to start (ties by
    file row); ``codes[p]`` its event's number (equal numbers, same event).
    """

    table: pa.Table  # in file order
    order: np.ndarray
    codes: np.ndarray

    @property
    def num_rows(self) -> int:
        return int(self.table.num_rows)

    def part(self, start: int, length: int) -> pa.Table:
        """Executions ``start`` .. ``start + length`` in start order, as a table of their own."""
        return self.table.take(pa.array(self.order[start : start + length]))

    def take(self, column: str, positions: np.ndarray) -> pa.ChunkedArray:
        """A column's values at these places in start order."""
        return self.table[column].take(pa.array(self.order[positions]))


def finish(source: ExecutionColumns) -> Executions:
    """Events filled from retry chains, attempts numbered by start within each event,
    and the start order."""
    table = _chain_roots(source.hand_over())
    codes = _event_codes(table["event_id"])
    row, started = table["row"].to_numpy(), table["started"].to_numpy()
    by_event = np.lexsort((row, started, codes))
    grouped = codes[by_event]
    starts = np.ones(len(by_event), dtype=bool)
    starts[1:] = grouped[1:] != grouped[:-1]
    del grouped
    index = np.arange(len(by_event))
    rank = index - np.maximum.accumulate(np.where(starts, index, 0)) + 1
    numbered = np.empty(len(by_event), dtype=np.int64)
    numbered[by_event] = rank
    del by_event, starts, index, rank
    filled = pc.coalesce(table["attempt"], pa.array(numbered, pa.int64()))
    table = table.set_column(table.schema.get_field_index("attempt"), "attempt", filled)
    order = np.lexsort((row, started))
    return Executions(table, order, codes[order])


def _event_codes(event_id: pa.ChunkedArray) -> np.ndarray:
    """A number per event: equal ids, equal numbers (by sorting the ids once)."""
    by_id = pc.sort_indices(event_id)
    starts = _runs(event_id.take(by_id))
    codes = np.empty(len(starts), dtype=np.int64)
    codes[by_id.to_numpy()] = np.cumsum(starts) - 1
    return codes


@dataclass(frozen=True)
class Outcomes:
    """How each transaction ended, with the counts a verdict needs beside the table."""

    table: pa.Table  # event_id, outcome, detail: one row per transaction that ended
    events: int  # distinct transactions, ended or not
    processed: int


def outcomes(executions: Executions) -> Outcomes:
    """Processed once any execution succeeded, else dead-lettered if the last one failed
    (a person has to finish it); still running otherwise."""
    if executions.num_rows == 0:
        return Outcomes(pa.table({"event_id": [], "outcome": [], "detail": []}), 0, 0)
    codes, take = executions.codes, executions.take
    category = executions.table["category"]
    _, first_seen = np.unique(codes, return_index=True)
    _, from_end = np.unique(codes[::-1], return_index=True)
    last = len(codes) - 1 - from_end  # both by code, so they line up
    success = pc.equal(category, "success").to_numpy(zero_copy_only=False)[executions.order]
    won = np.full(len(first_seen), -1)
    success_at = np.flatnonzero(success)
    won_codes, won_first = np.unique(codes[success_at], return_index=True)
    won[won_codes] = success_at[won_first]
    in_order = np.argsort(first_seen, kind="stable")  # transactions by first execution
    won, last = won[in_order], last[in_order]
    final_failed = pc.equal(take("category", last), "failed").to_numpy(zero_copy_only=False)
    processed = won >= 0
    ended = processed | final_failed
    won, last, processed = won[ended], last[ended], processed[ended]
    detail_won = pc.binary_join_element_wise(
        "execution ", take("execution_id", np.where(processed, won, 0)), ""
    )
    status, error = take("status", last), take("error", last)
    detail_failed = pc.if_else(
        pc.equal(error, ""), status, pc.binary_join_element_wise(status, error, ": ")
    )
    mask = pa.array(processed)
    rows = pa.table(
        {
            "event_id": take("event_id", last),
            "outcome": pc.if_else(mask, "processed", "dead_lettered"),
            "detail": pc.if_else(mask, detail_won, detail_failed),
        }
    )
    return Outcomes(rows, len(first_seen), int(processed.sum()))
