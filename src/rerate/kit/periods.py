"""Billing periods: half-open `[start, end)` intervals in a billing time zone.

A period is one value (`Period`), never a pair of loose dates. A month period
"2026-08" in zone Europe/Paris starts at 2026-08-01T00:00 Paris time and ends
(exclusive) at 2026-09-01T00:00 Paris time; `start_utc`/`end_utc` convert those
instants, DST included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, slots=True, order=True)
class Month:
    """A calendar month, e.g. Month(2026, 8) for "2026-08"."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month out of range: {self.month}")
        if not 1900 <= self.year <= 9999:
            raise ValueError(f"year out of range: {self.year}")

    @classmethod
    def parse(cls, text: str) -> Month:
        m = _MONTH_RE.match(text.strip())
        if not m:
            raise ValueError(f"period must look like YYYY-MM, got {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def days(self) -> list[date]:
        first, end = self.first_day, self.next().first_day
        return [first + timedelta(days=i) for i in range((end - first).days)]

    def in_zone(self, tz: str) -> Period:
        return Period(self.first_day, self.next().first_day, tz)


@dataclass(frozen=True, slots=True)
class Period:
    """Half-open local-date interval `[start, end)` in time zone `tz`."""

    start: date
    end: date
    tz: str = "UTC"

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"empty period: {self.start} .. {self.end}")
        ZoneInfo(self.tz)  # fail early on an unknown zone

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def start_utc(self) -> datetime:
        return local_midnight_utc(self.start, self.tz)

    @property
    def end_utc(self) -> datetime:
        return local_midnight_utc(self.end, self.tz)

    def contains(self, instant: datetime) -> bool:
        """True when the aware `instant` lies in `[start_utc, end_utc)`."""
        if instant.tzinfo is None:
            raise ValueError("naive datetime: every instant in rerate is timezone-aware")
        return self.start_utc <= instant < self.end_utc

    def overlap_seconds(self, start: datetime, end: datetime) -> float:
        lo, hi = max(start, self.start_utc), min(end, self.end_utc)
        return max(0.0, (hi - lo).total_seconds())


def local_midnight_utc(day: date, tz: str) -> datetime:
    """The UTC instant of local midnight starting `day` in `tz`.

    A zone may skip midnight on a DST day (e.g. America/Santiago); `fold=0`
    with zoneinfo then resolves to the instant after the gap, which is the
    first instant of that local day, as a finance team would read it.
    """
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def local_day(instant: datetime, tz: str) -> date:
    """The local calendar day that contains the aware `instant` in `tz`."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: every instant in rerate is timezone-aware")
    return instant.astimezone(ZoneInfo(tz)).date()
