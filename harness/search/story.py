"""A hunt told in words: one sentence per fault, naming the events concerned.

A delivery fault family tells its own faults (``harness.inputs.delivery_faults``).
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.checks.result import InvariantResult
from harness.inputs.delivery_faults import FamilyFault, family_of
from harness.inputs.fixtures import CapturedRequest
from harness.plan.schedule import Plan
from harness.search.evidence import RestartLoss, WindowAnswers, examples
from harness.search.settings import OVER_TIMEOUT_MS
from harness.search.space import (
    Fault,
    FaultSpace,
    PartnerFault,
    RateLimitFault,
    RestartFault,
    ToxicFault,
)
from harness.search.translate import in_flight, partner_timeout_ms


def _dropped_answers(seen: WindowAnswers | None) -> str:
    """What a timeout toxic did to the workflow: held answers or closed connections."""
    if seen is None:
        return (
            "the workflow waits for them, unless the connection closes after the answer "
            "(not measured)"
        )
    if seen.answered == 0:
        return "the partner answered no call in that time, so nothing was dropped"
    n, closed = seen.answered, seen.closed
    calls = f"{n} call{'s' if n != 1 else ''}"
    if closed == 0:
        return (
            "they are held and never arrive: each connection stayed open until the workflow "
            f"gave up (measured: {calls})"
        )
    if closed == n:
        return (
            "each connection closed right after the answer (Connection: close), so the "
            "workflow saw each call fail at once with no answer, not a held one "
            f"(measured: {calls})"
        )
    return (
        f"of {calls}, {n - closed} kept the connection open (held until the workflow gave up) "
        f"and {closed} closed it right after the answer (Connection: close: a fast failure)"
    )


def _covered(fault: ToxicFault, plan: Plan) -> tuple[str, str]:
    """The deliveries a window covers, named, and when it is on, in the sender's terms."""
    covered = in_flight(fault, plan)
    names = (
        ", ".join(f"{pos} ({plan.deliveries[pos].event_id})" for pos in covered) or "no delivery"
    )
    span = (
        f"delivery {fault.first} is queued until delivery {fault.last + 1} is"
        if fault.last + 1 < len(plan.deliveries)
        else f"delivery {fault.first} is queued until sending ends"
    )
    return names, span


def _toxic(
    space: FaultSpace, fault: ToxicFault, plan: Plan, seen: WindowAnswers | None = None
) -> str:
    role = space.role(fault.link)
    if role == "queue":
        return _broker_toxic(space, fault, plan)
    if role.startswith("service:"):
        return _service_toxic(role.split(":", 1)[1], fault, plan)
    names, span = _covered(fault, plan)
    what = {
        "latency": lambda: (
            f"answers are delayed {space.timeouts_ms[fault.link] + OVER_TIMEOUT_MS}"
            f" ms (the caller waits {space.timeouts_ms[fault.link]} ms)"
        ),
        "timeout": lambda: "answers are dropped",
        "reset_peer": lambda: "connections are reset",
    }[fault.kind]()
    direction = "on the way back" if fault.stream == "downstream" else "on the way in"
    told = (
        f"on the {fault.link} link, {what} {direction}, from when {span}: "
        f"while deliveries {names} are in flight"
    )
    return f"{told}; {_dropped_answers(seen)}" if fault.kind == "timeout" else told


def _published(fault: ToxicFault, plan: Plan) -> str:
    """When a window on a queue pilot is on: from one publish to another (paced)."""
    names, _span = _covered(fault, plan)
    until = (
        f"delivery {fault.last + 1} is published"
        if fault.last + 1 < len(plan.deliveries)
        else "publishing ends"
    )
    return (
        f"from when delivery {fault.first} is published until {until} "
        f"(messages {names} are published and taken meanwhile)"
    )


def _broker_toxic(space: FaultSpace, fault: ToxicFault, plan: Plan) -> str:
    """A toxic on the workflow's connection to its queue broker, told as what the broker saw."""
    link = f"the workflow's connection to the broker (link {fault.link})"
    wait = f" after ack_wait_s ({space.ack_wait_s:g} s)" if space.ack_wait_s else ""
    when = _published(fault, plan)
    if fault.kind == "timeout" and fault.stream == "upstream":
        return (
            f"{link} swallows everything the workflow sends (its acks and pull requests) {when}, "
            f"then is cut: an ack sent in that time never reaches the broker, which redelivers "
            f"that message{wait}"
        )
    if fault.kind == "timeout":
        return (
            f"{link} holds everything the broker sends the workflow {when}, then is cut: a "
            f"message it delivered in that time is redelivered{wait}"
        )
    side = "as the workflow sends" if fault.stream == "upstream" else "as the broker sends"
    return (
        f"{link} is reset {side} {when}: a message taken and not yet acknowledged is "
        f"redelivered{wait}"
    )


_SERVICE_WORDS = {"postgres": "database", "redis": "redis"}


def _service_toxic(kind: str, fault: ToxicFault, plan: Plan) -> str:
    """A toxic on a link to one of the workflow's own services, e.g. its database."""
    what = _SERVICE_WORDS.get(kind, kind)
    link = f"the workflow's {what} connection (link {fault.link})"
    names, span = _covered(fault, plan)
    during = f"from when {span}: while deliveries {names} are in flight"
    if fault.kind == "reset_peer" and fault.stream == "upstream":
        return (
            f"{link} is reset as the workflow sends, {during}: what it sends then never "
            "arrives, and a transaction open on it is rolled back by the server"
        )
    if fault.kind == "reset_peer":
        return (
            f"{link} is reset as the server answers, {during}: a statement done (a commit "
            "included) looks failed to the workflow, and a transaction still open is rolled back"
        )
    if fault.kind == "timeout":
        return (
            f"{link} stops answering, {during}, then is closed: what the workflow sent in that "
            "time may or may not have been done"
        )
    return f"{link} is slowed, {during}"


def _partner(space: FaultSpace, fault: PartnerFault) -> str:
    one = fault.count == 1
    numbers = (
        f"request {fault.first_request}"
        if one
        else f"requests {fault.first_request}-{fault.first_request + fault.count - 1}"
    )
    s = "s" if one else ""
    return {
        "error": f"partner {numbers} fail{s} with {fault.status} (nothing is applied)",
        "error_after_effect": f"partner {numbers} appl{'ies' if one else 'y'} the change, "
        f"then answer{s} {fault.status}",
        "throttle": f"partner {numbers} {'is' if one else 'are'} throttled with 429",
        "slow": f"partner {numbers} appl{'ies' if one else 'y'} the change but answer{s} "
        f"{partner_timeout_ms(space) + OVER_TIMEOUT_MS} ms late, past the workflow's timeout",
        "lost_answer": f"partner {numbers} appl{'ies' if one else 'y'} the change, but the "
        "answer never reaches the workflow (its connection is held, then closed)",
        "forget_keys": f"just before {numbers}, the partner forgets every idempotency key it "
        "stored (a restart), so a retry of an earlier call is new to it",
    }[fault.kind]


def describe_fault(
    space: FaultSpace,
    fault: Fault,
    events: Sequence[CapturedRequest],
    plan: Plan,
    seen: WindowAnswers | None = None,
) -> str:
    """One sentence a person can follow, naming the events concerned.

    ``seen``: for a ``timeout`` toxic, what the partner's journal says happened to
    the answers it dropped (without it the sentence names both possibilities).
    """
    if isinstance(fault, FamilyFault):
        tell = family_of(fault).tell
        if tell is None:
            raise ValueError(f"the hunt drew {fault}, which its family does not tell")
        return tell(space, fault, events)
    if isinstance(fault, ToxicFault):
        return _toxic(space, fault, plan, seen)
    if isinstance(fault, RateLimitFault):
        return (
            f"the partner allows {fault.capacity} call{'s' if fault.capacity != 1 else ''} at "
            f"once, then {fault.refill_per_s:g} a second; past that it answers 429 with "
            "Retry-After"
        )
    if isinstance(fault, RestartFault):
        at = (
            plan.deliveries[fault.after_delivery]
            if fault.after_delivery < len(plan.deliveries)
            else None
        )
        which = f" ({at.event_id})" if at is not None else ""
        return (
            f"the workflow process is killed (SIGKILL) right after delivery "
            f"{fault.after_delivery}{which} is answered, and started again with its state folder"
        )
    return _partner(space, fault)


def broken(results: Sequence[InvariantResult], judged: Sequence[str]) -> list[InvariantResult]:
    """The results of judged invariants that did not hold."""
    return [r for r in results if not r.ok and r.name in judged]


def verdict_key(results: Sequence[InvariantResult], judged: Sequence[str]) -> tuple[str, ...]:
    """What a run showed, for comparing replays: the judged invariants it broke."""
    return tuple(r.name for r in broken(results, judged))


def restart_note(loss: RestartLoss | None) -> str:
    """For a failure every fault of which is a restart: it is about state kept in memory."""
    lines = (
        "Every fault here is a restart, so this finding comes from state the workflow kept "
        "in memory and lost when it was killed"
    )
    if loss is not None and loss.forgotten:
        n = len(loss.forgotten)
        landed = f"; {loss.landed} of them had their effect" if loss.landed else ""
        lines += (
            f": after the restart its outcomes no longer named {n} event{'s' if n != 1 else ''} "
            f"it had answered before it ({examples(loss.forgotten)}){landed}"
        )
    elif loss is not None and loss.again:
        n = len(loss.again)
        lines += (
            f": it applied {n} event{'s' if n != 1 else ''} handled before the restart again "
            f"after it ({examples(loss.again)})"
        )
    return (
        lines + ". If that memory is by design, leave restarts out of this pilot's hunts: "
        '[hunt] families without "workflow".'
    )
