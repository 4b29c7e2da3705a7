"""Every review's verdict, appended to ``reports/<pilot>/verdicts.jsonl``.

One JSON object a line, never rewritten: when it was reviewed, at which git
commit of the pilot file's repository, the pilot file's sha256, and the
verdict with the money beside it. The portfolio page reads it back as the
verdict's history; a line that does not parse is named (file:line) and
skipped, so one bad line never hides the rest.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.report.verdict import Decision

__all__ = [
    "LOG_NAME",
    "VerdictRecord",
    "append_record",
    "commit_of",
    "finite",
    "read_verdicts",
    "record_of",
    "record_verdict",
]

LOG_NAME = "verdicts.jsonl"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class VerdictRecord:
    reviewed_at: str  # ISO 8601, UTC
    commit: str  # short HEAD of the pilot file's repository, or "unknown"
    pilot_file_sha256: str | None
    decision: str
    cost_per_txn: float | None  # per successful transaction; None when unbounded
    roi_12m: float | None
    payback_months: float | None  # None: never pays back
    attainment_lb: float | None = None
    # What the two-REFACTORs rule compares (verdict.PriorReview), kept for a later review.
    npv_after_fix: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def commit_of(folder: Path) -> str:
    """``git rev-parse --short HEAD`` in ``folder``; "unknown" outside git or without git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else UNKNOWN


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def finite(value: Any) -> float | None:
    """A finite float, else None (the summary's JSON already writes infinity as null)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def record_of(
    summary: Mapping[str, Any], pilot_file: Path | None, reviewed_at: str | None = None
) -> VerdictRecord:
    """The line a review adds, from its summary (``pilot_review.json``) and pilot file."""
    econ = summary.get("economics") or {}
    metrics = (summary.get("verdict") or {}).get("metrics") or {}
    when = reviewed_at or summary.get("reviewed_at")
    return VerdictRecord(
        reviewed_at=str(when or datetime.now(UTC).isoformat(timespec="seconds")),
        commit=commit_of(pilot_file.parent) if pilot_file is not None else UNKNOWN,
        pilot_file_sha256=_sha256(pilot_file) if pilot_file is not None else None,
        decision=str(summary["decision"]),
        cost_per_txn=finite(econ.get("cost_per_success")),
        roi_12m=finite(econ.get("roi_12m")),
        payback_months=finite(econ.get("payback_months")),
        attainment_lb=finite(metrics.get("attainment_lb")),
        npv_after_fix=finite(econ.get("npv_after_fix")),
    )


def append_record(record: VerdictRecord, log: Path) -> None:
    """One line, appended in one write so a concurrent reader never sees half of it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record.as_dict(), allow_nan=False) + "\n"
    with log.open("a", encoding="utf-8") as out:
        out.write(line)


def record_verdict(
    summary: Mapping[str, Any], pilot_file: Path | None, out_dir: Path
) -> VerdictRecord:
    """Append this review's verdict to ``out_dir/verdicts.jsonl``; what ``run_review`` calls."""
    record = record_of(summary, pilot_file)
    append_record(record, out_dir / LOG_NAME)
    return record


_FIELDS = set(VerdictRecord.__dataclass_fields__)
_REQUIRED = ("reviewed_at", "commit", "decision")
# A hand-edited line could say anything; the page colours and orders only these.
_DECISIONS = tuple(d.value for d in Decision)


def _parse(line: str) -> VerdictRecord:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"expected an object, got {type(raw).__name__}")
    missing = [k for k in _REQUIRED if not isinstance(raw.get(k), str)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    if raw["decision"] == "NO VERDICT":  # logged before the rename
        raw["decision"] = Decision.INSUFFICIENT_DATA.value
    if raw["decision"] not in _DECISIONS:
        raise ValueError(
            f"decision: not a verdict ({', '.join(_DECISIONS)}), got {raw['decision']!r}"
        )
    known = {k: v for k, v in raw.items() if k in _FIELDS}
    numbers = ("cost_per_txn", "roi_12m", "payback_months", "attainment_lb", "npv_after_fix")
    return VerdictRecord(
        reviewed_at=known["reviewed_at"],
        commit=known["commit"],
        pilot_file_sha256=sha if isinstance(sha := known.get("pilot_file_sha256"), str) else None,
        decision=known["decision"],
        **{k: finite(known.get(k)) for k in numbers},
    )


def read_verdicts(log: Path) -> tuple[list[VerdictRecord], list[str]]:
    """The records in file order, and one warning (``file:line: why``) per line skipped."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [f"{log}: cannot read ({exc.strerror or exc})"]
    records: list[VerdictRecord] = []
    warnings: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(_parse(line))
        except ValueError as exc:
            warnings.append(f"{log}:{number}: skipped: {exc}")
    return records, warnings
