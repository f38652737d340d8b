"""Vectorised UTC -> local wall-clock conversion, DST-correct.

Python's `zoneinfo` is the single source of truth for time-zone rules (the
reference rater uses it row by row). Here we ask it only for the *transitions*
inside the range of the data, then convert millions of instants with one
`searchsorted` over that short table: offset(t) = the offset of the last
transition at or before t.

Transitions are found by probing the offset every `_PROBE` and bisecting to
the exact second where it changes. That misses only a zone that changes its
offset twice within one probe step, which no zone in the tz database does
within 6 hours.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from rerate.kit.periods import local_midnight_utc

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
_PROBE = 6 * 3600  # seconds between probes
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)

I64 = npt.NDArray[np.int64]


def _offset_us(zone: ZoneInfo, second: int) -> int:
    """UTC offset in microseconds at the instant `second` seconds after the epoch."""
    off = (_EPOCH + timedelta(seconds=second)).astimezone(zone).utcoffset()
    assert off is not None
    return off // timedelta(microseconds=1)


@lru_cache(maxsize=256)
def _transitions(tz: str, lo_s: int, hi_s: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(transition instants in us, offsets in us); offsets[0] is in force before
    the first transition, offsets[i + 1] from transitions[i] on."""
    zone = ZoneInfo(tz)
    instants: list[int] = []
    offsets = [_offset_us(zone, lo_s)]
    prev_s = lo_s
    s = lo_s
    while s < hi_s:
        s = min(s + _PROBE, hi_s)
        off = _offset_us(zone, s)
        if off != offsets[-1]:
            # Bisect (prev_s, s] for the first second with the new offset.
            lo, hi = prev_s, s
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_us(zone, mid) == offsets[-1]:
                    lo = mid
                else:
                    hi = mid
            instants.append(hi * US_PER_SECOND)
            offsets.append(_offset_us(zone, hi))
        prev_s = s
    return tuple(instants), tuple(offsets)


def transition_table(t_us: I64, tz: str) -> tuple[I64, I64]:
    """(instants, offsets) of `tz` around `t_us`: offsets[j] is in force from
    instants[j - 1] (from the start for j = 0) until instants[j]."""
    if len(t_us) == 0 or tz == "UTC":
        return np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
    lo_s = int(t_us.min()) // US_PER_SECOND - 1
    hi_s = int(t_us.max()) // US_PER_SECOND + 1
    # Round the probe window outwards to whole days so the cache is reused
    # by calls over slightly different ranges.
    lo_s -= lo_s % 86_400
    hi_s += 86_400 - hi_s % 86_400
    instants, offsets = _transitions(tz, lo_s, hi_s)
    return np.array(instants, dtype=np.int64), np.array(offsets, dtype=np.int64)


def utc_offsets(t_us: I64, tz: str) -> I64:
    """The UTC offset (microseconds) in force at each instant of `t_us`."""
    if len(t_us) == 0:
        return np.zeros(0, dtype=np.int64)
    instants, offsets = transition_table(t_us, tz)
    if not len(instants):
        return np.full(len(t_us), offsets[0], dtype=np.int64)
    return offsets[np.searchsorted(instants, t_us, side="right")]


def local_wall(t_us: I64, tz: str) -> I64:
    """Local wall-clock time as microseconds since 1970-01-01T00:00 local."""
    if tz == "UTC":
        return t_us
    return t_us + utc_offsets(t_us, tz)


def day_number(day: date) -> int:
    return (day - _EPOCH_DATE).days


def day_from_number(n: int) -> date:
    return _EPOCH_DATE + timedelta(days=n)


def midnight_us(day: date, tz: str) -> int:
    """UTC microseconds of local midnight starting `day` (kit.periods semantics)."""
    return (local_midnight_utc(day, tz) - _EPOCH) // timedelta(microseconds=1)
