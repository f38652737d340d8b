"""What rerate can represent, checked where a value enters it.

A value the engine or the database cannot hold is refused when it is
accepted (a 422 naming the field), not when a job trips on it later: a
custom item of 1e30 used to be stored and then fail every recalculation of
its month, and a schedule dated in year 5 used to be retried every 10 s
forever. The API's field types (`rerate.api.fields`) and the services both
call these checks, so the CLI and the web console get the same answer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from rerate.kit.money import ROW_SCALE
from rerate.kit.periods import Month

# Ids are INTEGER columns: 32-bit on PostgreSQL (64-bit on SQLite), so the
# portable bound is PostgreSQL's; a larger one used to reach the database and
# come back as a 500 ("integer out of range") instead of a 404 or a 422.
MAX_ID = 2**31 - 1
# SQL OFFSET is 64-bit on both databases.
INT64_MAX = 2**63 - 1

# kit.periods.Month holds years 1900-9999, and a period needs the month after
# it (its exclusive end): the last month that has one is 9999-11, and dates
# near the end of 9999 overflow `datetime` once moved to another time zone.
MIN_YEAR = 1900
MAX_YEAR = 9998

# Inside the engine an amount is an int64 count of 10**-ROW_SCALE units
# (rating.fixed): 922,337,203.6854775807 is the largest one row can carry.
MAX_ROW_AMOUNT = Decimal(INT64_MAX).scaleb(-ROW_SCALE)

# Usage before 1970 or from 2200 is a broken clock or a typo, never billable
# (the importers refuse such rows too).
USAGE_FROM = datetime(1970, 1, 1, tzinfo=UTC)
USAGE_UNTIL = datetime(2200, 1, 1, tzinfo=UTC)

PERIOD_PATTERN = (
    r"^(19[0-9]{2}|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(0[1-9]|1[0-2])$"
)
"""`YYYY-MM` with a month 01-12 and a year MIN_YEAR-MAX_YEAR (ASCII digits only)."""


def check_year(value: date, what: str) -> date:
    """`value` (a date or, in UTC, an instant) if its year is MIN_YEAR-MAX_YEAR."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"{what}: the year must be {MIN_YEAR} to {MAX_YEAR}, got {value.year}")
    return value


def check_instant(value: datetime, what: str) -> datetime:
    """An aware instant in UTC whose year is MIN_YEAR-MAX_YEAR."""
    if value.tzinfo is None:
        raise ValueError(f"{what}: needs a time zone (a UTC offset, e.g. 2026-08-01T02:00:00Z)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 moved across midnight of the calendar
        raise ValueError(
            f"{what}: the year must be {MIN_YEAR} to {MAX_YEAR}, got {value.year}"
        ) from None
    check_year(utc, what)
    return utc


def check_usage_instant(value: datetime, what: str) -> datetime:
    """An aware instant of billable usage: from 1970 up to (not including) 2200."""
    utc = check_instant(value, what)
    if not USAGE_FROM <= utc < USAGE_UNTIL:
        raise ValueError(f"{what}: usage must lie in 1970 to 2199, got {utc.isoformat()}")
    return utc


def check_period(text: str, what: str = "period") -> Month:
    """A `YYYY-MM` period inside MIN_YEAR-MAX_YEAR."""
    try:
        month = Month.parse(text)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    check_year(month.first_day, what)
    return month


def check_row_amount(value: Decimal, what: str) -> Decimal:
    """A finite amount with at most ROW_SCALE decimal places that fits one engine row."""
    if not value.is_finite():
        raise ValueError(f'{what}: a decimal number, e.g. "250.00" or "-40" for a credit')
    if abs(value) > MAX_ROW_AMOUNT:
        raise ValueError(f"{what}: at most {MAX_ROW_AMOUNT} in absolute value, got {value}")
    if value != value.quantize(Decimal(1).scaleb(-ROW_SCALE)):
        raise ValueError(f"{what}: at most {ROW_SCALE} decimal places")
    return value
