"""The text forms of a tariff entry's carrier terms (docs/formats.md, "Tariff
CSV columns for carrier terms"): one definition for the tariffs CSV, the
price-book tables (which store the same text) and the API.

- rate groups: space-separated `FROM:RATE:INCREMENT` items, FROM and INCREMENT
  whole seconds, RATE per minute, e.g. `60:0.1:1 300:0.05:60`;
- timing: `YEARS|MONTHS|MONTHDAYS|WEEKDAYS|HH:MM:SS`, each `*any` or numbers
  separated by `;`, with an optional `NAME=` label in front. WEEKDAYS are
  CGRateS's (Go's) numbers: 1=Monday ... 6=Saturday, 0 or 7=Sunday; the plan's
  `Timing` counts 0=Monday ... 6=Sunday (as band rules do).

The parsers raise ValueError with a message that names no file: the callers
say where.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal, InvalidOperation

from rerate.kit.money import PRICE_SCALE, parse_decimal
from rerate.rating.plan import RateGroup, Timing

ANY = "*any"
_MAX_SECONDS = 2**31 - 1


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def format_rate_groups(groups: tuple[RateGroup, ...]) -> str:
    return " ".join(f"{g.from_seconds}:{_plain(g.rate_per_minute)}:{g.increment}" for g in groups)


def _seconds(text: str, what: str, *, least: int) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{what} must be whole seconds, got {text!r}")
    value = int(text)
    if not least <= value <= _MAX_SECONDS:
        raise ValueError(f"{what} must be {least} or more seconds, got {text!r}")
    return value


def parse_rate_groups(text: str) -> tuple[RateGroup, ...]:
    """'60:0.1:1 300:0.05:60' -> rate groups, starting after 0, increasing."""
    groups: list[RateGroup] = []
    for item in text.split():
        parts = item.split(":")
        if len(parts) != 3:
            raise ValueError(f"{item!r} is not FROM:RATE:INCREMENT (e.g. 60:0.1:1)")
        frm = _seconds(parts[0], "FROM", least=1)
        try:
            rate = parse_decimal(parts[1])
        except (InvalidOperation, ValueError):
            raise ValueError(f"{item!r}: RATE is not a decimal number") from None
        if not rate.is_finite() or rate < 0:
            raise ValueError(f"{item!r}: RATE must be 0 or more")
        if rate != rate.quantize(Decimal(1).scaleb(-PRICE_SCALE)):
            raise ValueError(f"{item!r}: RATE has more than {PRICE_SCALE} decimal places")
        increment = _seconds(parts[2], "INCREMENT", least=1)
        if groups and frm <= groups[-1].from_seconds:
            raise ValueError(f"{item!r}: groups must be in increasing FROM order")
        groups.append(RateGroup(frm, rate, increment))
    return tuple(groups)


def _numbers(values: frozenset[int], shift: int = 0) -> str:
    if not values:
        return ANY
    return ";".join(str(v + shift) for v in sorted(values))


def format_timing(timing: Timing | None) -> str:
    """'' for no timing (any time)."""
    if timing is None:
        return ""
    # Timing's 0=Mon..6=Sun -> CGRateS's 1=Mon..7=Sun.
    fields = (
        _numbers(timing.years),
        _numbers(timing.months),
        _numbers(timing.monthdays),
        _numbers(timing.weekdays, shift=1),
        timing.start.strftime("%H:%M:%S"),
    )
    label = f"{timing.name}=" if timing.name else ""
    return label + "|".join(fields)


def parse_number_set(text: str, what: str, low: int, high: int) -> frozenset[int]:
    """'*any' or '' -> empty (any); '1;2;3' -> {1, 2, 3} within [low, high]."""
    text = text.strip()
    if text in ("", ANY):
        return frozenset()
    out = set()
    for part in text.split(";"):
        part = part.strip()
        if not (part.isascii() and part.isdigit()) or not low <= int(part) <= high:
            raise ValueError(f"{what}: {part!r} is not a number from {low} to {high}")
        out.add(int(part))
    return frozenset(out)


def weekdays_from_cgrates(days: frozenset[int]) -> frozenset[int]:
    """CGRateS weekdays (1=Mon..6=Sat, 0 or 7=Sun) -> Timing's (0=Mon..6=Sun)."""
    return frozenset((d + 6) % 7 for d in days)


def parse_clock(text: str, what: str = "time") -> time:
    text = text.strip()
    if text in ("", ANY):
        return time(0)
    try:
        value = time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not HH:MM:SS") from None
    if value.tzinfo is not None or value.microsecond:
        raise ValueError(f"{what}: {text!r} is not HH:MM:SS")
    return value


def make_timing(
    name: str, years: str, months: str, monthdays: str, weekdays: str, start: str
) -> Timing:
    """A Timing from CGRateS-style fields (Timings.csv's, or the canonical text's)."""
    return Timing(
        years=parse_number_set(years, "years", 1, 9999),
        months=parse_number_set(months, "months", 1, 12),
        monthdays=parse_number_set(monthdays, "month days", 1, 31),
        weekdays=weekdays_from_cgrates(parse_number_set(weekdays, "weekdays", 0, 7)),
        start=parse_clock(start),
        name=name,
    )


def parse_timing(text: str) -> Timing | None:
    """The inverse of `format_timing`; '' -> None."""
    text = text.strip()
    if not text:
        return None
    name, sep, rest = text.partition("=")
    if not sep:
        name, rest = "", text
    parts = rest.split("|")
    if len(parts) != 5:
        raise ValueError(
            f"{text!r} is not [NAME=]YEARS|MONTHS|MONTHDAYS|WEEKDAYS|HH:MM:SS "
            "(e.g. PEAK=*any|*any|*any|1;2;3;4;5|08:00:00)"
        )
    return make_timing(name.strip(), *parts)
