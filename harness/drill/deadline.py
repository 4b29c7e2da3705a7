"""How long a drill's replay may take at most, from its plan.

Every wait of a drill has its own bound (the provider's response window,
the settle timeout), but not every combination does: a workflow that
answers one byte at a time never trips a read timeout. The deadline is what
the plan allows when everything is as slow as the pilot permits, so a drill
that passes it is stuck, not slow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.inputs.pilot import PilotSpec, ScenarioSpec
from harness.plan.schedule import Plan

# Room for what no setting bounds one by one: toxic switches, a loaded machine.
MARGIN_S = 10.0
MARGIN_SHARE = 0.1
# Settling may pass its timeout by one round of polls: the workflow's status and
# each partner's state, each call bounded by the drill's 2 s admin timeout.
ADMIN_CALL_S = 2.0


@dataclass(frozen=True)
class Deadline:
    """The replay's deadline in seconds, with the parts it is made of,
    so a timeout can say why it was that long."""

    seconds: float
    last_send_s: float  # the latest planned send
    sending_s: float  # every attempt taking the whole response window, slots full
    redelivery_s: float  # the provider's redelivery waits, one after another
    restarts_s: float  # each restart of the workflow starting as slowly as allowed
    settle_s: float

    def explain(self) -> str:
        """The deadline's parts as one sentence, for the journal and a timeout's message."""
        return (
            f"last planned send at {self.last_send_s:.1f} s + {self.sending_s:.1f} s of attempts "
            f"+ {self.redelivery_s:.1f} s of redelivery waits + {self.restarts_s:.1f} s of "
            f"restarts + {self.settle_s:.1f} s to settle + margin"
        )


def drill_deadline(plan: Plan, spec: PilotSpec, scenario: ScenarioSpec) -> Deadline:
    """The replay's deadline, in seconds after it starts (sending, redeliveries, settling)."""
    webhook, workflow = spec.webhook, spec.workflow
    last_send = max((d.at_s for d in plan.deliveries), default=0.0)
    restarts = scenario.workflow.restarts
    last_send = max([last_send, *(r.at_s for r in restarts if r.at_s is not None)])
    attempts = len(plan.deliveries) * (1 + len(webhook.retry_schedule_s))
    sending = math.ceil(attempts / scenario.delivery.concurrency) * webhook.timeout_s
    redelivery = sum(webhook.retry_schedule_s)
    restarting = len(restarts) * workflow.startup_timeout_s
    settle = workflow.settle_timeout_s + ADMIN_CALL_S * (1 + len(spec.partners))
    total = last_send + sending + redelivery + restarting + settle
    seconds = total * (1 + MARGIN_SHARE) + MARGIN_S
    return Deadline(seconds, last_send, sending, redelivery, restarting, settle)
