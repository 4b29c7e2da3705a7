"""What a workflow says it did, in its own words, read from a file it writes."""

from __future__ import annotations

from pathlib import Path

from harness.drill.observe import read_outcomes
from harness.inputs.pilot import OutcomesSpec


async def test_an_outcomes_file_is_mapped_to_our_words(tmp_path: Path) -> None:
    file = tmp_path / "outcomes.jsonl"
    file.write_text(
        '{"id": "e1", "result": "ok"}\n'
        '{"id": "e2", "result": "failed", "why": "ledger answered 503"}\n'
        '{"result": "ok"}\n'  # no event id: not an outcome
        '{"id": "e3", "res'  # still being written when the drill read it
    )
    spec = OutcomesSpec(
        file="{state_dir}/outcomes.jsonl",
        fields={"event_id": "id", "outcome": "result", "detail": "why"},
        values={"ok": "processed", "failed": "dead_lettered"},
    )
    rows = await read_outcomes(spec, "http://127.0.0.1:9", file, "run-1")
    assert [(r["event_id"], r["outcome"], r["detail"]) for r in rows] == [
        ("e1", "processed", ""),
        ("e2", "dead_lettered", "ledger answered 503"),
    ]
    assert await read_outcomes(spec, "http://127.0.0.1:9", tmp_path / "none.jsonl", "r") == []
