"""The portfolio's data and the verdict history, on plain files (no kernel, no browser)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from harness.journal import JournalWriter
from harness.report.portfolio import (
    COLOURS,
    Portfolio,
    history_html,
    portfolio,
    portfolio_row,
    portfolio_sentence,
    table_html,
    when,
)
from harness.report.portfolio_page import pilots_to_review, review_all
from harness.report.verdict_log import (
    LOG_NAME,
    VerdictRecord,
    append_record,
    commit_of,
    read_verdicts,
    record_of,
    record_verdict,
)


def _summary(pilot: str, decision: str, roi: float, payback: float | None = 6.0) -> dict[str, Any]:
    """The parts of pilot_review.json the portfolio reads (as save_summary writes them)."""
    return {
        "pilot": pilot,
        "decision": decision,
        "reasons": [f"{pilot} reason {i}" for i in range(1, 5)],
        "economics": {"cost_per_success": 0.25, "roi_12m": roi, "payback_months": payback},
        "verdict": {"metrics": {"attainment_lb": 0.985}},
        "reviewed_at": "2026-11-29T18:09:26+00:00",
    }


def _review(reports: Path, summary: dict[str, Any], html: bool = True) -> Path:
    folder = reports / summary["pilot"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pilot_review.json").write_text(json.dumps(summary))
    if html:
        (folder / "pilot_review.html").write_text("<h1>review</h1>")
    return folder


def _record(decision: str, commit: str, at: str = "2026-11-01T10:00:00+00:00") -> VerdictRecord:
    return VerdictRecord(at, commit, "ab" * 32, decision, 0.3, 0.4, 8.0, 0.99)


# ---------------------------------------------------------------- the verdict history


def test_a_review_appends_one_line_and_reads_back(tmp_path: Path) -> None:
    pilot_file = tmp_path / "p.toml"
    pilot_file.write_text('name = "p"\n')
    summary = _summary("p", "REFACTOR", 0.5, payback=None)
    summary["economics"]["cost_per_success"] = math.inf  # an unbounded cost, as floats have it
    first = record_verdict(summary, pilot_file, tmp_path / "reports" / "p")
    record_verdict(_summary("p", "PROMOTE", 0.6), pilot_file, tmp_path / "reports" / "p")
    log = tmp_path / "reports" / "p" / LOG_NAME
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["decision"] == "REFACTOR"
    assert first.commit == "unknown"  # tmp_path is not in a git repository
    assert first.pilot_file_sha256 is not None and len(first.pilot_file_sha256) == 64
    assert first.cost_per_txn is None and first.payback_months is None
    assert first.reviewed_at == "2026-11-29T18:09:26+00:00"
    records, warnings = read_verdicts(log)
    assert warnings == []
    assert [r.decision for r in records] == ["REFACTOR", "PROMOTE"]
    assert records[0] == first


def test_a_corrupt_line_is_named_and_skipped(tmp_path: Path) -> None:
    log = tmp_path / LOG_NAME
    append_record(_record("REFACTOR", "a1b2c3d"), log)
    with log.open("a") as out:
        out.write('{"reviewed_at": "2026-11-02T10:00:00+00:00", "commit": "e4f5a6b", "deci\n')
        out.write("[1, 2]\n\n")
        out.write('{"commit": "x"}\n')
        out.write('{"reviewed_at": "2026-11-03", "commit": "x", "decision": "SHIP IT"}\n')
    append_record(_record("PROMOTE", "e4f5a6b"), log)
    records, warnings = read_verdicts(log)
    assert [r.commit for r in records] == ["a1b2c3d", "e4f5a6b"]
    assert warnings == [
        f"{log}:2: skipped: not JSON (Unterminated string starting at)",
        f"{log}:3: skipped: expected an object, got list",
        f"{log}:5: skipped: missing reviewed_at, decision",
        f"{log}:6: skipped: decision: not a verdict (PROMOTE, REFACTOR, RETIRE, "
        "NEEDS MORE EVIDENCE), got 'SHIP IT'",
    ]
    assert read_verdicts(tmp_path / "none.jsonl") == ([], [])


def test_record_without_a_pilot_file_or_git(tmp_path: Path) -> None:
    record = record_of(_summary("p", "RETIRE", -0.3), None, "2026-01-01T00:00:00+00:00")
    assert (record.commit, record.pilot_file_sha256) == ("unknown", None)
    assert commit_of(tmp_path) == "unknown"
    assert commit_of(tmp_path / "missing") == "unknown"


# ---------------------------------------------------------------- the portfolio


def test_rows_come_in_the_order_to_decide_them(tmp_path: Path) -> None:
    _review(tmp_path, _summary("alpha", "REFACTOR", 0.9))
    _review(tmp_path, _summary("bravo", "PROMOTE", 0.4))
    _review(tmp_path, _summary("charlie", "RETIRE", -0.2, payback=None))
    _review(tmp_path, _summary("delta", "PROMOTE", 0.8))
    echo = _review(tmp_path, _summary("echo", "NEEDS MORE EVIDENCE", 0.1), html=False)
    # bravo was REFACTOR last time: a changed verdict comes before an unchanged one.
    for r in (_record("REFACTOR", "1111111"), _record("PROMOTE", "2222222")):
        append_record(r, tmp_path / "bravo" / LOG_NAME)
    book = portfolio(tmp_path)
    assert book.warnings == []
    assert [r.pilot for r in book.rows] == ["charlie", "bravo", "delta", "alpha", "echo"]
    charlie, bravo = book.rows[0], book.rows[1]
    assert charlie.payback_months is None and charlie.link == "charlie/pilot_review.html"
    assert bravo.changed and bravo.previous == "REFACTOR"
    assert [h.commit for h in bravo.history] == ["1111111", "2222222"]
    assert bravo.reasons == ["bravo reason 1", "bravo reason 2", "bravo reason 3"]
    assert book.rows[-1].link is None and echo.is_dir()
    assert portfolio_sentence(book) == (
        "5 pilots: 1 to retire, 2 to promote, 1 to refactor, 1 needing more evidence; "
        "changed since the previous review: bravo."
    )


def test_a_broken_summary_or_history_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    _review(tmp_path, _summary("good", "PROMOTE", 0.4))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "pilot_review.json").write_text('{"decision": "PROMOTE",\n  oops}')
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "pilot_review.json").write_text('{"pilot": "odd"}')
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "pilot_review.json").write_text('{"pilot": "wrong", "decision": "maybe"}')
    (tmp_path / "good" / LOG_NAME).write_text("not json\n")
    book = portfolio(tmp_path)
    assert [r.pilot for r in book.rows] == ["good"]
    assert book.rows[0].history == []
    assert book.warnings == [
        f"{bad / 'pilot_review.json'}:2: not JSON (Expecting property name enclosed in "
        "double quotes); pilot left out",
        f"{tmp_path / 'good' / LOG_NAME}:1: skipped: not JSON (Expecting value)",
        f"{odd / 'pilot_review.json'}: not a pilot review summary (no decision); pilot left out",
        f"{wrong / 'pilot_review.json'}: decision: not a verdict, got 'maybe'; pilot left out",
    ]
    assert portfolio(tmp_path / "nothing").rows == []
    assert "No pilot has been reviewed yet" in portfolio_sentence(portfolio(tmp_path / "x"))


def test_the_tables_show_verdicts_money_links_and_history() -> None:
    row = portfolio_row(
        _summary("a<b", "RETIRE", -0.25, payback=None),
        "a<b",
        [_record("REFACTOR", "1111111"), _record("RETIRE", "2222222", "2026-11-29T19:00:00Z")],
    )
    table = table_html(Portfolio([row], []))
    assert 'data-verdict="RETIRE"' in table and "was REFACTOR" in table
    assert '<a href="a%3Cb/pilot_review.html">a&lt;b</a>' in table
    assert "−25 %" not in table and "-25 %" in table  # pct keeps the ASCII minus
    assert ">never<" in table and ">$0.25<" in table and ">98.5 %<" in table
    history = history_html(row)
    assert history.index("2222222") < history.index("1111111")  # newest first
    assert "2026-11-29 19:00 UTC" in history
    assert when("not a date") == "not a date"


@pytest.mark.parametrize("decision", ["PROMOTE", "REFACTOR", "RETIRE", "NEEDS MORE EVIDENCE"])
def test_every_verdict_has_a_colour(decision: str) -> None:
    assert decision in COLOURS


def test_review_all_skips_what_it_cannot_review_without_running_notebooks(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    with JournalWriter(reports / "runs" / "r1", "r1") as journal:
        gone = {"name": "gone", "path": str(tmp_path / "deleted.toml")}
        journal.write_meta({"pilot": gone, "scenario": "baseline", "status": "finished"})
    pilots = tmp_path / "pilots"
    pilots.mkdir()
    (pilots / "broken.toml").write_text("this is not toml =")
    found = pilots_to_review(reports, pilots)
    assert found == [("broken", pilots / "broken.toml"), ("gone", None)]
    done = {r.pilot: r for r in review_all(reports, found)}
    assert done["broken"].skipped.startswith("no finished runs")
    assert "cannot find the pilot file of 'gone'" in done["gone"].skipped
    assert all(r.result is None and not r.error for r in done.values())


def test_review_all_skips_a_pilot_whose_recorded_name_is_unsafe(tmp_path: Path) -> None:
    # Runs recorded before names were checked: '..' would put the review in the parent
    # of the reports folder, a brace broke papermill for every pilot after it.
    reports = tmp_path / "reports"
    for index, name in enumerate(("..", "bad{name}")):
        with JournalWriter(reports / "runs" / f"r{index}", f"r{index}") as journal:
            pilot = {"name": name, "path": str(tmp_path / "p.toml")}
            journal.write_meta({"pilot": pilot, "scenario": "baseline", "status": "finished"})
    found = pilots_to_review(reports, tmp_path / "no-pilots")
    assert found == [("..", None), ("bad{name}", None)]
    done = {r.pilot: r for r in review_all(reports, found)}
    for name in ("..", "bad{name}"):
        assert done[name].skipped.startswith("pilot name: not a safe name"), done[name]
        assert repr(name) in done[name].skipped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]
    assert sorted(p.name for p in reports.iterdir()) == ["runs"]
