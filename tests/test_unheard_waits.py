"""A wait the caller never heard is not held against it (harness.drill.unheard).

A timeout, reset_peer or limit_data toxic on a partner's link (or a downstream
latency past the link's declared timeout) can keep a 429 from the workflow.
``retry_after_honoured`` then has nothing the workflow could have honoured:
blaming it would blame the lab's own fault. The hardened workflow under such a
toxic is not blamed; the naive one, which retries a 429 it heard at once, still is.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest

from harness.checks.politeness import retry_after_honoured
from harness.drill import run_drill
from harness.drill.unheard import unheard_spans
from harness.inputs.pilot import LinkSpec, ScenarioSpec, load_pilot
from harness.journal import frame, load_run

REPO = Path(__file__).resolve().parents[1]


def call(at: float, *, wait: float | None = None, partner: str = "logistics") -> dict[str, Any]:
    return {
        "at": at, "duration_ms": 10.0, "partner": partner, "method": "POST",
        "path": "/v1/shipments", "status": 429 if wait is not None else 201,
        "retry_after_s": wait, "correlation_id": "t1", "idempotency_key": "",
    }  # fmt: skip


HELD = [{"partner": "logistics", "from_s": 0.0, "until_s": 1.0, "toxic": "timeout on link partner"}]


def test_a_wait_asked_while_a_toxic_held_the_answers_is_not_held_against_the_caller() -> None:
    rows = frame("requests", [call(0.5, wait=2.0), call(1.1), call(1.2, wait=2.0), call(1.3)])
    result = retry_after_honoured(rows, None, HELD)
    # The first 429 left at 0.51 s, under the toxic; the second at 1.21 s, heard.
    assert not result.ok and result.counts["unheard_waits"] == 1
    assert result.counts["too_soon"] == 1 and result.examples[0].startswith(
        "logistics POST /v1/shipments at 1.30s"
    )
    assert "1 wait, asked while a toxic on the link could keep the answer" in result.summary
    # Without the span, the call at 1.1 s is blamed for the wait it never heard.
    assert retry_after_honoured(rows).counts["too_soon"] == 3
    # A span on another partner's link changes nothing for this one.
    other = [{**HELD[0], "partner": "crm"}]
    assert retry_after_honoured(rows, None, other).counts["too_soon"] == 3


def test_the_spans_are_the_toxics_that_can_withhold_a_partners_answer() -> None:
    links = {
        "partner": LinkSpec(to="logistics", timeout_s=0.5),
        "webhook": LinkSpec(to="workflow"),
    }

    def toxic(link: str, kind: str, stream: str = "downstream", **attributes: Any) -> Any:
        return {"link": link, "type": kind, "stream": stream, "attributes": attributes,
                "from_s": 0.2, "until_s": 0.9}  # fmt: skip

    spans = unheard_spans(
        [
            toxic("partner", "reset_peer", "upstream", timeout=0),
            toxic("partner", "latency", latency=400),  # below the link's 0.5 s: heard late
            toxic("partner", "latency", latency=400, jitter=100),  # reaches it: given up
            toxic("partner", "latency", "upstream", latency=900),  # the request, not the answer
            toxic("partner", "bandwidth", rate=1),
            toxic("webhook", "timeout", timeout=0),  # the workflow's own link
            {**toxic("partner", "limit_data", bytes=10), "until_s": None},
        ],
        links,
    )
    assert [s["toxic"] for s in spans] == [
        "reset_peer on link partner", "latency on link partner", "limit_data on link partner",
    ]  # fmt: skip
    assert {s["partner"] for s in spans} == {"logistics"}
    assert spans[-1]["until_s"] == math.inf


def _throttled_behind_a_timeout(name: str, until_s: float) -> Any:
    pilot = load_pilot(REPO / f"pilots/{name}.toml")
    scenario = ScenarioSpec.model_validate(
        {
            "description": "The partner throttles while a timeout toxic holds its answers",
            "delivery": {"events": [0, 1, 2, 4, 5, 6], "rate": 5},
            "partner": {"rate_limit": {"capacity": 1, "refill_per_s": 1}},
            "toxics": [
                {
                    "link": "partner",
                    "type": "timeout",
                    "stream": "downstream",
                    "attributes": {"timeout": 0},
                    "from_s": 0.0,
                    "until_s": until_s,
                }
            ],
        }
    )
    spec = pilot.spec.model_copy(update={"scenarios": {**pilot.spec.scenarios, "held": scenario}})
    return pilot.model_copy(update={"spec": spec})


@pytest.mark.slow
def test_the_hardened_workflow_is_not_blamed_for_waits_a_toxic_withheld(tmp_path: Path) -> None:
    # Its calls time out behind the toxic (0.5 s) and are retried: before this span was
    # known, the retries were named early for 429s the workflow never received.
    pilot = _throttled_behind_a_timeout("order-sync", 0.8)
    result = asyncio.run(run_drill(pilot, "held", reports=tmp_path))
    polite = next(r for r in result.results if r.name == "retry_after_honoured")
    assert polite.ok, polite.examples
    # Every 429 answered while the toxic was on (a window lasts at most while the lab
    # sends) was set aside, and there were some.
    meta = json.loads((result.run_dir / "run.json").read_text())
    spans = unheard_spans(meta["toxics_applied"], pilot.spec.links)
    requests = load_run(result.run_dir).requests
    answered = requests["at"] + requests["duration_ms"] / 1000.0
    inside = answered.map(lambda a: any(s["from_s"] <= a <= s["until_s"] for s in spans))
    withheld = requests[(requests["status"] == 429) & inside.astype(bool)]
    assert len(withheld) >= 1 and polite.counts["unheard_waits"] == len(withheld)


@pytest.mark.slow
def test_the_naive_workflow_is_still_blamed_for_the_waits_it_heard(tmp_path: Path) -> None:
    # A short toxic: most 429s reach the naive workflow, which asks again at once.
    pilot = _throttled_behind_a_timeout("order-sync-naive", 0.3)
    result = asyncio.run(run_drill(pilot, "held", reports=tmp_path))
    polite = next(r for r in result.results if r.name == "retry_after_honoured")
    assert not polite.ok and polite.counts["too_soon"] >= 1
