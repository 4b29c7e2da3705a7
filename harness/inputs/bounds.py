"""The ranges a pilot file's numbers must keep, as reusable constrained types.

A drill is time-compressed: its waits are fractions of a second to minutes.
A number far outside that is a typo or an attack (``rate = 1e-300`` would
space two deliveries 1e300 s apart, ``delay_s = nan`` sends at once), so
every delay, timeout and rate is finite and bounded here, once, and pydantic
names the key that broke the range.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# The longest single wait a pilot may ask for (a delay, a timeout, a pause).
MAX_DELAY_S = 600.0
# The slowest pace: a delivery every 100 s.
MIN_RATE = 0.01
MAX_RATE = 100_000.0
# How long the planned sending of one drill may last, redeliveries aside.
MAX_PLAN_S = 3600.0
# A signature's age is a timestamp in the past, not a wait: up to 30 days.
MAX_AGE_S = 30 * 24 * 3600.0
# Replayed spacing = captured spacing × time_scale: at most real time.
MAX_TIME_SCALE = 1.0
# Toxic attributes are milliseconds, bytes or KB/s; past this they mean "for ever".
MAX_TOXIC_ATTRIBUTE = 2**31 - 1

# A wait of zero or more seconds (a delay, a pause, a moment in the run).
Seconds = Annotated[float, Field(ge=0, le=MAX_DELAY_S, allow_inf_nan=False)]
# A timeout or window that must be longer than nothing.
PositiveSeconds = Annotated[float, Field(gt=0, le=MAX_DELAY_S, allow_inf_nan=False)]
# Deliveries per second.
Rate = Annotated[float, Field(ge=MIN_RATE, le=MAX_RATE, allow_inf_nan=False)]
# A probability or toxicity.
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
# A toxic's attribute: Toxiproxy's are integers, and a pilot asks for no negative ones.
ToxicAttribute = Annotated[int, Field(ge=0, le=MAX_TOXIC_ATTRIBUTE)]
# A moment of the run, in seconds since the replay began.
Moment = Annotated[float, Field(ge=0, le=MAX_PLAN_S, allow_inf_nan=False)]
