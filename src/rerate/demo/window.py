"""The demo's data window: three closed months and the current month to date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """The first day of the month `months` after `day`'s month."""
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DemoWindow:
    """Usage covers `[start, end)`: the 3 closed months before `today`'s month,
    plus the current month up to yesterday (never `today`)."""

    today: date
    closed_months: tuple[date, ...]  # first days, oldest first
    current_month: date

    @classmethod
    def for_today(cls, today: date) -> DemoWindow:
        current = month_start(today)
        return cls(today, tuple(add_months(current, k) for k in (-3, -2, -1)), current)

    @property
    def first_day(self) -> date:
        return self.closed_months[0]

    @property
    def start(self) -> datetime:
        return utc_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        """Midnight UTC starting `today`: usage ends at or before it."""
        return utc_midnight(self.today)

    @property
    def days(self) -> list[date]:
        n = (self.today - self.first_day).days
        return [self.first_day + timedelta(days=i) for i in range(n)]

    @property
    def months(self) -> tuple[date, ...]:
        """The closed months, then the current one (possibly without a day yet)."""
        return (*self.closed_months, self.current_month)

    @property
    def middle_month(self) -> date:
        return self.closed_months[1]

    @property
    def v2_from(self) -> datetime:
        """Price book and tariff deck version 2 take effect here."""
        return utc_midnight(self.middle_month)

    @property
    def move_at(self) -> datetime:
        """The moving VoIP peer changes hands: the 15th, 12:00 UTC, of the middle month."""
        return utc_midnight(self.middle_month.replace(day=15)) + timedelta(hours=12)

    def label(self, month: date) -> str:
        return f"{month.year:04d}-{month.month:02d}"
