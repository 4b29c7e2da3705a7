"""The pilot review as a PM sees it: rendered by a real browser (headless Chromium).

Two hand-written runs of the reference pilot (320 transactions, enough for a
verdict) go through `chaoslab review`; Chromium then loads the HTML from
disk. A copy of the page carries a small script that reports, from inside
the browser, whether the verdict heading and every figure are laid out with
a size and decoded; the untouched page is screenshotted into
reports/test-artifacts/ for people to look at.

Chromium comes from the system (Debian package ``chromium``; ``.ci/run``
installs it). Without it the test fails under CI=true and skips elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.journal import JournalWriter
from harness.report.review import run_review

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "reports" / "test-artifacts"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")

pytestmark = pytest.mark.slow


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    message = "headless Chromium is not installed (Debian: apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must provide it (.ci/run installs it)")
    pytest.skip(message)


def _chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )


def with_probe(page_html: str, probe: str) -> str:
    """A copy of a report that runs the test's own probe script.

    Reports forbid every script (Content-Security-Policy); the copy drops that
    policy so the probe, and only the probe, can measure the layout.
    """
    unlocked = re.sub(r"<meta[^>]*Content-Security-Policy[^>]*>", "", page_html)
    assert unlocked != page_html, "the report has no Content-Security-Policy to lift"
    return unlocked.replace("</body>", probe + "</body>")


def screenshot(browser: str, page: Path, profile: Path, name: str, height: int) -> Path:
    """A 1200-pixel-wide screenshot of ``page`` kept in ARTIFACTS for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / name
    shot.unlink(missing_ok=True)
    taken = _chromium(
        browser,
        profile,
        "--hide-scrollbars",
        f"--window-size=1200,{height}",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    assert taken.returncode == 0, taken.stderr[-2000:]
    return shot


def _write_run(root: Path, run_id: str, scenario: str, started: float, window: bool) -> None:
    """160 orders: a timeout-then-retry for those sent inside the window, two dead
    letters in the plain run, three orders shipped twice in the faulty one."""
    with JournalWriter(root / "runs" / run_id, run_id) as journal:
        meta: dict[str, Any] = {
            "pilot": {"name": "order-sync", "path": str(REPO / "pilots" / "order-sync.toml")},
            "scenario": scenario,
            "started_at": started,
            "status": "finished",
            "slo": {"p95_latency_ms": 3000.0, "success_rate": 0.99},
            "toxics_applied": (
                [{"link": "partner", "type": "latency", "from_s": 0.0, "until_s": 1.0}]
                if window
                else []
            ),
        }
        journal.write_meta(meta)
        for i in range(160):
            event, order, sent = f"e{i}", f"o{i}", i * 0.02
            journal.expected(
                {
                    "event_id": event,
                    "event_type": "payment_intent.succeeded",
                    "entity_id": order,
                    "entity_version": 1,
                    "expected_effect": "shipment.created",
                    "dropped": False,
                }
            )
            attempt = 1
            if window and sent < 1.0:
                journal.attempt(
                    {
                        "event_id": event,
                        "scenario": scenario,
                        "attempt": 1,
                        "sent_at": sent,
                        "finished_at": sent + 0.5,
                        "error_class": "timeout",
                    }
                )
                attempt, sent = 2, sent + 0.7
            journal.attempt(
                {
                    "event_id": event,
                    "scenario": scenario,
                    "attempt": attempt,
                    "sent_at": sent,
                    "finished_at": sent + 0.01,
                    "status": 200,
                    "error_class": "",
                }
            )
            dead = not window and i in (7, 70)
            if not dead:
                for _ in range(2 if window and i in (3, 30, 90) else 1):
                    journal.effect(
                        {
                            "at": sent + 0.005,
                            "kind": "shipment.created",
                            "business_key": order,
                            "entity_version": 1,
                            "event_id": event,
                        }
                    )
            outcome = "dead_lettered" if dead else "processed"
            journal.outcome({"event_id": event, "outcome": outcome, "detail": ""})


# Runs inside the page after load: where the verdict and the figures ended up.
PROBE = """
<script>
window.addEventListener("load", () => {
  const seen = (el) => {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden"
      && style.display !== "none";
  };
  const heading = [...document.querySelectorAll("h2")]
    .find((h) => h.textContent.startsWith("Verdict:"));
  const images = [...document.images];
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    verdict: heading ? heading.textContent.trim() : null,
    verdict_visible: heading ? seen(heading) : false,
    images: images.length,
    images_visible: images.filter((img) => seen(img) && img.naturalWidth > 100).length,
  });
  document.body.appendChild(probe);
});
</script>
"""


def test_pilot_review_is_readable_in_a_browser(tmp_path: Path) -> None:
    browser = _browser()
    _write_run(tmp_path, "plain", "baseline", 100.0, window=False)
    _write_run(tmp_path, "faulty", "partner-timeout", 200.0, window=True)
    result = run_review("order-sync", tmp_path)
    assert result.decision in {"PROMOTE", "REFACTOR", "RETIRE"}
    page = result.html["pilot_review"]
    figures = len(
        re.findall(
            r'^# %%.*tags=\[[^\]]*"figure"',
            (REPO / "notebooks" / "pilot_review.py").read_text(),
            flags=re.M,
        )
    )

    probed = tmp_path / "probed.html"
    probed.write_text(with_probe(page.read_text(), PROBE))
    dom = _chromium(
        browser,
        tmp_path / "profile-dom",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probed.as_uri(),
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, flags=re.S)
    assert found, "the page's script did not run"
    report = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert report["verdict"].rstrip("¶") == f"Verdict: {result.decision}"  # ¶: anchor link
    assert report["verdict_visible"]
    assert report["images"] == figures
    assert report["images_visible"] == figures
    for reason in result.reasons[:3]:
        assert reason.split(" (")[0] in dom.stdout

    shot = screenshot(browser, page, tmp_path / "profile-shot", "pilot_review.png", 3600)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (3600, 1200)
    ink = (pixels < 0.9).any(axis=2).mean()
    colour = (np.ptp(pixels, axis=2) > 0.2).mean()  # bars and cells, not black text
    assert ink > 0.02, f"screenshot is nearly blank ({ink:.1%} ink)"
    assert colour > 0.01, f"no coloured figures in the screenshot ({colour:.2%})"
