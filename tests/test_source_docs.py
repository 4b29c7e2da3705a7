"""The source pages hold true: their complete pilots load, their links lead to files."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest

from harness.inputs.pilot import load_pilot

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = ("sources.md", "webhook.md", "queue.md", "poll.md")


def complete_pilot(page: str) -> str:
    """The first TOML block under the page's "A complete … pilot" heading."""
    text = (DOCS / page).read_text(encoding="utf-8")
    section = text[text.index("## A complete") :]
    found = re.search(r"```toml\n(.*?)```", section, flags=re.S)
    assert found, f"{page}: no TOML block under its complete pilot"
    return found.group(1)


@pytest.mark.parametrize("page", ["queue.md", "poll.md"])
def test_the_complete_pilot_of_a_source_page_loads(page: str, tmp_path: Path) -> None:
    text = complete_pilot(page)
    data = tomllib.loads(text)
    source = data.get("queue") or data.get("poll")
    # Lay out what the pilot reads as the repository does, next to a copy of it.
    (tmp_path / "pilots").mkdir()
    shutil.copytree(REPO / "pilots" / "partners", tmp_path / "pilots" / "partners")
    fixtures = (REPO / "pilots" / source["fixtures"]).resolve()
    there = tmp_path / "pilots" / source["fixtures"]
    there.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(fixtures, there)
    for code in data["workflow"].get("source", []):  # only its existence is checked on load
        (tmp_path / "pilots" / code).mkdir(parents=True, exist_ok=True)
    (tmp_path / "pilots" / "doc.toml").write_text(text, encoding="utf-8")
    pilot = load_pilot(tmp_path / "pilots" / "doc.toml")
    assert pilot.spec.scenarios


@pytest.mark.parametrize("page", PAGES)
def test_the_links_of_a_source_page_lead_to_files(page: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if target.startswith("http"):
            continue
        assert (DOCS / target).exists(), f"{page}: {target} does not exist"
