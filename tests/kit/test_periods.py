from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rerate.kit.periods import Month, Period, local_day, local_midnight_utc

ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Australia/Sydney",
    "America/Santiago",
    "Asia/Kolkata",
]
months = st.builds(Month, st.integers(2000, 2040), st.integers(1, 12))


def test_month_parse_and_neighbours():
    m = Month.parse("2024-02")
    assert str(m) == "2024-02"
    assert len(m.days()) == 29  # leap year
    assert m.next() == Month(2024, 3)
    assert Month(2024, 1).previous() == Month(2023, 12)
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse("2024-13")


def test_paris_month_bounds_follow_dst():
    p = Month(2026, 3).in_zone("Europe/Paris")
    assert p.start_utc == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)  # CET, UTC+1
    assert p.end_utc == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)  # CEST, UTC+2
    assert (p.end_utc - p.start_utc) == timedelta(days=31, hours=-1)


def test_naive_instant_is_refused():
    with pytest.raises(ValueError, match="naive"):
        Month(2026, 1).in_zone("UTC").contains(datetime(2026, 1, 5))


@given(months, st.sampled_from(ZONES))
def test_consecutive_months_tile_time(month, tz):
    a, b = month.in_zone(tz), month.next().in_zone(tz)
    assert a.end_utc == b.start_utc  # no gap, no overlap
    assert a.start_utc < a.end_utc


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)
    ),
    st.sampled_from(ZONES),
)
def test_every_instant_is_in_exactly_one_month(instant, tz):
    day = local_day(instant, tz)
    m = Month.of(day)
    assert m.in_zone(tz).contains(instant)
    assert not m.previous().in_zone(tz).contains(instant)
    assert not m.next().in_zone(tz).contains(instant)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)), st.sampled_from(ZONES))
def test_local_midnight_round_trips(day, tz):
    assert local_day(local_midnight_utc(day, tz), tz) == day


def test_empty_period_is_refused():
    with pytest.raises(ValueError, match="empty"):
        Period(date(2026, 1, 2), date(2026, 1, 2))
