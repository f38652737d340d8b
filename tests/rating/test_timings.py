"""timings.timing_bits against a plain per-instant check with zoneinfo."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rerate.rating.plan import PlanError, Timing
from rerate.rating.timings import MAX_TIMINGS, timing_bits

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

timings = st.builds(
    Timing,
    years=st.frozensets(st.integers(2023, 2027), max_size=2),
    months=st.frozensets(st.integers(1, 12), max_size=3),
    monthdays=st.frozensets(st.integers(1, 31), max_size=3),
    weekdays=st.frozensets(st.integers(0, 6), max_size=3),
    start=st.times(),
)
instants = st.datetimes(datetime(2023, 1, 1), datetime(2027, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)


def holds(t: Timing, local: datetime) -> bool:
    return (
        (not t.years or local.year in t.years)
        and (not t.months or local.month in t.months)
        and (not t.monthdays or local.day in t.monthdays)
        and (not t.weekdays or local.weekday() in t.weekdays)
        and local.time() >= t.start
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(timings, min_size=1, max_size=4),
    st.lists(instants, min_size=1, max_size=20),
    st.sampled_from(["UTC", "Europe/Paris", "America/Santiago", "Australia/Sydney"]),
)
def test_timing_bits_match_a_plain_check(ts: list[Timing], at: list[datetime], tz: str) -> None:
    us = np.array([(a - _EPOCH) // timedelta(microseconds=1) for a in at], dtype=np.int64)
    bits = timing_bits(us, tz, ts)
    for a, b in zip(at, bits, strict=True):
        local = a.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
        want = sum(1 << k for k, t in enumerate(ts) if holds(t, local))
        assert int(b) == want, (a, tz)


def test_a_timing_runs_from_its_start_to_the_end_of_the_local_day() -> None:
    peak = Timing(weekdays=frozenset({0}), start=time(8))
    # Monday 2019-03-11 07:59:59, 08:00, 23:59:59 UTC; Tuesday 00:00.
    at = [
        datetime(2019, 3, 11, 7, 59, 59),
        datetime(2019, 3, 11, 8),
        datetime(2019, 3, 11, 23, 59, 59),
        datetime(2019, 3, 12),
    ]
    us = np.array([(a.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1) for a in at])
    assert timing_bits(us, "UTC", [peak]).tolist() == [0, 1, 1, 0]


def test_too_many_timings_are_refused() -> None:
    many = [Timing(start=time(m // 60, m % 60)) for m in range(MAX_TIMINGS + 1)]
    with pytest.raises(PlanError, match="distinct timings"):
        timing_bits(np.zeros(1, dtype=np.int64), "UTC", many)
