"""The inbox pilots drilled for real: a workflow's PostgreSQL behind a Toxiproxy link.

Real processes on loopback: an embedded cluster per drill, the partner
simulator, the workflow. The naive design's duplicate is caught by
exactly_once; the outbox design passes the same scenario; a drill's database
is its own and outlives a workflow restart; a standing stage empties it
between schedules.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from harness.checks.result import InvariantResult
from harness.drill import run_drill
from harness.drill.standing import StandingStage
from harness.inputs.pilot import Pilot, load_pilot
from harness.runtime.faultproxy import open_fault_proxy
from harness.services import postgres

REPO = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(postgres.bin_dir(None) is None, reason="no PostgreSQL binaries"),
]


@pytest.fixture(scope="module")
def naive() -> Pilot:
    return load_pilot(REPO / "pilots" / "inbox-db-naive.toml")


@pytest.fixture(scope="module")
def outbox() -> Pilot:
    return load_pilot(REPO / "pilots" / "inbox-db-outbox.toml")


def _result(results: list[InvariantResult], name: str) -> InvariantResult:
    return next(r for r in results if r.name == name)


async def test_naive_ships_twice_when_the_db_link_resets_before_the_commit(
    naive: Pilot, tmp_path: Path
) -> None:
    result = await run_drill(naive, "db-reset-before-commit", reports=tmp_path)
    once = _result(result.results, "exactly_once")
    assert not once.ok
    assert once.counts["duplicated"] >= 1
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert meta["services"]["db"]["kind"] == "postgres"
    assert meta["services"]["db"]["source"] == "embedded"
    assert meta["links"]["db"]["url"].startswith("tcp://127.0.0.1:")
    assert any(t["link"] == "db" for t in meta["toxics_applied"])


async def test_outbox_survives_the_same_reset(outbox: Pilot, tmp_path: Path) -> None:
    result = await run_drill(outbox, "db-reset-before-commit", reports=tmp_path)
    assert result.ok, [r for r in result.results if not r.ok]
    meta = json.loads((result.run_dir / "run.json").read_text())
    # The reset reached it: a row was sent again (same key), not just sent once.
    assert meta["partner_requests"] > len(meta["event_ids"])
    assert "outbox round failed" in (result.run_dir / "workflow.log").read_text()


async def test_each_drill_gets_a_fresh_database(outbox: Pilot, tmp_path: Path) -> None:
    # The same events twice: had the second drill seen the first one's inbox,
    # it would call the partner for nothing and exactly_once would count losses.
    for _ in range(2):
        result = await run_drill(outbox, "baseline", reports=tmp_path)
        assert _result(result.results, "exactly_once").ok
        assert _result(result.results, "exactly_once").counts["lost"] == 0


async def test_the_database_outlives_a_workflow_restart(naive: Pilot, tmp_path: Path) -> None:
    # Every order is delivered again after the restart; the naive workflow
    # ships again unless the inbox it wrote before the kill is still there.
    result = await run_drill(naive, "restart", reports=tmp_path)
    assert len(result.workflow_restarts) == 1
    assert result.stats.delivered == 6
    assert result.ok, [r for r in result.results if not r.ok]


async def test_a_standing_stage_empties_the_database_between_schedules(
    outbox: Pilot, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    async with open_fault_proxy() as proxy:
        stage = await StandingStage(outbox, runs, proxy, "stage-0").open()
        try:
            assert stage._stage is not None
            direct = stage._stage.services["db"].direct
            for _ in range(2):
                result = await run_drill(outbox, "baseline", reports=tmp_path, standing=stage)
                assert result.ok
                async with await psycopg.AsyncConnection.connect(direct) as connection:
                    found = await connection.execute("SELECT count(*) FROM inbox")
                    # This drill's three orders only: the last drill's were emptied.
                    assert await found.fetchone() == (3,)
        finally:
            await stage.close()
