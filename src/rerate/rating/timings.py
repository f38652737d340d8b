"""CGRateS-style timings at a call's start instant (docs/rating.md, "Rate
groups, increment and call rounding, maximum cost, timings").

A timing holds at instant t when t's local date has its year, month, day of
the month and weekday in the timing's sets (an empty set: any) and t's local
time of day is at or after the timing's start: a timing runs from its start
to the end of the local day. Local time is the timetable's zone when the plan
has a timetable, else the contract's billing zone.

The distinct timings of a deck are numbered; `timing_bits` gives, per
instant, the set of timings holding at it as a bit mask, so the CDR matcher
can turn the few combinations that occur into call classes (cdr.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from rerate.rating.localtime import US_PER_DAY, local_wall
from rerate.rating.plan import PlanError, Timing
from rerate.rating.timebands import time_us

I64 = npt.NDArray[np.int64]

# Bits of an int64 mask; a deck using more distinct timings is refused.
MAX_TIMINGS = 62


def timing_bits(t_us: I64, tz: str, timings: Sequence[Timing]) -> I64:
    """Bit k set where timings[k] holds at the instant."""
    if len(timings) > MAX_TIMINGS:
        raise PlanError(
            f"the tariff versions in use have {len(timings)} distinct timings; "
            f"rerate rates with at most {MAX_TIMINGS}"
        )
    bits = np.zeros(len(t_us), dtype=np.int64)
    if not timings or not len(t_us):
        return bits
    wall = local_wall(np.asarray(t_us, dtype=np.int64), tz)
    day = wall // US_PER_DAY
    tod = wall - day * US_PER_DAY
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    dates = day.astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    monthday = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    for k, timing in enumerate(timings):
        hold = tod >= time_us(timing.start)
        for values, wanted in (
            (year, timing.years),
            (month, timing.months),
            (monthday, timing.monthdays),
            (weekday, timing.weekdays),
        ):
            if wanted:
                hold &= np.isin(values, np.array(sorted(wanted), dtype=np.int64))
        bits[hold] |= np.int64(1) << np.int64(k)
    return bits
