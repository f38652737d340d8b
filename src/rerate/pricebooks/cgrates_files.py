"""Reading a CGRateS tariff plan's CSV files (docs/formats.md, "CGRateS tariff
plans"): rows by position, with their line numbers, and CGRateS's durations.

CGRateS reads its files by column position; the header line is usually a
`#` comment (`#Id,...` or `#ID,...`) and the files carry `#` comment lines
and blank lines. All of that is skipped here. Errors name the file, the line
and CGRateS's own column name.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from rerate.rating.formats import FormatError

# CGRateS's column names, by position, per file (the names in its headers).
COLUMNS: dict[str, tuple[str, ...]] = {
    "Destinations.csv": ("Id", "Prefix"),
    "Rates.csv": (
        "Id",
        "ConnectFee",
        "Rate",
        "RateUnit",
        "RateIncrement",
        "GroupIntervalStart",
    ),
    "DestinationRates.csv": (
        "Id",
        "DestinationId",
        "RatesTag",
        "RoundingMethod",
        "RoundingDecimals",
        "MaxCost",
        "MaxCostStrategy",
    ),
    "Timings.csv": ("Id", "Years", "Months", "MonthDays", "WeekDays", "Time"),
    "RatingPlans.csv": ("Id", "DestinationRatesId", "TimingTag", "Weight"),
    "RatingProfiles.csv": (
        "Tenant",
        "Category",
        "Subject",
        "ActivationTime",
        "RatingPlanId",
        "RatesFallbackSubject",
    ),
}
REQUIRED = ("Destinations.csv", "Rates.csv", "DestinationRates.csv", "RatingPlans.csv")
# An uncommented header line starts with one of these (case-insensitive).
_HEADER_FIRST = {"id", "tag", "tenant", "direction"}


@dataclass(frozen=True, slots=True)
class Row:
    file: str
    line: int
    fields: dict[str, str]

    def where(self, field: str) -> str:
        return f"{self.file} line {self.line}, {field}"

    def __getitem__(self, field: str) -> str:
        return self.fields[field]


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FormatError(f"{name}: not UTF-8 text") from None


def read_rows(name: str, text: str) -> list[Row]:
    """The data rows of one file, fields named by CGRateS's columns; missing
    trailing fields are empty, extra ones ignored."""
    columns = COLUMNS[name]
    rows: list[Row] = []
    reader = csv.reader(io.StringIO(text))
    line = 0
    try:
        for record in reader:
            start, line = line + 1, reader.line_num
            values = [v.strip() for v in record]
            if not any(values) or values[0].startswith("#"):
                continue
            if not rows and values[0].lower() in _HEADER_FIRST:
                continue  # a header written without '#'
            if name == "RatingProfiles.csv" and values[0] in ("*out", "*in"):
                values = values[1:]  # older CGRateS: a Direction column first
            values += [""] * (len(columns) - len(values))
            rows.append(Row(name, start, dict(zip(columns, values, strict=False))))
    except csv.Error as exc:
        raise FormatError(f"{name} line {reader.line_num}: {exc}") from None
    return rows


def load(source: Path | Mapping[str, bytes]) -> dict[str, list[Row]]:
    """Each known file's rows, from a directory or {file name: content}
    (names matched without case, directories in them ignored); a required
    file that is missing is an error naming it."""
    if isinstance(source, Path):
        if not source.is_dir():
            raise FormatError(f"{source}: not a directory of CGRateS CSV files")
        contents = {p.name: p.read_bytes() for p in source.iterdir() if p.is_file()}
    else:
        contents = dict(source)
    by_lower = {Path(k).name.lower(): v for k, v in contents.items()}
    files: dict[str, list[Row]] = {}
    for name in COLUMNS:
        data = by_lower.get(name.lower())
        if data is None:
            if name in REQUIRED:
                raise FormatError(
                    f"{name}: missing (a CGRateS tariff plan needs {', '.join(REQUIRED)})"
                )
            continue
        files[name] = read_rows(name, _decode(name, data))
    return files


# Go's time.ParseDuration units, in nanoseconds.
_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_NS_PER_S = 1_000_000_000


def duration_ns(text: str) -> Decimal:
    """A CGRateS duration in nanoseconds: a Go duration (`60s`, `1m30s`,
    `500ms`) or a bare number, which CGRateS reads as nanoseconds
    (utils.ParseDurationWithNanosecs)."""
    if text == "":
        return Decimal(0)
    if re.fullmatch(r"\d+", text):
        return Decimal(text)
    pos, total = 0, Decimal(0)
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += Decimal(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"{text!r} is not a duration (like 60s, 1m, 1m30s)")
    return total


def whole_seconds(row: Row, field: str) -> int:
    """A duration field as whole seconds; anything finer is refused, saying why."""
    text = row[field]
    try:
        ns = duration_ns(text)
    except ValueError as exc:
        raise FormatError(f"{row.where(field)}: {exc}") from None
    if ns % _NS_PER_S:
        shown = f"{ns} ns" if re.fullmatch(r"\d+", text) else f"{ns / _NS_PER_S} s"
        raise FormatError(
            f"{row.where(field)}: {text!r} is {shown}; rerate prices calls by whole seconds"
            + (" (a bare number is nanoseconds in CGRateS)" if re.fullmatch(r"\d+", text) else "")
        )
    return int(ns // _NS_PER_S)
