"""Finishing the journals of drills that were killed, so the next drill starts clean."""

from __future__ import annotations

import re
from pathlib import Path

from harness.drill.collect import ledger_effects, partner_requests
from harness.drill.services import PROXY_PREFIX, pid_alive
from harness.journal import META_FILE, JournalWriter, list_runs, read_meta, recover, write_meta
from harness.replay.sender import trace_id_for


def _take_partner_files(run_dir: Path, meta: dict[str, object]) -> None:
    # Effects and requests are read from the partners' files at the end of a
    # drill; a killed drill never got there, so take them now.
    run_id = str(meta.get("run_id", run_dir.name))
    origin = meta.get("clock_origin", meta.get("started_at", 0.0))
    clock = float(origin) if isinstance(origin, int | float) else 0.0
    events = meta.get("event_ids", [])
    trace_map = (
        {trace_id_for(run_id, str(e)): str(e) for e in events} if isinstance(events, list) else {}
    )
    with JournalWriter(run_dir, run_id) as journal:
        for ledger in sorted(run_dir.glob("ledger-*.jsonl")):
            for row in ledger_effects(ledger, run_id, clock, trace_map):
                journal.effect(row)
        for requests in sorted(run_dir.glob("requests-*.jsonl")):
            for row in partner_requests(requests, run_id, clock):
                journal.request(row)


# "running" as run.json can hold it: plainly, or with a letter written as a
# \u escape (json.dumps writes none, but a hand-edited file may).
_ESCAPED_LETTER = re.compile(rb"\\u00(?:72|75|6[eE]|69|67)")


def _may_be_running(run_dir: Path) -> bool:
    """False only when the run's run.json cannot hold the string "running".

    Every drill starts by looking through all earlier runs, nearly all of
    them finished; not finding ``running`` in the bytes spares decoding each
    one again. Anything else is left to ``read_meta``, as before.
    """
    try:
        data = (run_dir / META_FILE).read_bytes()
    except FileNotFoundError:
        return False  # no run.json: read_meta would answer {}
    except OSError:
        return True
    # Substring tests first: a regex alternation scans as slowly as decoding.
    return b"running" in data or (b"\\u00" in data and _ESCAPED_LETTER.search(data) is not None)


def recover_stale_runs(root: Path) -> list[Path]:
    """Close runs whose process died while "running": take in partner files, mark them "killed".

    Returns the run folders recovered; a live run's folder is never touched.
    """
    recovered: list[Path] = []
    for run_dir in list_runs(root):
        if not _may_be_running(run_dir):
            continue
        meta = read_meta(run_dir)
        if meta.get("status") != "running" or pid_alive(meta.get("pid")):
            continue
        compacting = any(run_dir.glob("*.parquet"))
        if not meta.get("effects_journaled") and not compacting:
            _take_partner_files(run_dir, meta)
        recover(run_dir)
        meta = read_meta(run_dir)
        meta["status"] = "killed"
        write_meta(run_dir, meta)
        recovered.append(run_dir)
    return recovered


# Where a link proxy's owner may keep its folder, beside the one a drill starts from:
# drills in runs/, standing stages in stages/ (harness.drill.session), on one fault proxy.
OWNER_FOLDERS = ("runs", "stages")


def owner_alive(runs_root: Path, proxy_name: str) -> bool:
    """A link proxy belongs to a run or a standing stage; it is stale once that one's
    process is gone. Both folders are asked: a fresh drill starting next to a standing
    stage must not take the stage's proxies for a killed drill's leftovers."""
    run_id = proxy_name.removeprefix(PROXY_PREFIX).rsplit(".", 1)[0]
    roots = [runs_root, *(runs_root.parent / name for name in OWNER_FOLDERS)]
    for folder in (root / run_id for root in roots):
        if folder.is_dir():
            meta = read_meta(folder)
            return meta.get("status") == "running" and pid_alive(meta.get("pid"))
    return False
