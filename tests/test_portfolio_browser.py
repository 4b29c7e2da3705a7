"""The portfolio page as a PM sees it: reports/index.html rendered by headless Chromium.

Two pilots' reviews are written from real verdicts (``evaluate`` and
``decide``, as the review notebook reaches them); the first pilot was
reviewed twice, at two commits of a throwaway git repository holding its
pilot file, through the same ``record_verdict`` that ``run_review`` calls.
The portfolio notebook is executed once; Chromium then loads the page and a
small script reports what is laid out: a verdict per pilot, the history rows
with both commits, and the links to each pilot's review, which are followed.

Chromium comes from the system, as for tests/test_report_browser.py: without
it the test fails under CI=true and skips elsewhere.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from test_report_browser import _browser, _chromium, screenshot, with_probe

from harness.report.analysis import verdict_inputs
from harness.report.economics import EconomicsConfig, Measured, evaluate
from harness.report.portfolio_page import write_portfolio
from harness.report.review import save_summary
from harness.report.verdict import decide
from harness.report.verdict_log import record_verdict

pytestmark = pytest.mark.slow

ECONOMICS = EconomicsConfig.of(
    {
        "volume_per_month": 2000,
        "platform_cost_per_call": 0.00013,
        "partner_call_price": 0.01,
        "cost_per_duplicate": 25.0,
        "fixed_monthly_cost": 500,
        "build_cost": 30000,
        "refactor_cost": 8000,
    }
)
THRESHOLDS = {"min_txns": 300}


def _review(reports: Path, pilot: str, dead: int, duplicates: int = 0) -> dict[str, Any]:
    """pilot_review.json (and a stand-in pilot_review.html) from a real verdict on 400 txns."""
    n = 400
    measured = Measured(
        transactions=n,
        succeeded=n - dead - duplicates,
        dead_lettered=dead,
        duplicates=duplicates,
        attempts=n + 40,
        ok_attempts=n,
        executions=n,
        partner_calls=n,
    )
    econ = evaluate(ECONOMICS, measured)
    verdict = decide(verdict_inputs(measured, measured.succeeded, econ), THRESHOLDS)
    folder = reports / pilot
    folder.mkdir(parents=True, exist_ok=True)
    summary = {
        "pilot": pilot,
        "decision": verdict.label,
        "reasons": verdict.reasons,
        "what_would_change": verdict.what_would_change,
        "verdict": verdict.as_dict(),
        "economics": econ.as_dict(),
    }
    save_summary(summary, folder / "pilot_review.json")
    (folder / "pilot_review.html").write_text(
        f"<html><body><h1>Pilot review: {pilot}</h1><h2>Verdict: {verdict.label}</h2></body></html>"
    )
    saved: dict[str, Any] = json.loads((folder / "pilot_review.json").read_text())
    return saved


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.test", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


PROBE = """
<script>
window.addEventListener("load", () => {
  const seen = (el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== "hidden";
  };
  const rows = [...document.querySelectorAll("table.portfolio tbody tr")].map((tr) => {
    const link = tr.querySelector("td.pilot a");
    const badge = tr.querySelector(".verdict");
    return {
      pilot: tr.dataset.pilot,
      verdict: badge ? badge.textContent.trim() : null,
      visible: badge ? seen(badge) : false,
      href: link ? link.href : null,
    };
  });
  const history = {};
  for (const table of document.querySelectorAll("table.history")) {
    history[table.dataset.pilot] = [...table.querySelectorAll("tr.review")].map((tr) =>
      [...tr.cells].map((td) => td.textContent.trim()));
  }
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({ rows, history, images: document.images.length });
  document.body.appendChild(probe);
});
</script>
"""


def _probe(browser: str, page: Path, profile: Path) -> dict[str, Any]:
    dom = _chromium(browser, profile, "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, flags=re.S)
    assert found, "the page's script did not run"
    text = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    result: dict[str, Any] = json.loads(text.replace("&amp;", "&"))
    return result


def test_portfolio_page_shows_verdicts_history_and_links(tmp_path: Path) -> None:
    browser = _browser()
    reports = tmp_path / "reports"
    repo = tmp_path / "pilots-repo"
    (repo / "pilots").mkdir(parents=True)
    pilot_file = repo / "pilots" / "alpha.toml"
    _git(repo, "init", "-q")

    # alpha: reviewed at two commits of its pilot file, REFACTOR then PROMOTE.
    commits = []
    for dead, note in ((12, "first draft"), (0, "retries fixed")):
        pilot_file.write_text(f'name = "alpha"\n# {note}\n')
        _git(repo, "add", "pilots/alpha.toml")
        _git(repo, "commit", "-q", "-m", note)
        commits.append(_git(repo, "rev-parse", "--short", "HEAD"))
        summary = _review(reports, "alpha", dead)
        record_verdict(summary, pilot_file, reports / "alpha")
    assert commits[0] != commits[1]
    # bravo: one review, its pilot file unknown; duplicate side effects keep it from PROMOTE.
    bravo = _review(reports, "bravo", dead=2, duplicates=30)
    record_verdict(bravo, None, reports / "bravo")

    page = write_portfolio(reports)
    assert page.html == reports / "index.html"
    decisions = {r.pilot: r.decision for r in page.book.rows}
    assert decisions["alpha"] == "PROMOTE" and decisions["bravo"] in {"REFACTOR", "RETIRE"}

    # The probe copy sits beside index.html, so its links resolve as the page's do.
    probed = reports / "probed.html"
    probed.write_text(with_probe(page.html.read_text(), PROBE))
    seen = _probe(browser, probed, tmp_path / "profile-dom")

    rows = {r["pilot"]: r for r in seen["rows"]}
    assert set(rows) == {"alpha", "bravo"}
    for name, row in rows.items():
        assert row["verdict"] == decisions[name] and row["visible"], row
    # What to decide first: RETIRE before PROMOTE before REFACTOR.
    order = [r["pilot"] for r in seen["rows"]]
    assert order == (["bravo", "alpha"] if decisions["bravo"] == "RETIRE" else ["alpha", "bravo"])

    alpha = seen["history"]["alpha"]
    assert [cells[1] for cells in alpha] == [commits[1], commits[0]]  # newest first
    assert [cells[2] for cells in alpha] == ["PROMOTE", "REFACTOR"]
    assert [cells[1] for cells in seen["history"]["bravo"]] == ["unknown"]
    assert seen["images"] == 1  # the ROI figure

    for name, row in rows.items():
        target = Path(unquote(urlparse(row["href"]).path))
        assert target == (reports / name / "pilot_review.html").resolve()
        followed = _chromium(browser, tmp_path / f"profile-{name}", "--dump-dom", row["href"])
        assert followed.returncode == 0, followed.stderr[-2000:]
        assert f"Pilot review: {name}" in followed.stdout

    shot = screenshot(browser, page.html, tmp_path / "profile-shot", "portfolio.png", 1400)
    assert shot.stat().st_size > 10_000
