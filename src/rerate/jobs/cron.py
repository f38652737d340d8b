"""A small cron-expression parser: five fields, evaluated in UTC.

    minute hour day-of-month month day-of-week
    0-59   0-23 1-31         1-12  0-7 (0 and 7 are Sunday)

Each field is `*`, a number, a range `a-b`, a step `*/n` or `a-b/n` or `a/n`
(from `a` to the field's maximum), or a comma-separated list of those. Month
and weekday names (`jan`, `mon`) and the aliases `@hourly`, `@daily`,
`@weekly`, `@monthly` and `@yearly` are accepted too.

Day-of-month and day-of-week follow Vixie cron (and cronie): when both fields
are restricted, a day matches if *either* matches; a field counts as
unrestricted when it starts with `*` (so `*/2` counts as unrestricted, as it
does there). Written here rather than taken from a library to keep the
dependency list short; the property test in tests/jobs checks it against
brute-force minute iteration.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rerate.kit.errors import Invalid

_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTH_NAMES = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAY_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

# (name, minimum, maximum, names) for each of the five fields.
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTH_NAMES),
    ("day of week", 0, 7, _DAY_NAMES),
)
# Leap years make February 29 reachable; a search that has not matched after
# this many years never will (the longest gap between leap years is 8).
_SEARCH_YEARS = 30


class CronError(Invalid):
    """A cron expression that cannot be parsed, or can never fire."""


@dataclass(frozen=True, slots=True)
class CronExpression:
    """A parsed expression; `next_after` gives the next firing instant."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday (7 folded into 0)
    days_restricted: bool
    weekdays_restricted: bool

    def matches(self, instant: datetime) -> bool:
        """True if the expression fires at this instant's minute (in UTC)."""
        t = _as_utc(instant)
        return (
            t.minute in self.minutes
            and t.hour in self.hours
            and t.month in self.months
            and self._day_matches(t)
        )

    def _day_matches(self, t: datetime) -> bool:
        dom = t.day in self.days
        dow = (t.weekday() + 1) % 7 in self.weekdays  # Python: Monday=0; cron: Sunday=0
        if self.days_restricted and self.weekdays_restricted:
            return dom or dow
        return dom and dow

    def next_after(self, after: datetime) -> datetime:
        """The first firing instant strictly after `after`, as an aware UTC datetime.

        Skips whole months, days and hours that cannot match, so one call
        costs at most a few thousand steps even for rare expressions.
        """
        t = _as_utc(after).replace(second=0, microsecond=0) + timedelta(minutes=1)
        last_year = t.year + _SEARCH_YEARS
        while t.year <= last_year:
            if t.month not in self.months:
                t = _first_of_next_month(t)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            else:
                minute = min((m for m in self.minutes if m >= t.minute), default=None)
                if minute is not None:
                    return t.replace(minute=minute)
                t = t.replace(minute=0) + timedelta(hours=1)
        # parse() rejects expressions that can never fire, so this is a bug guard.
        raise CronError(f"cron expression {self.text!r} has no occurrence after {after}")


def parse_cron(text: str) -> CronExpression:
    """Parse a five-field cron expression; raise `CronError` (HTTP 422) with the reason."""
    source = text.strip()
    expanded = _ALIASES.get(source.lower(), source)
    parts = expanded.split()
    if len(parts) != 5:
        raise CronError(
            f"cron expression {text!r} must have 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    sets = [
        _parse_field(part, name, lo, hi, names)
        for part, (name, lo, hi, names) in zip(parts, _FIELDS, strict=True)
    ]
    weekdays = frozenset(d % 7 for d in sets[4])
    expr = CronExpression(
        text=source,
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=weekdays,
        days_restricted=not parts[2].startswith("*"),
        weekdays_restricted=not parts[4].startswith("*"),
    )
    _check_reachable(expr)
    return expr


def _parse_field(text: str, name: str, lo: int, hi: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"empty list item in the {name} field {text!r}")
        rng, _, step_text = item.partition("/")
        step = 1
        if step_text:
            step = _number(step_text, name, names={})
            if step < 1:
                raise CronError(f"step must be at least 1 in the {name} field {text!r}")
        if rng == "*":
            start, end = lo, hi
        elif "-" in rng:
            a, _, b = rng.partition("-")
            start, end = _number(a, name, names), _number(b, name, names)
        else:
            start = _number(rng, name, names)
            # "a/n" means from a to the maximum, every n; a bare "a" is one value.
            end = hi if step_text else start
        for value in (start, end):
            if not lo <= value <= hi:
                raise CronError(f"{value} is outside {lo}-{hi} in the {name} field {text!r}")
        if start > end:
            raise CronError(f"range {start}-{end} runs backwards in the {name} field {text!r}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _number(text: str, name: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise CronError(f"{text!r} is not a number in the {name} field")
    return int(text)


def _check_reachable(expr: CronExpression) -> None:
    # Only day-of-month can make an expression impossible ("0 0 30 2 *"):
    # with a restricted weekday the OR rule always leaves some day.
    if expr.weekdays_restricted and expr.days_restricted:
        return
    longest = max(calendar.monthrange(2024, m)[1] for m in expr.months)  # 2024: leap year
    if min(expr.days) > longest:
        raise CronError(f"cron expression {expr.text!r} can never fire (no such day)")


def _as_utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("naive datetime: cron instants are aware UTC")
    return instant.astimezone(UTC)


def _first_of_next_month(t: datetime) -> datetime:
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return t.replace(year=year, month=month, day=1, hour=0, minute=0)
