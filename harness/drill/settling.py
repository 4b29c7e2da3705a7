"""When a drill may stop watching: the workflow says it is done *and* it has gone quiet.

A status endpoint alone can lie: a consumer whose ``/status`` always answers
``{"pending": 0}`` was judged while it was still retrying, and a correct
workflow was blamed for a loss. Quiescence alone needs a quiet period longer
than any silence the workflow keeps while it is still working (a backoff, a
Retry-After, a held call). So a drill waits for both, for the later of the
two, and records when each came and which it waited for.

The default quiet period follows from what the pilot declares: the
workflow's own retry waits (``[workflow] retry_schedule_s``), the Retry-After
a scenario's rate limit makes a partner send, the partners' slow and held
answers, and the links' timeouts. The longest of them, plus half a second.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from harness.partner.faults import FaultConfigError, parse_faults

__all__ = ["MARGIN_S", "POLL_S", "Settled", "default_quiet_s", "settle"]

POLL_S = 0.1  # the workflow offers no completion event; poll at a bounded interval
MARGIN_S = 0.5  # beyond the longest declared silence, for the call that follows it


def _partner_silences(faults: Mapping[str, Any]) -> Iterable[tuple[float, str]]:
    """How long a partner's faults can keep a working caller silent, each with its cause."""
    try:
        config = parse_faults(faults)
    except FaultConfigError:
        return  # the pilot loader reports it
    if config.rate_limit is not None and config.rate_limit.refill_per_s > 0:
        # What the simulator's 429 says: Retry-After, whole seconds, at least 1.
        wait = max(1.0, math.ceil(1.0 / config.rate_limit.refill_per_s))
        yield wait, "a rate limit's Retry-After"
    for slow in config.slow:
        yield slow.delay_ms / 1000.0, "a slow answer"


def default_quiet_s(
    workflow_retry_s: Iterable[float],
    partner_faults: Mapping[str, Mapping[str, Any]],
    link_timeouts_s: Iterable[float],
) -> tuple[float, str]:
    """The quiet period that cannot cut a still-working workflow short, and what set it."""
    silences = [(float(s), "the workflow's own retry wait") for s in workflow_retry_s]
    for faults in partner_faults.values():
        silences += _partner_silences(faults)
    silences += [(float(s), "a link's timeout") for s in link_timeouts_s]
    longest, cause = max(silences, default=(0.0, ""))
    if longest <= 0:
        return MARGIN_S, "no declared wait: the shortest quiet period"
    return longest + MARGIN_S, f"{cause} ({longest:g} s) plus {MARGIN_S:g} s"


@dataclass(frozen=True)
class Settled:
    """How settling ended: what the status said, whether it went quiet, and when."""

    pending: int  # what the status endpoint said last (0 done; -1 unknown; 0 without one)
    quiet: bool  # no partner call for quiet_s before the timeout
    status_done_s: float | None  # since settling began, when the status said done for good
    quiet_done_s: float | None  # since settling began, when the quiet period began
    waited_s: float
    quiet_s: float
    has_status: bool

    @property
    def done(self) -> bool:
        """Both signals agreed: the status said nothing pending and the partners went quiet."""
        return self.pending == 0 and self.quiet

    def note(self) -> str:
        """One sentence when the two signals disagreed, or when one never came ("" else)."""
        if not self.has_status:
            return "" if self.quiet else f"the partners never went quiet for {self.quiet_s:g} s"
        if not self.done:
            missing = []
            if self.pending != 0:
                missing.append(
                    "the status endpoint never said nothing pending"
                    + (f" ({self.pending} pending)" if self.pending > 0 else "")
                )
            if not self.quiet:
                missing.append(f"the partners never went quiet for {self.quiet_s:g} s")
            return "; ".join(missing) + f" within {self.waited_s:.1f} s"
        if self.status_done_s is None or self.quiet_done_s is None:
            return ""
        gap = self.quiet_done_s - self.status_done_s
        if abs(gap) <= 2 * POLL_S:
            return ""
        if gap > 0:
            return (
                f"the status endpoint said nothing pending {gap:.1f} s before the partners "
                "went quiet: the drill waited for the quiet"
            )
        return (
            f"the partners were quiet {-gap:.1f} s before the status endpoint said nothing "
            "pending: the drill waited for the status"
        )

    def as_meta(self) -> dict[str, Any]:
        """What run.json keeps of it."""
        return {**asdict(self), "note": self.note()}


async def settle(
    status: Callable[[], Awaitable[int]] | None,
    last_activity: Callable[[], Awaitable[float]],
    quiet_s: float,
    timeout_s: float,
) -> Settled:
    """Wait until ``status`` says 0 pending (if there is one) and nothing happened for ``quiet_s``.

    ``last_activity`` gives the Unix time of the newest partner call. Bounded
    by ``timeout_s``; the result says which signal did not come.
    """
    started = time.time()
    pending = 0
    status_done: float | None = None
    quiet_from: float | None = None
    while True:
        now = time.time()
        pending = await status() if status is not None else 0
        if pending == 0:
            status_done = now - started if status_done is None else status_done
        else:
            status_done = None  # it said done, then found more work
        last = max(started, await last_activity())
        quiet = now - last >= quiet_s
        quiet_from = (last - started) if quiet else None
        waited = now - started
        if (pending == 0 and quiet) or waited >= timeout_s:
            return Settled(
                pending, quiet, status_done, quiet_from, waited, quiet_s, status is not None
            )
        if pending == 0 and not quiet:
            # Done by its word: nothing can end sooner than the quiet period, so ask
            # again when it can (a call meanwhile moves ``last`` and the wait on).
            # Every ask is a request to the workflow and each partner, CPU on both sides.
            wait = quiet_s - (now - last)
        else:
            wait = POLL_S
        await asyncio.sleep(max(min(wait, timeout_s - waited), 0.01))
