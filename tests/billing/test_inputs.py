"""The period arithmetic behind recorded inputs, against brute force (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rerate.billing.inputs import applies_to, versions_in_force, window_of
from rerate.kit.periods import Month
from rerate.models import CustomLineItem, PriceBookVersion

BASE = datetime(2026, 6, 1, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 150 * 24), min_size=1, max_size=8, unique=True),
    month=st.sampled_from(["2026-07", "2026-08", "2026-09", "2026-10"]),
    tz=st.sampled_from(["UTC", "Europe/Paris", "America/Santiago", "Pacific/Kiritimati"]),
)
def test_versions_in_force_are_those_priced_at_some_instant_of_the_period(
    offsets: list[int], month: str, tz: str
) -> None:
    versions = [
        PriceBookVersion(id=i + 1, version=i + 1, effective_from=BASE + timedelta(hours=h))
        for i, h in enumerate(offsets)
    ]
    window = window_of(month, tz)
    ordered = sorted(versions, key=lambda v: v.effective_from)
    expected = set()
    for v, nxt in zip(ordered, [*ordered[1:], None], strict=True):
        ends = nxt.effective_from if nxt else datetime.max.replace(tzinfo=UTC)
        # in force over [effective_from, next effective_from): does it meet [start, end)?
        if v.effective_from < window.end_utc and ends > window.start_utc:
            expected.add(v.id)
    assert {v.id for v in versions_in_force(versions, window)} == expected


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(-80, 80),
    length=st.one_of(st.none(), st.integers(0, 120)),
    one_off=st.booleans(),
    month=st.sampled_from([Month(2026, 2), Month(2026, 8), Month(2026, 12)]),
)
def test_a_custom_item_applies_to_a_month_when_one_of_its_days_is_in_it(
    start: int, length: int | None, one_off: bool, month: Month
) -> None:
    first = month.first_day + timedelta(days=start)
    if one_off:
        item = CustomLineItem(one_off_date=first)
        days = {first}
    else:
        last = first + timedelta(days=length) if length is not None else None
        item = CustomLineItem(recurring_from=first, recurring_to=last)
        horizon = last if last is not None else date(2027, 12, 31)
        days = {first + timedelta(days=i) for i in range((horizon - first).days + 1)}
    assert applies_to(item, month) == bool(days & set(month.days()))
