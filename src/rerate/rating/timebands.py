"""Time bands (peak / off-peak / weekend / holiday) at a call's start instant.

The band of an instant t, in the timetable's zone:
1. if t's local date is a holiday, that holiday's band;
2. else the matching rule with the highest priority (ties: the rule listed
   first) -- a rule matches when t's local wall-clock time lies in its range
   on one of its weekdays; a range crossing midnight belongs to the weekday it
   starts on;
3. else the timetable's default band.

Wall-clock times come from `localtime`, so a rule "07:00-09:00" means 07:00
local on both sides of a DST change, and an hour skipped by DST simply does
not occur.
"""

from __future__ import annotations

from datetime import time

import numpy as np
import numpy.typing as npt

from rerate.rating.localtime import US_PER_DAY, day_number, local_wall
from rerate.rating.plan import BandRule, Timetable

I64 = npt.NDArray[np.int64]
I16 = npt.NDArray[np.int16]
Bool = npt.NDArray[np.bool_]

_US_PER_SECOND = 1_000_000


def time_us(t: time) -> int:
    """Microseconds since local midnight of a wall-clock time."""
    return ((t.hour * 60 + t.minute) * 60 + t.second) * _US_PER_SECOND + t.microsecond


def ordered_rules(timetable: Timetable) -> list[BandRule]:
    """Rules in precedence order: highest priority first, then as listed."""
    indexed = sorted(enumerate(timetable.rules), key=lambda ir: (-ir[1].priority, ir[0]))
    return [rule for _, rule in indexed]


def _rule_mask(rule: BandRule, weekday: npt.NDArray[np.int8], tod: I64) -> Bool:
    days = np.zeros(7, dtype=bool)
    days[list(rule.weekdays)] = True
    start, end = time_us(rule.start), time_us(rule.end)
    on_day = days[weekday]
    if start == end:
        return on_day
    if start < end:
        return on_day & (tod >= start) & (tod < end)
    # Crosses midnight: the evening part on a listed day, the morning part on
    # the day after a listed day.
    yesterday = np.roll(days, 1)  # yesterday[d] = days[d - 1]
    return (on_day & (tod >= start)) | (yesterday[weekday] & (tod < end))


def band_codes(t_us: I64, timetable: Timetable) -> I16:
    """Index into `timetable.band_names` of the band at each instant."""
    names = timetable.band_names
    code = {name: i for i, name in enumerate(names)}
    n = len(t_us)
    result = np.full(n, code[timetable.default_band], dtype=np.int16)
    if n == 0:
        return result
    wall = local_wall(t_us, timetable.tz)
    day = wall // US_PER_DAY
    tod = wall - day * US_PER_DAY
    # 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
    weekday = ((day + 3) % 7).astype(np.int8)
    decided = np.zeros(n, dtype=bool)
    if timetable.holidays:
        hdays = np.array([day_number(h.day) for h in timetable.holidays], dtype=np.int64)
        hcodes = np.array([code[h.band] for h in timetable.holidays], dtype=np.int16)
        order = np.argsort(hdays)
        hdays, hcodes = hdays[order], hcodes[order]
        pos = np.clip(np.searchsorted(hdays, day), 0, len(hdays) - 1)
        is_holiday = hdays[pos] == day
        result[is_holiday] = hcodes[pos[is_holiday]]
        decided |= is_holiday
    for rule in ordered_rules(timetable):
        hit = _rule_mask(rule, weekday, tod) & ~decided
        result[hit] = code[rule.band]
        decided |= hit
    return result
