"""The hunt's settings and defaults, light enough for the CLI to import at start-up."""

from __future__ import annotations

import math

from harness.inputs import hunt as hunt_table

DEFAULT_EVENTS = 10
DEFAULT_MAX_FAULTS = 4
DEFAULT_SHRINK_S = 45.0
DEFAULT_REPLAYS = 3
# Shrinking stops early after this many drills without a smaller failure
# (fewer once the failure is down to one fault: only its parameters are left).
STALL = 30
STALL_ONE = 8
# A toxic or partner fault spans at most this many deliveries or requests:
# enough to outlast a naive retry loop, short enough for a hardened one.
MAX_SPAN = 3
# How far past the caller's timeout a slowed answer arrives.
OVER_TIMEOUT_MS = 300
# Where a duplicate or a redelivery lands: right after the original, or after
# every other event (base times are all 0, so 0.5 s sorts after them); then
# later, up to the provider's whole retry horizon (see ``late_delays``).
DELAYS_S = (0.0, 0.5)
# A rate-limit fault's refill, calls per second: slow enough that a burst of
# deliveries meets a 429 with Retry-After.
RATE_LIMIT_REFILLS = (2.0, 1.0, 5.0)
# How long a workflow waits for a partner when its link declares no timeout_s.
DEFAULT_PARTNER_TIMEOUT_S = 2.0
# What the hunt judges by default. The SLO is left out: on ten events, one
# delivery the provider only gets through on its third retry already misses a
# 3 s p95, whatever the workflow does, so every "finding" would be the fault
# injected rather than a flaw. `--slo` adds it.
CORRECTNESS = (
    "exactly_once",
    "unexpected_effects",
    "all_accounted",
    "final_state",
    "retry_after_honoured",
    "call_budget",
)

# The family names are the pilot file's [hunt] vocabulary, checked when it loads.
FAMILIES = hunt_table.FAMILIES

# Standing stages a hunt runs side by side (each a workflow, its partners and
# links). Most of a schedule's time is waiting (late copies, timeouts,
# Retry-After), so more stages than cores pay: on the 2-core machine, hardened
# pilot, 25 s hunts, 3/4/5 stages gave 75/106/120 schedules a minute when it
# was quiet; under heavy load from other jobs 3 gave 67 and 4 gave 58.
DEFAULT_WORKERS = 4
# Schedules Hypothesis draws at a time for the side-by-side exploration.
CHUNK = 100


def late_delays(horizon_s: float) -> tuple[float, ...]:
    """Delays for a copy or a redelivery: the two short ones, then doubling up to the horizon."""
    delays = list(DELAYS_S)
    step = 1.0
    while step < horizon_s:
        delays.append(step)
        step *= 2
    if horizon_s > delays[-1]:
        delays.append(round(horizon_s, 3))
    return tuple(delays)


def parse_duration(text: str, option: str = "--budget") -> float:
    """'60s', '2m', '90' (seconds) → seconds; a clear error otherwise."""
    raw = text.strip().lower()
    scale = 1.0
    if raw.endswith("ms"):
        raw, scale = raw[:-2], 0.001
    elif raw.endswith("s"):
        raw = raw[:-1]
    elif raw.endswith("m"):
        raw, scale = raw[:-1], 60.0
    elif raw.endswith("h"):
        raw, scale = raw[:-1], 3600.0
    try:
        value = float(raw) * scale
    except ValueError:
        raise ValueError(f"{option}: expected a duration like 60s or 2m, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{option}: must be a positive duration, got {text!r}")
    return value
