"""Period selection: every row lands in exactly one period, at month ends, DST
changes and leap days, with and without overlap selection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rerate.kit.periods import Month
from rerate.rating.plan import Ownership, PlanError
from rerate.rating.selection import AccountIndex, select_period

from .reference import assigned_month

ZONES = (
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
)
# Leap February 2024 and the DST months of 2026 in both hemispheres.
FIRST = Month(2024, 1)
MONTHS = 40
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)


@st.composite
def spans(draw: st.DrawFn, tz: str) -> tuple[datetime, datetime]:
    """A row starting near a month boundary (in tz), lasting up to ~70 days."""
    m = FIRST
    for _ in range(draw(st.integers(1, MONTHS - 4))):
        m = m.next()
    boundary = m.in_zone(tz).start_utc
    start = boundary + timedelta(
        seconds=draw(st.integers(-3 * 86400, 3 * 86400)),
        microseconds=draw(st.sampled_from([0, 1, 999_999])),
    )
    length = draw(
        st.one_of(
            st.just(0), st.integers(-3600, 0), st.integers(1, 4 * 86400), st.integers(1, 70 * 86400)
        )
    )
    return start, start + timedelta(seconds=length)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ZONES), st.booleans(), st.data())
def test_every_row_is_selected_by_exactly_one_month(
    tz: str, overlap: bool, data: st.DataObject
) -> None:
    rows = data.draw(st.lists(spans(tz), min_size=1, max_size=40))
    start = np.array([_us(s) for s, _ in rows], dtype=np.int64)
    end = np.array([_us(e) for _, e in rows], dtype=np.int64)
    hits = np.zeros(len(rows), dtype=np.int64)
    owner: list[Month | None] = [None] * len(rows)
    m = FIRST
    for _ in range(MONTHS + 3):
        mask = select_period(start, end, m.in_zone(tz), overlap=overlap)
        hits += mask
        for i in np.flatnonzero(mask):
            owner[i] = m
        m = m.next()
    # Never counted twice, never lost.
    assert hits.tolist() == [1] * len(rows)
    for (s, e), chosen in zip(rows, owner, strict=True):
        if overlap:
            assert chosen == assigned_month(s, e, tz)  # the reference's rule
        else:
            assert chosen is not None
            assert chosen.in_zone(tz).contains(s)


def test_overlap_selection_needs_whole_months() -> None:
    from datetime import date

    from rerate.kit.periods import Period

    with pytest.raises(PlanError):
        select_period(
            np.zeros(1, dtype=np.int64),
            np.zeros(1, dtype=np.int64),
            Period(date(2026, 8, 2), date(2026, 9, 1)),
            overlap=True,
        )


def test_ownership_is_tested_at_the_usage_start_half_open() -> None:
    t0 = datetime(2026, 8, 10, tzinfo=UTC)
    t1 = datetime(2026, 8, 20, tzinfo=UTC)
    own = (
        Ownership(5, 7, t0, t1),
        Ownership(5, 8, t1),
        Ownership(5, 7, datetime(2027, 1, 1, tzinfo=UTC)),
        Ownership(6, 7, t0),
    )
    idx = AccountIndex(own, 7)
    accounts = np.array([5, 5, 5, 5, 6, 6, 9], dtype=np.int64)
    times = [
        t0 - timedelta(microseconds=1),
        t0,
        t1 - timedelta(microseconds=1),
        t1,
        t0,
        t0 - timedelta(microseconds=1),
        t0,
    ]
    owned = idx.owned(idx.codes(accounts), np.array([_us(t) for t in times], dtype=np.int64))
    # valid_from is inclusive, valid_to exclusive; account 9 is never the customer's
    assert owned.tolist() == [False, True, True, False, True, False, False]
