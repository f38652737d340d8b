"""Golden cases for the carrier terms of a tariff entry (docs/rating.md,
"Rate groups, increment and call rounding, maximum cost, timings"): rate
groups, increment decimals, call rounding, maximum cost, timings with
weights, the empty prefix. Numbers are worked by hand next to each case;
every case also runs through the reference rater (`compare`).

The CGRateS cases reproduce the costs CGRateS's own tests assert for its
tutorial tariff plans (cgrates/cgrates: general_tests/tutorial2_it_test.go,
general_tests/destination_combined_it_test.go, apier/v1/apier2_it_test.go),
with the entries written out by hand here.
"""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rerate.kit.money import RoundingMode
from rerate.kit.periods import Period
from rerate.rating.cdr import round_scaled
from rerate.rating.plan import (
    ConsumptionProfile,
    Ownership,
    ProfileUnit,
    RateGroup,
    RatingPlan,
    TariffEntry,
    Timing,
)

from .helpers import utc
from .test_golden import book, cdr, col, run
from .test_golden import plan as golden_plan

D = Decimal
MON_FRI = frozenset(range(5))
WIDE = Period(date(2019, 1, 1), date(2027, 1, 1))


def plan(entries: tuple[TariffEntry, ...], **kw: Any) -> RatingPlan:
    """A golden plan whose deck and accounts exist from 2010 on (the CGRateS
    cases are dated 2019 and 2020)."""
    return golden_plan(
        versions=book(("2010-01-01T00:00", entries)),
        ownership=(Ownership(1, 7, utc("2010-01-01T00:00")),),
        **kw,
    )


def rt_20cnt(tid: int, prefix: str) -> TariffEntry:
    """CGRateS tutorial RT_20CNT: connect 0.4; 0.2/min in 60 s increments for
    the first minute, then 0.1/min in 1 s increments; increments' costs
    rounded to 5 places (CGRateS's rounding_decimals), the call's cost *up
    to 4 places (its DestinationRates rounding)."""
    return TariffEntry(
        tid,
        prefix,
        "G",
        D("0.2"),
        connect_fee=D("0.4"),
        initial_increment=60,
        subsequent_increment=60,
        rate_groups=(RateGroup(60, D("0.1"), 1),),
        increment_decimals=5,
        call_decimals=4,
        call_rounding=RoundingMode.CEILING,
    )


def test_rate_groups_with_increment_and_call_rounding() -> None:
    r = run(
        [cdr("1002", 3600), cdr("1002", 45), cdr("1002", 90)],
        plan((rt_20cnt(1, "1002"),)),
    )
    # 3600 s: 0.4 connect + 1 x 0.2 (group 0: 60 s at 0.2/min)
    #   + 3540 x round5(0.1 / 60 = 0.0016666..) = 3540 x 0.00167 = 5.9118 -> 6.5118
    # 45 s: one 60 s increment of group 0: 0.4 + 0.2 = 0.6
    # 90 s: 0.4 + 0.2 + 30 x 0.00167 = 0.6501
    assert col(r, "list_amount") == [D("6.5118"), D("0.6"), D("0.6501")]
    assert col(r, "billed_seconds") == [3600, 60, 90]


def test_call_rounding_rounds_the_call_up() -> None:
    entry = TariffEntry(
        1,
        "1002",
        "G",
        D("0.4"),
        connect_fee=D("0.8"),
        initial_increment=30,
        subsequent_increment=30,
        rate_groups=(RateGroup(60, D("0.2"), 10),),
        increment_decimals=5,
        call_decimals=4,
        call_rounding=RoundingMode.CEILING,
    )
    r = run([cdr("1002", 70)], plan((entry,)))
    # testit RT_40CNT, 70 s: 0.8 + 2 x 0.2 (two 30 s increments at 0.4/min)
    #   + 1 x round5(0.2 x 10 / 60 = 0.033333..) = 0.8 + 0.4 + 0.03333 = 1.23333
    #   -> ceiling to 4 places: 1.2334
    assert col(r, "list_amount") == [D("1.2334")]
    assert col(r, "billed_seconds") == [70]


def test_group_zero_overrunning_the_next_group_start() -> None:
    entry = TariffEntry(
        1,
        "33",
        "G",
        D("0.6"),
        initial_increment=60,
        subsequent_increment=60,
        rate_groups=(RateGroup(30, D("1.2"), 1),),
    )
    r = run([cdr("331", 45), cdr("331", 75)], plan((entry,)))
    # 45 s: group 0 covers the call up to 30 s, rounded up to one 60 s increment
    #   that runs past the group's end; the call (45 s) ends inside it, so group 1
    #   (starting at max(30, 60) = 60) has nothing: 60 s x 0.6 / 60 = 0.6
    # 75 s: group 0 as above (60 s, 0.6), group 1 from 60 s: 15 x 1 s at 1.2/min
    #   = 15 x 1.2 / 60 = 0.3; billed 75, total 0.9
    assert col(r, "billed_seconds") == [60, 75]
    assert col(r, "list_amount") == [D("0.6"), D("0.9")]


def test_maximum_cost_caps_the_call() -> None:
    capped = TariffEntry(1, "1003", "G", D("0.6"), max_cost=D("0.12"))
    plain = TariffEntry(2, "1004", "G", D("0.6"))
    r = run([cdr("1003", 3600), cdr("1004", 3600), cdr("1003", 10)], plan((capped, plain)))
    # 3600 s at 0.01/s = 36, capped at 0.12; without a cap 36; 10 s = 0.1 < 0.12
    assert col(r, "list_amount") == [D("0.12"), D("36"), D("0.1")]


def _tutorial_10_and_20() -> tuple[TariffEntry, ...]:
    """Prefix 10: an untimed entry and PEAK / OFFPEAK_EVENING on weekdays, all
    weight 10; prefix 20: an untimed entry (weight 10) and NEW_YEAR (weight 20)."""
    peak = Timing(weekdays=MON_FRI, start=time(8), name="PEAK")
    evening = Timing(weekdays=MON_FRI, start=time(19), name="OFFPEAK_EVENING")
    new_year = Timing(months=frozenset({1}), monthdays=frozenset({1}), name="NEW_YEAR")
    return (
        TariffEntry(1, "10", "G", D("0.3"), weight=10),
        TariffEntry(
            2,
            "10",
            "G",
            D("1.2"),
            connect_fee=D("0.2"),
            initial_increment=60,
            subsequent_increment=60,
            timing=peak,
            weight=10,
        ),
        TariffEntry(3, "10", "G", D("0.6"), connect_fee=D("0.1"), timing=evening, weight=10),
        TariffEntry(
            4,
            "20",
            "G",
            D("1.2"),
            connect_fee=D("0.2"),
            initial_increment=60,
            subsequent_increment=60,
            weight=10,
        ),
        TariffEntry(5, "20", "G", D("0.6"), connect_fee=D("0.1"), timing=new_year, weight=20),
    )


def test_timings_and_weights_choose_the_entry() -> None:
    rows = [
        cdr("1003", 45, "2019-03-11T09:00"),  # Monday, PEAK (08:00) started last
        cdr("1003", 45, "2019-03-11T21:00"),  # Monday, OFFPEAK_EVENING (19:00) started last
        cdr("1003", 45, "2019-03-16T09:00"),  # Saturday: only the untimed entry
        cdr("1003", 45, "2019-03-11T07:59:59"),  # Monday before 08:00: untimed
        cdr("2001", 45, "2020-01-01T21:00"),  # NEW_YEAR, weight 20 beats 10
        cdr("2001", 45, "2020-01-02T21:00"),  # not 1 January: the untimed entry
    ]
    r = run(rows, plan(_tutorial_10_and_20()), WIDE)
    assert col(r, "entry_id") == [2, 3, 1, 1, 5, 4]
    # PEAK: 0.2 + one 60 s increment at 1.2/min = 1.4; OFFPEAK_EVENING:
    # 0.1 + 45 x 0.6 / 60 = 0.55; untimed 10: 45 x 0.3 / 60 = 0.225;
    # NEW_YEAR 0.55; untimed 20: 0.2 + 1.2 = 1.4
    assert col(r, "list_amount") == [
        D("1.4"),
        D("0.55"),
        D("0.225"),
        D("0.225"),
        D("0.55"),
        D("1.4"),
    ]


def test_timings_follow_the_billing_zone() -> None:
    entries = _tutorial_10_and_20()
    # 2019-03-11T07:30Z is 08:30 in Paris (UTC+1 in March before the DST change):
    # PEAK there, the untimed entry in UTC.
    paris = run(
        [cdr("1003", 45, "2019-03-11T07:30")],
        plan(entries, tz="Europe/Paris"),
        Period(date(2019, 3, 1), date(2019, 4, 1), "Europe/Paris"),
    )
    assert col(paris, "entry_id") == [2]
    in_utc = run([cdr("1003", 45, "2019-03-11T07:30")], plan(entries), WIDE)
    assert col(in_utc, "entry_id") == [1]


def test_equal_weight_and_start_the_lower_rate_wins() -> None:
    weekdays = Timing(weekdays=MON_FRI, name="WEEKDAYS")
    march = Timing(months=frozenset({3}), name="MARCH")
    entries = (
        TariffEntry(1, "10", "G", D("0.5"), timing=weekdays, weight=5),
        TariffEntry(2, "10", "G", D("0.4"), timing=march, weight=5),
    )
    r = run([cdr("1003", 60, "2019-03-11T09:00")], plan(entries), WIDE)
    # Both hold from 00:00 at the same weight: the lower rate, 0.4/min, wins.
    assert col(r, "entry_id") == [2]
    assert col(r, "list_amount") == [D("0.4")]


def test_no_timed_entry_applies_falls_back_to_the_shorter_prefix() -> None:
    weekend = Timing(weekdays=frozenset({5, 6}), name="WEEKEND")
    entries = (
        TariffEntry(1, "1", "G", D("0.6")),
        TariffEntry(2, "10", "G", D("0.3"), timing=weekend),
    )
    rows = [cdr("1003", 60, "2019-03-11T09:00"), cdr("1003", 60, "2019-03-16T09:00")]
    r = run(rows, plan(entries), WIDE)
    # Monday: "10" has no entry in force, so "1" rates it (0.6); Saturday: "10" (0.3).
    assert col(r, "entry_id") == [1, 2]
    assert col(r, "prefix") == ["1", "10"]


def test_the_empty_prefix_matches_every_number() -> None:
    entries = (
        TariffEntry(1, "", "ANY", D("0.6"), connect_fee=D("0.2")),
        TariffEntry(2, "1002", "G", D("0.01"), initial_increment=60, subsequent_increment=60),
    )
    r = run([cdr("4420", 60), cdr("1002", 60), cdr("1", 60)], plan(entries))
    # 4420 and 1: only "" matches: 0.2 + 60 x 0.6 / 60 = 0.8; 1002: the longer prefix, 0.01
    assert col(r, "entry_id") == [1, 2, 1]
    assert col(r, "prefix") == ["", "1002", ""]
    assert col(r, "list_amount") == [D("0.8"), D("0.01"), D("0.8")]


def test_allowance_covers_the_first_seconds_of_a_grouped_call() -> None:
    profile = ConsumptionProfile(
        1, "1 min", ProfileUnit.MINUTES, frozenset({1}), included_quantity=D(1)
    )
    r = run(
        [cdr("1002", 90, "2026-08-03T10:00"), cdr("1002", 90, "2026-08-03T11:00")],
        plan((rt_20cnt(1, "1002"),), profiles=(profile,)),
    )
    # First call (90 s): the allowance covers its first 60 s, i.e. group 0's
    # increment (0.2): time charge = 0.25010 - 0.2 = 0.05010;
    # list = 0.4 + 0.0501 = 0.4501 (4 places, nothing to round up).
    # Second call: nothing covered, 0.6501 as without a profile.
    assert col(r, "included_quantity") == [D(60), D(0)]
    assert col(r, "list_amount") == [D("0.4501"), D("0.6501")]


# ------------------------------------------------------ CGRateS tutorial cases


def _cgrates_entries() -> tuple[TariffEntry, ...]:
    """The tutorial destinations as rerate entries (cgrates_spec.md section 6):
    ids 1-5 as in _tutorial_10_and_20 (destinations DST_10 and DST_20)."""
    one_minute: dict[str, Any] = {"initial_increment": 60, "subsequent_increment": 60}
    return (
        *_tutorial_10_and_20(),
        # tp_destination_with_any: DR_1002_1CNT (1 cent a minute, 60 s increments)
        TariffEntry(6, "1002", "DR_1002_1CNT", D("0.01"), weight=20, **one_minute),
        # ... and *any: RT_10CNT, connect 0.2 + 0.1/min in 60 s increments
        TariffEntry(7, "", "DR_ANY", D("0.1"), connect_fee=D("0.2"), **one_minute),
        # tutorial2 RP_1001 to 1002: RT_60C, connect 0.1 + 0.01/s
        TariffEntry(8, "5002", "RT_60C", D("0.6"), connect_fee=D("0.1")),
        # RT_10C_CN: connect 0.1, rate 0 (RPF_SPECIAL_BLC), and reseller1 RT_10CNT
        TariffEntry(9, "6002", "RT_10C_CN", D(0), connect_fee=D("0.1")),
        TariffEntry(10, "7002", "RT_10CNT", D(0), connect_fee=D("0.1"), **one_minute),
        # tutorial RT_20CNT (RP_1001 to 1002, RP_1002 to 1001) and
        # DR_1003_MAXCOST_DISC: 0.01/s, MaxCost 0.12 *disconnect (no cap on a CDR)
        rt_20cnt(11, "8002"),
        TariffEntry(12, "8003", "DR_1003_MAXCOST_DISC", D("0.6")),
    )


# (spec row, destination, start, seconds, expected cost). Destinations 5xxx-8xxx
# stand for the tutorial's other rating plans, whose subject or plan choice is
# outside rerate's tariff entries (a contract picks its deck).
CGRATES_CASES = [
    (1, "1002", "2026-08-03T10:00", 60, "0.01"),
    (2, "1003", "2026-08-03T10:00", 60, "0.3"),  # that plan has no "10": see the test
    (3, "5002", "2026-08-03T10:00", 45, "0.55"),
    (4, "1003", "2019-03-11T09:00", 45, "1.4"),
    (5, "1003", "2019-03-11T21:00", 45, "0.55"),
    (6, "2001", "2019-03-11T09:00", 45, "1.4"),
    (7, "2001", "2020-01-01T21:00", 45, "0.55"),
    (13, "6002", "2026-08-03T10:00", 300, "0.1"),
    (14, "7002", "2026-08-03T10:00", 45, "0.1"),
    (15, "7002", "2026-08-03T10:00", 645, "0.1"),
    (16, "8002", "2026-08-03T10:00", 3600, "6.5118"),
    (17, "8003", "2026-08-03T10:00", 3600, "36"),
    (18, "8002", "2026-08-03T10:00", 3600, "6.5118"),
]


@pytest.mark.parametrize(("row", "dest", "start", "seconds", "expected"), CGRATES_CASES)
def test_cgrates_tutorial_costs(
    row: int, dest: str, start: str, seconds: int, expected: str
) -> None:
    entries = _cgrates_entries()
    if row == 2:
        # tp_destination_with_any has no DST_10: 1003 falls to *any.
        entries = tuple(e for e in entries if e.prefix != "10")
    r = run([cdr(dest, seconds, start)], plan(entries), WIDE)
    assert col(r, "list_amount") == [D(expected)], row


# ------------------------------------------------------------------ rounding


@given(
    st.integers(-(10**15), 10**15),
    st.integers(0, 10),
    st.sampled_from(list(RoundingMode)),
)
def test_round_scaled_matches_decimal_quantize(units: int, places: int, mode: RoundingMode) -> None:
    import numpy as np

    got = round_scaled(np.array([units], dtype=np.int64), places, mode)[0]
    want = (
        Decimal(units)
        .scaleb(-10)
        .quantize(Decimal(1).scaleb(-places), rounding=mode.decimal_mode)
        .scaleb(10)
    )
    assert Decimal(int(got)) == want
