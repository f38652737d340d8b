"""Time bands (peak / off-peak / weekend / holiday) at a call's start instant.

The band of an instant t, in the timetable's zone:
1. if t's local date is a holiday, that holiday's band;
2. else the matching rule with the highest priority (ties: the rule listed
   first) -- a rule matches when t's local wall-clock time lies in its range
   on one of its weekdays; a range crossing midnight belongs to the weekday it
   starts on;
3. else the timetable's default band;
each taken from the timetable version in force at t (`Timetable.changes`).

Wall-clock times come from `localtime`, so a rule "07:00-09:00" means 07:00
local on both sides of a DST change, and an hour skipped by DST simply does
not occur.
"""

from __future__ import annotations

from datetime import time

import numpy as np
import numpy.typing as npt

from rerate.rating.kernels import band_at
from rerate.rating.localtime import day_number, transition_table
from rerate.rating.plan import BandRule, Holiday, Timetable, utc_us

I64 = npt.NDArray[np.int64]
I16 = npt.NDArray[np.int16]

_US_PER_SECOND = 1_000_000


def time_us(t: time) -> int:
    """Microseconds since local midnight of a wall-clock time."""
    return ((t.hour * 60 + t.minute) * 60 + t.second) * _US_PER_SECOND + t.microsecond


def ordered_rules(rules: tuple[BandRule, ...]) -> list[BandRule]:
    """Rules in precedence order: highest priority first, then as listed."""
    indexed = sorted(enumerate(rules), key=lambda ir: (-ir[1].priority, ir[0]))
    return [rule for _, rule in indexed]


def band_codes(t_us: I64, timetable: Timetable) -> I16:
    """Index into `timetable.band_names` of the band at each instant (one
    compiled pass per timetable version: kernels.band_at). Each instant is
    banded by the version in force at it."""
    code = {name: i for i, name in enumerate(timetable.band_names)}
    t_us = np.ascontiguousarray(t_us, dtype=np.int64)
    versions = timetable.versions()
    if len(versions) == 1:
        return _codes_of(t_us, timetable.tz, *versions[0], code)
    starts = np.array([utc_us(c.effective_from) for c in timetable.changes], dtype=np.int64)
    which = np.searchsorted(starts, t_us, side="right")
    out = np.empty(len(t_us), dtype=np.int16)
    for i, version in enumerate(versions):
        rows = np.flatnonzero(which == i)
        if len(rows):
            out[rows] = _codes_of(t_us[rows], timetable.tz, *version, code)
    return out


def _codes_of(
    t_us: I64,
    tz: str,
    default_band: str,
    rules: tuple[BandRule, ...],
    holidays: tuple[Holiday, ...],
    code: dict[str, int],
) -> I16:
    instants, offsets = transition_table(t_us, tz)
    days = sorted((day_number(h.day), code[h.band]) for h in holidays)
    ordered = ordered_rules(rules)
    return band_at(
        np.ascontiguousarray(t_us, dtype=np.int64),
        instants,
        offsets,
        np.array([d for d, _ in days], dtype=np.int64),
        np.array([b for _, b in days], dtype=np.int16),
        np.array([sum(1 << d for d in set(r.weekdays)) for r in ordered], dtype=np.int64),
        np.array([time_us(r.start) for r in ordered], dtype=np.int64),
        np.array([time_us(r.end) for r in ordered], dtype=np.int64),
        np.array([code[r.band] for r in ordered], dtype=np.int16),
        code[default_band],
    )
