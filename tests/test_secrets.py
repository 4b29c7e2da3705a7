"""The signing secret comes from the environment and goes nowhere else."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.drill import run_drill
from harness.inputs.pilot import load_pilot

REPO = Path(__file__).resolve().parent.parent
SENTINEL = "whsec_SENTINEL_do_not_store_4f9c2a"


def written(root: Path) -> dict[str, bytes]:
    """Every file under root, by its path relative to root."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
async def test_secret_reaches_no_journal_report_or_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pilot = load_pilot(REPO / "pilots/order-sync.toml")
    monkeypatch.setenv(pilot.spec.webhook.secret_env, SENTINEL)
    scenario = pilot.scenario("duplicates").model_copy(
        update={"delivery": pilot.scenario("duplicates").delivery.model_copy(update={"limit": 6})}
    )
    result = await run_drill(pilot, "duplicates", scenario=scenario, reports=tmp_path)
    # The workflow verified real signatures made with the secret...
    assert result.stats.delivered > 0
    files = written(tmp_path)
    names = {Path(name).name for name in files}
    assert {"run.json", "workflow.log", "partner-logistics.log", "attempts.parquet"} <= names
    # ... and not one byte of it was written anywhere under the reports folder.
    assert [name for name, data in files.items() if SENTINEL.encode() in data] == []
