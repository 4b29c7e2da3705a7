"""Hostile captures cannot run script or add elements in any report the lab writes.

Every string field of two runs (every string column of every journal table,
the scenario names, the invariants' summaries and examples, the toxics'
links) holds a payload with a script, an ``<img onerror>``, a Markdown link
and image, emphasis and maths. `chaoslab review` and the portfolio page are
rendered from them, then headless Chromium loads each page, lets it run, and
dumps the DOM it ended with. The page must hold the payload as text and
nothing from it as an element: no script ran (it would mark <body>), no
element carries the payload's marker attribute, no image but our figures, no
link or emphasis made from the data.

Each page is loaded twice: as written (its Content-Security-Policy would
stop a script anyway) and with the policy taken out, so escaping is tested
on its own.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from test_report_browser import _browser, _chromium

from harness.journal import JournalWriter
from harness.journal.columns import TABLES
from harness.report.portfolio_page import write_portfolio
from harness.report.review import CONTENT_SECURITY_POLICY, run_review

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
CSP = "Content-Security-Policy"


def hostile(tag: str) -> str:
    """A payload naming the field it sits in: any element or script made from it is caught."""
    return (
        f'{tag}<img src=x data-hostile="{tag}" onerror="document.body.dataset.pwned=1">'
        f'<script data-hostile="{tag}">document.body.dataset.pwned=2</script>'
        f"[link-{tag}](javascript:document.body.dataset.pwned=3) ![pic-{tag}](x.png) "
        f"**bold-{tag}** $x^2$ {{{{7*7}}}}"
    )


def _row(table: str, fixed: dict[str, Any]) -> dict[str, Any]:
    """A row of ``table`` with every string column hostile unless ``fixed`` sets it."""
    strings = {
        f.name: hostile(f"{table}.{f.name}")
        for f in TABLES[table]
        if pa.types.is_string(f.type) and f.name != "run_id"
    }
    return {**strings, **fixed}


def _write_run(root: Path, run_id: str, scenario: str, started: float, judged: bool) -> None:
    """40 events, one dead-lettered and one applied twice; ``judged``: findings in run.json."""
    effect = "erp:order.created"
    with JournalWriter(root / "runs" / run_id, run_id) as journal:
        meta: dict[str, Any] = {
            "pilot": {"name": "order-sync", "path": str(REPO / "pilots" / "order-sync.toml")},
            "scenario": scenario,
            "started_at": started,
            "status": "finished",
            "slo": {"p95_latency_ms": 3000.0, "success_rate": 0.99},
            "toxics_applied": [
                {"link": hostile("toxic.link"), "type": "latency", "from_s": 0.0, "until_s": 0.2}
            ],
        }
        if judged:
            meta["invariants"] = [
                {
                    "name": hostile("invariant.name"),
                    "ok": False,
                    "summary": hostile("invariant.summary"),
                    "examples": [hostile("invariant.example")],
                }
            ]
        journal.write_meta(meta)
        for i in range(40):
            event, entity, sent = hostile(f"event{i}"), hostile(f"entity{i}"), i * 0.02
            ids = {"event_id": event, "entity_id": entity}
            journal.expected(
                _row("expected", {**ids, "entity_version": 1, "expected_effect": effect,
                                  "allowed_effect": "", "dropped": False})
            )  # fmt: skip
            journal.attempt(
                _row("attempts", {**ids, "scenario": scenario, "attempt": 1, "sent_at": sent,
                                  "finished_at": sent + 0.01, "status": 200, "error_class": ""})
            )  # fmt: skip
            for _ in range(2 if i == 3 else 0 if i == 7 else 1):
                journal.effect(
                    _row("effects", {"event_id": event, "at": sent + 0.005, "kind": effect,
                                     "business_key": entity, "entity_version": 1})
                )  # fmt: skip
                journal.request(
                    _row("requests", {"at": sent + 0.004, "status": 201, "effect": effect,
                                      "business_key": entity})
                )  # fmt: skip
            outcome = "dead_lettered" if i == 7 else "processed"
            journal.outcome(_row("outcomes", {"event_id": event, "outcome": outcome}))


class _Dom(HTMLParser):
    """What a dumped DOM holds: every start tag with its attributes, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self._open: list[str] = []
        self.text_in: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            del self._open[len(self._open) - 1 - self._open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for tag in set(self._open):
            self.text_in.setdefault(tag, []).append(data)


def _load(browser: str, page: Path, profile: Path) -> _Dom:
    dumped = _chromium(browser, profile, "--virtual-time-budget=3000", "--dump-dom", page.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = _Dom()
    dom.feed(dumped.stdout)
    assert dom.tags, f"{page.name}: Chromium dumped no DOM"
    return dom


def _assert_inert(dom: _Dom, name: str) -> None:
    body = [attrs for tag, attrs in dom.tags if tag == "body"]
    assert body and "data-pwned" not in body[0], f"{name}: a payload's script ran"
    marked = [(tag, attrs["data-hostile"]) for tag, attrs in dom.tags if "data-hostile" in attrs]
    assert not marked, f"{name}: elements made from data: {marked[:5]}"
    images = [attrs.get("src", "") for tag, attrs in dom.tags if tag == "img"]
    assert all(src.startswith("data:image/") for src in images), f"{name}: {images[:3]}"
    links = [attrs.get("href", "") for tag, attrs in dom.tags if tag == "a"]
    assert not [h for h in links if h.strip().lower().startswith("javascript")], name
    for tag in ("a", "strong", "em", "code", "script"):
        made = [t for t in dom.text_in.get(tag, []) if re.search(r"(link|bold|pic)-\w", t)]
        assert not made, f"{name}: <{tag}> made from data: {made[:3]}"


def test_no_report_runs_or_builds_anything_from_a_hostile_capture(tmp_path: Path) -> None:
    browser = _browser()
    reports = tmp_path / "reports"
    _write_run(reports, "plain", hostile("scenario.a"), 100.0, judged=False)
    _write_run(reports, "faulty", hostile("scenario.b"), 200.0, judged=True)
    result = run_review("order-sync", reports)
    pages = dict(result.html)
    # The portfolio quotes each review's reasons: make one hostile too.
    summary = json.loads(result.summary_path.read_text())
    summary["reasons"] = [hostile("review.reason"), *summary["reasons"]]
    result.summary_path.write_text(json.dumps(summary))
    pages["index"] = write_portfolio(reports).html
    assert set(pages) >= {"drill_analysis", "pilot_review", "index"}

    as_written: dict[str, _Dom] = {}
    for name, page in pages.items():
        written = page.read_text(encoding="utf-8")
        head = _Dom()
        head.feed(written.split("</head>")[0])
        policies = [a.get("content") for t, a in head.tags if a.get("http-equiv") == CSP]
        assert policies == [CONTENT_SECURITY_POLICY], f"{name}: policy {policies}"
        bare = tmp_path / f"{name}-no-policy.html"
        bare.write_text(re.sub(rf"<meta[^>]*{CSP}[^>]*>", "", written), encoding="utf-8")
        for variant, path in (("as written", page), ("without its policy", bare)):
            dom = _load(browser, path, tmp_path / f"profile-{name}-{variant[:2]}")
            _assert_inert(dom, f"{name} {variant}")
            as_written.setdefault(name, dom)
        # The data is there, as text a reader can see.
        shown = "".join(dom.text)
        assert '<img src=x data-hostile="' in shown, f"{name}: the payload was not shown as text"
    analysis = "".join(as_written["drill_analysis"].text)
    for field in ("invariant.summary", "invariant.example", "scenario.b"):
        assert f'{field}<img src=x data-hostile="{field}"' in analysis, field
