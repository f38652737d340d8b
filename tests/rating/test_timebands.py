"""Vectorised time bands against the reference's row-by-row zoneinfo version."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rerate.rating.plan import BandRule, Contract, Holiday, RatingPlan, Timetable
from rerate.rating.timebands import band_codes

from .reference import band_at

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@st.composite
def timetables(draw: st.DrawFn) -> Timetable:
    rules = tuple(
        BandRule(
            draw(st.sampled_from("abc")),
            frozenset(draw(st.sets(st.integers(0, 6), min_size=1))),
            time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 59]))),
            time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 59]))),
            draw(st.integers(0, 3)),
        )
        for _ in range(draw(st.integers(0, 5)))
    )
    day = datetime(2026, 3, 1).date() + timedelta(days=draw(st.integers(0, 250)))
    holidays = (Holiday(day, "h"),) if draw(st.booleans()) else ()
    tz = draw(
        st.sampled_from(
            [
                "UTC",
                "Europe/Paris",
                "America/New_York",
                "Australia/Lord_Howe",
                "Asia/Kathmandu",
                "America/Santiago",
            ]
        )
    )
    return Timetable(1, tz, "d", rules, holidays)


@settings(max_examples=150, deadline=None)
@given(timetables(), st.lists(st.integers(0, 300 * 86400), min_size=1, max_size=50))
def test_band_codes_match_row_by_row_zoneinfo(tt: Timetable, offsets: list[int]) -> None:
    base = datetime(2026, 3, 1, tzinfo=UTC)
    instants = [base + timedelta(seconds=s) for s in offsets]
    t_us = np.array([(t - _EPOCH) // timedelta(microseconds=1) for t in instants], dtype=np.int64)
    got = [tt.band_names[c] for c in band_codes(t_us, tt).tolist()]
    plan = RatingPlan(Contract(1, 1, "EUR"), timetable=tt)
    assert got == [band_at(plan, t) for t in instants]
