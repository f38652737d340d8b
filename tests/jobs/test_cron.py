from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from rerate.jobs.cron import CronError, parse_cron


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/15 * * * *", at(2025, 1, 1, 10, 7), at(2025, 1, 1, 10, 15)),
        ("*/15 * * * *", at(2025, 1, 1, 10, 15), at(2025, 1, 1, 10, 30)),  # strictly after
        ("0 2 1 * *", at(2024, 1, 31, 23, 59), at(2024, 2, 1, 2, 0)),
        ("30 23 31 12 *", at(2024, 12, 31, 23, 31), at(2025, 12, 31, 23, 30)),
        ("0 0 29 2 *", at(2097, 3, 1), at(2104, 2, 29)),  # 2100 is not a leap year
        ("0 9 * * 7", at(2025, 6, 2), at(2025, 6, 8, 9, 0)),  # 7 is Sunday, like 0
        ("0 9 * * mon-fri", at(2025, 6, 6, 9, 0), at(2025, 6, 9, 9, 0)),  # Fri -> Mon
        ("0 0 13 * 5", at(2024, 1, 1), at(2024, 1, 5)),  # day 13 OR a Friday (Vixie rule)
        ("0 0 */10 * 1", at(2024, 1, 2), at(2024, 3, 11)),  # "*/10" is unrestricted: AND
        ("15 10-12/2 * jan,jul *", at(2025, 2, 1), at(2025, 7, 1, 10, 15)),
        ("5/20 * * * *", at(2025, 1, 1, 0, 6), at(2025, 1, 1, 0, 25)),  # a/n: a, a+n, ...
        ("@daily", at(2025, 1, 1, 0, 0, 30), at(2025, 1, 2)),
        ("@monthly", at(2025, 1, 15), at(2025, 2, 1)),
    ],
)
def test_next_occurrence_of_known_expressions(
    expression: str, after: datetime, expected: datetime
) -> None:
    assert parse_cron(expression).next_after(after) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "must have 5 fields"),
        ("60 * * * *", "outside 0-59"),
        ("* 24 * * *", "outside 0-23"),
        ("* * 0 * *", "outside 1-31"),
        ("* * * 13 *", "outside 1-12"),
        ("* * * * 8", "outside 0-7"),
        ("5-1 * * * *", "runs backwards"),
        ("*/0 * * * *", "at least 1"),
        ("1,,2 * * * *", "empty list item"),
        ("a * * * *", "not a number"),
        ("-1 * * * *", "not a number"),
        ("0 0 30 2 *", "can never fire"),
        ("0 0 31 4,6,9,11 *", "can never fire"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(CronError, match=message):
        parse_cron(expression)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        parse_cron("* * * * *").next_after(datetime(2025, 1, 1))


# --- property test against brute force ----------------------------------------------------


@dataclass(frozen=True)
class Field:
    text: str
    values: frozenset[int]


def _item(draw: st.DrawFn, lo: int, hi: int, *, allow_star: bool) -> Field:
    kinds = ["value", "range", "range_step", "from_step", "star_step"]
    kind = draw(st.sampled_from([*kinds, "star"] if allow_star else kinds))
    a = draw(st.integers(lo, hi))
    b = draw(st.integers(a, hi))
    n = draw(st.integers(1, max(1, hi - lo)))
    if kind == "star":
        return Field("*", frozenset(range(lo, hi + 1)))
    if kind == "value":
        return Field(str(a), frozenset({a}))
    if kind == "range":
        return Field(f"{a}-{b}", frozenset(range(a, b + 1)))
    if kind == "range_step":
        return Field(f"{a}-{b}/{n}", frozenset(range(a, b + 1, n)))
    if kind == "from_step":
        return Field(f"{a}/{n}", frozenset(range(a, hi + 1, n)))
    return Field(f"*/{n}", frozenset(range(lo, hi + 1, n)))


@st.composite
def fields(draw: st.DrawFn, lo: int, hi: int, star_weight: int) -> Field:
    # A bare "*" is drawn `star_weight` times as often as each other shape, so
    # day and month fields are mostly open and the brute-force window is
    # likely to contain a match (a sparse expression only tests "none in window").
    shape = draw(st.sampled_from(["star"] * star_weight + ["item", "list"]))
    if shape == "star":
        return Field("*", frozenset(range(lo, hi + 1)))
    if shape == "item":
        return _item(draw, lo, hi, allow_star=False)
    items = [_item(draw, lo, hi, allow_star=True) for _ in range(draw(st.integers(2, 3)))]
    return Field(",".join(i.text for i in items), frozenset().union(*(i.values for i in items)))


@st.composite
def expressions(draw: st.DrawFn) -> tuple[str, list[Field]]:
    parts = [
        draw(fields(0, 59, 1)),
        draw(fields(0, 23, 2)),
        draw(fields(1, 31, 6)),
        draw(fields(1, 12, 6)),
        draw(fields(0, 7, 6)),
    ]
    return " ".join(p.text for p in parts), parts


def _oracle(parts: list[Field], t: datetime) -> bool:
    """Cron semantics written out plainly, independent of the parser's data structure."""
    minute, hour, dom, month, dow = parts
    weekdays = {d % 7 for d in dow.values}
    day_ok_dom = t.day in dom.values
    day_ok_dow = (t.weekday() + 1) % 7 in weekdays
    both_restricted = not dom.text.startswith("*") and not dow.text.startswith("*")
    day_ok = (day_ok_dom or day_ok_dow) if both_restricted else (day_ok_dom and day_ok_dow)
    time_ok = t.minute in minute.values and t.hour in hour.values
    return time_ok and t.month in month.values and day_ok


def _can_fire(parts: list[Field]) -> bool:
    _, _, dom, month, dow = parts
    if not dom.text.startswith("*") and not dow.text.startswith("*"):
        return True
    return any(d <= calendar.monthrange(2024, m)[1] for m in month.values for d in dom.values)


WINDOW_MINUTES = 3 * 24 * 60


@settings(max_examples=150, deadline=None)
@given(
    expressions(),
    st.datetimes(
        min_value=datetime(2000, 1, 1),  # hypothesis takes naive bounds plus a zone
        max_value=datetime(2099, 12, 31),
        timezones=st.just(UTC),
    ),
)
def test_next_occurrence_matches_brute_force_minute_iteration(
    expression: tuple[str, list[Field]], after: datetime
) -> None:
    text, parts = expression
    if not _can_fire(parts):
        with pytest.raises(CronError, match="can never fire"):
            parse_cron(text)
        return
    cron = parse_cron(text)
    nxt = cron.next_after(after)
    assert nxt > after
    assert (nxt.second, nxt.microsecond) == (0, 0)
    assert _oracle(parts, nxt)
    # Walk every minute after `after` for three days: the first match the
    # oracle finds must be the parser's answer (no matching minute skipped),
    # and the parser's `matches` must agree with the oracle minute by minute.
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(WINDOW_MINUTES):
        expected = _oracle(parts, t)
        assert cron.matches(t) == expected, t
        if expected:
            event("next occurrence inside the brute-force window")
            assert nxt == t
            return
        t += timedelta(minutes=1)
    event("next occurrence beyond the brute-force window")
    assert nxt >= t  # nothing in the window: the answer lies beyond it
