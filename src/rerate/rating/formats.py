"""File formats for the CLI: plan pieces as CSV/JSON, usage as Parquet or CSV.

The formats are documented with examples in docs/rating.md ("File formats").
Numbers are read as text and parsed with `Decimal`; JSON numbers are parsed
as Decimal too (`parse_float=Decimal`), so no value ever passes through a
float. Every error names the file, the line (CSV) and the field.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Generic, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from rerate.kit.bounds import MAX_ROW_AMOUNT
from rerate.kit.csvout import restore
from rerate.kit.money import DEFAULT_ROUNDING, PRICE_SCALE, ROW_SCALE, RoundingMode, parse_decimal
from rerate.rating import tariff_terms
from rerate.rating.e164 import NumberingRules, normalise_or_none
from rerate.rating.fixed import decimal_places
from rerate.rating.plan import (
    MAX_PREFIX_DIGITS,
    BandRule,
    ConsumptionProfile,
    Contract,
    ContractRule,
    CustomLineItem,
    Holiday,
    Ownership,
    PlanError,
    PriceBook,
    PriceBookVersion,
    PriceEntry,
    ProfileUnit,
    RuleKind,
    TariffEntry,
    Tier,
    TierMode,
    Timetable,
    check_zone,
    checked_tariff,
)
from rerate.usage.schema import USAGE_SCHEMA, UsageKind, UsageSource


class FormatError(ValueError):
    """A malformed input file; the message says where."""


E = TypeVar("E")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            raise FormatError(f"{path}: empty file")
        for lineno, row in enumerate(reader, start=2):
            yield lineno, {k.strip(): (v or "").strip() for k, v in row.items() if k}


def _where(path: Path | str, lineno: int, field: str) -> str:
    # Line 0: a single entry given field by field (the price-book API), not a file.
    return f"{path} line {lineno}, field {field}" if lineno else f"field {field}"


def _req(path: Path | str, lineno: int, row: dict[str, str], field: str) -> str:
    value = row.get(field, "")
    if value == "":
        raise FormatError(f"{_where(path, lineno, field)}: required")
    return value


def _dec(path: Path | str, lineno: int, field: str, text: str) -> Decimal:
    try:
        return parse_decimal(text)
    except (InvalidOperation, ValueError):
        raise FormatError(
            f"{_where(path, lineno, field)}: not a decimal number: {text!r}"
        ) from None


def _int(path: Path | str, lineno: int, field: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise FormatError(f"{_where(path, lineno, field)}: not an integer: {text!r}") from None


def parse_instant(text: str) -> datetime:
    """ISO 8601 with an offset or 'Z'; a naive instant is rejected."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"instant without time zone: {text!r} (add Z or an offset)")
    return value.astimezone(UTC)


def _instant(path: Path | str, lineno: int, field: str, text: str) -> datetime:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise FormatError(f"{_where(path, lineno, field)}: {exc}") from None


def parse_tiers(text: str) -> tuple[Tier, ...]:
    """'0:0.10;1000:0.08' -> tiers (from_qty:unit_price pairs)."""
    if not text.strip():
        return ()
    tiers = []
    for part in text.split(";"):
        frm, _, price = part.partition(":")
        tiers.append(Tier(parse_decimal(frm), parse_decimal(price)))
    return tuple(tiers)


def format_tiers(tiers: tuple[Tier, ...]) -> str:
    """The inverse of `parse_tiers`."""
    return ";".join(f"{plain_decimal(t.from_qty)}:{plain_decimal(t.unit_price)}" for t in tiers)


def plain_decimal(value: Decimal) -> str:
    """A decimal as written in the CSV files: no exponent, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


# The longest text each field may hold (the price-book tables' column sizes,
# so a file `rerate rate` accepts is one a price book can store).
TEXT_LIMITS = {
    "prefix": MAX_PREFIX_DIGITS,
    "destination_group": 200,
    "band": 32,
    "sku": 200,
    "region": 64,
    "unit": 64,
}
TARIFF_COLUMNS = (
    "version",
    "effective_from",
    "prefix",
    "destination_group",
    "rate_per_minute",
    "connect_fee",
    "min_seconds",
    "initial_increment",
    "subsequent_increment",
    "band",
    "charge_unanswered",
    "currency",
)
# The carrier terms (rate groups, rounding, cap, timing, weight): optional,
# written only by decks that use them, so ordinary exports stay as they were.
TARIFF_TERM_COLUMNS = (
    "rate_groups",
    "increment_decimals",
    "call_decimals",
    "call_rounding",
    "max_cost",
    "timing",
    "weight",
)
# The prefix column's text for the empty prefix (every number), as CGRateS says.
ANY_PREFIX = tariff_terms.ANY
PRICE_COLUMNS = (
    "version",
    "effective_from",
    "sku",
    "region",
    "unit",
    "unit_price",
    "tier_mode",
    "tiers",
    "currency",
)
_TARIFF_REQUIRED = ("version", "effective_from", "prefix", "destination_group", "rate_per_minute")
_PRICE_REQUIRED = ("version", "effective_from", "sku")


@dataclass(frozen=True, slots=True)
class ParsedVersion(Generic[E]):
    """One version of a prices or tariffs file: its entries with their line numbers."""

    version_no: int
    effective_from: datetime
    first_line: int
    entries: list[tuple[int, E]]


@dataclass(frozen=True, slots=True)
class ParsedFile(Generic[E]):
    name: str
    versions: list[ParsedVersion[E]]  # by version number
    currency: str | None  # the `currency` column's one value, if any
    currency_line: int = 0  # the first line that gives it


def _text(name: str, lineno: int, row: dict[str, str], field: str, *, required: bool) -> str:
    value = _req(name, lineno, row, field) if required else row.get(field, "")
    # Files rerate writes escape a text that a spreadsheet would run as a
    # formula (kit/csvout.py); reading one back gives the original text.
    value = restore(value)
    if len(value) > TEXT_LIMITS[field]:
        raise FormatError(
            f"{_where(name, lineno, field)}: longer than {TEXT_LIMITS[field]} characters"
        )
    return value


def _amount(name: str, lineno: int, field: str, text: str) -> Decimal:
    """A price: a decimal >= 0 with at most 10 decimal places."""
    value = _dec(name, lineno, field, text)
    if not value.is_finite() or value < 0:
        raise FormatError(f"{_where(name, lineno, field)}: must be 0 or more: {text!r}")
    if value != value.quantize(Decimal(1).scaleb(-PRICE_SCALE)):
        raise FormatError(
            f"{_where(name, lineno, field)}: more than {PRICE_SCALE} decimal places: {text!r}"
        )
    if value > MAX_ROW_AMOUNT:
        raise FormatError(f"{_where(name, lineno, field)}: too large: {text!r}")
    return value


def _count(name: str, lineno: int, field: str, text: str, *, least: int) -> int:
    value = _int(name, lineno, field, text)
    if not least <= value <= 2**31 - 1:
        raise FormatError(f"{_where(name, lineno, field)}: must be {least} or more: {text!r}")
    return value


def _places(name: str, lineno: int, field: str, text: str) -> int | None:
    if text == "":
        return None
    value = _int(name, lineno, field, text)
    if not 0 <= value <= PRICE_SCALE:
        raise FormatError(f"{_where(name, lineno, field)}: must be 0 to {PRICE_SCALE}: {text!r}")
    return value


def _term(name: str, lineno: int, field: str, text: str, parse: Callable[[str], Any]) -> Any:
    try:
        return parse(text)
    except ValueError as exc:  # PlanError included
        raise FormatError(f"{_where(name, lineno, field)}: {exc}") from None


def _terms(name: str, lineno: int, row: dict[str, str]) -> dict[str, Any]:
    """The carrier-term fields of a tariff line (all optional)."""
    rounding = row.get("call_rounding", "")
    max_cost = row.get("max_cost", "")
    weight = row.get("weight", "")
    terms: dict[str, Any] = {
        "rate_groups": _term(
            name, lineno, "rate_groups", row.get("rate_groups", ""), tariff_terms.parse_rate_groups
        ),
        "increment_decimals": _places(
            name, lineno, "increment_decimals", row.get("increment_decimals", "")
        ),
        "call_decimals": _places(name, lineno, "call_decimals", row.get("call_decimals", "")),
        "call_rounding": (
            _term(name, lineno, "call_rounding", rounding, parse_rounding)
            if rounding
            else DEFAULT_ROUNDING
        ),
        "max_cost": _amount(name, lineno, "max_cost", max_cost) if max_cost else None,
        "timing": _term(name, lineno, "timing", row.get("timing", ""), tariff_terms.parse_timing),
        "weight": _int(name, lineno, "weight", weight) if weight else 0,
    }
    if terms["max_cost"] is not None and terms["max_cost"] <= 0:
        raise FormatError(
            f"{_where(name, lineno, 'max_cost')}: must be more than 0 (leave it empty for no cap)"
        )
    if not -(2**31) <= terms["weight"] <= 2**31 - 1:
        raise FormatError(f"{_where(name, lineno, 'weight')}: out of range: {weight!r}")
    return terms


def _tariff_entry(name: str, lineno: int, row: dict[str, str]) -> TariffEntry:
    prefix = _text(name, lineno, row, "prefix", required=True)
    if prefix == ANY_PREFIX:
        prefix = ""
    elif not (prefix.isascii() and prefix.isdigit()):
        raise FormatError(
            f"{_where(name, lineno, 'prefix')}: digits only (or {ANY_PREFIX}): {prefix!r}"
        )
    unanswered = row.get("charge_unanswered", "").lower()
    if unanswered not in _BOOLEAN:
        raise FormatError(
            f"{_where(name, lineno, 'charge_unanswered')}: true or false: {unanswered!r}"
        )
    try:
        return TariffEntry(
            id=_int(name, lineno, "id", row["id"]) if row.get("id") else lineno,
            prefix=prefix,
            destination_group=_text(name, lineno, row, "destination_group", required=True),
            rate_per_minute=_amount(
                name, lineno, "rate_per_minute", _req(name, lineno, row, "rate_per_minute")
            ),
            connect_fee=_amount(name, lineno, "connect_fee", row.get("connect_fee") or "0"),
            min_seconds=_count(name, lineno, "min_seconds", row.get("min_seconds") or "0", least=0),
            initial_increment=_count(
                name, lineno, "initial_increment", row.get("initial_increment") or "1", least=1
            ),
            subsequent_increment=_count(
                name,
                lineno,
                "subsequent_increment",
                row.get("subsequent_increment") or "1",
                least=1,
            ),
            band=_text(name, lineno, row, "band", required=False) or None,
            charge_unanswered=_BOOLEAN[unanswered],
            **_terms(name, lineno, row),
        )
    except PlanError as exc:  # a rule across fields (the rate groups' order)
        message = str(exc).split(": ", 1)[-1]
        raise FormatError(f"{_where(name, lineno, 'rate_groups')}: {message}") from None


def tariff_key(t: TariffEntry) -> tuple[Any, ...]:
    """What may not repeat within a version: prefix, band and timing."""
    return (t.prefix, t.band, None if t.timing is None else t.timing.key)


def _tariff_label(t: TariffEntry) -> tuple[str | None, ...]:
    """`tariff_key` as text for a duplicate's message (a timing by its
    condition: two names for one condition still clash)."""
    timing = None
    if t.timing is not None:
        timing = tariff_terms.format_timing(dataclasses.replace(t.timing, name=""))
    return (t.prefix or ANY_PREFIX, t.band, timing)


def uses_terms(t: TariffEntry) -> bool:
    """Whether writing `t` needs the carrier-term columns (or the *any prefix)."""
    return bool(
        t.rate_groups
        or t.increment_decimals is not None
        or t.call_decimals is not None
        or t.call_rounding is not DEFAULT_ROUNDING
        or t.max_cost is not None
        or t.timing is not None
        or t.weight
    )


def _price_entry(name: str, lineno: int, row: dict[str, str]) -> PriceEntry:
    mode_text = row.get("tier_mode") or "none"
    try:
        mode = TierMode(mode_text)
    except ValueError:
        raise FormatError(
            f"{_where(name, lineno, 'tier_mode')}: one of none, graduated, volume: {mode_text!r}"
        ) from None
    try:
        tiers = parse_tiers(row.get("tiers", ""))
    except (InvalidOperation, ValueError) as exc:
        raise FormatError(
            f"{_where(name, lineno, 'tiers')}: not like '0:0.10;1000:0.08' ({exc})"
        ) from None
    for tier in tiers:
        _amount(name, lineno, "tiers", str(tier.from_qty))
        _amount(name, lineno, "tiers", str(tier.unit_price))
    try:
        return PriceEntry(
            id=_int(name, lineno, "id", row["id"]) if row.get("id") else lineno,
            sku=_text(name, lineno, row, "sku", required=True),
            unit_price=_amount(name, lineno, "unit_price", row.get("unit_price") or "0"),
            region=_text(name, lineno, row, "region", required=False) or None,
            unit=_text(name, lineno, row, "unit", required=False),
            tier_mode=mode,
            tiers=tiers,
        )
    except PlanError as exc:  # the tier rules (first at 0, increasing, mode)
        message = str(exc).split(": ", 1)[-1]
        raise FormatError(f"{_where(name, lineno, 'tiers')}: {message}") from None


def tariff_from_fields(fields: dict[str, str]) -> TariffEntry:
    """One tariff entry from its fields as text, checked as a file line is."""
    return _tariff_entry("", 0, fields)


def price_from_fields(fields: dict[str, str]) -> PriceEntry:
    """One price entry from its fields as text, checked as a file line is."""
    return _price_entry("", 0, fields)


_BOOLEAN = {"": False, "0": False, "false": False, "no": False, "n": False}
_BOOLEAN.update({"1": True, "true": True, "yes": True, "y": True})


def _read(
    path: Path,
    name: str,
    required: tuple[str, ...],
    entry: Callable[[str, int, dict[str, str]], E],
    key: Callable[[E], tuple[str | None, ...]],
    what: str,
) -> ParsedFile[E]:
    versions: dict[int, ParsedVersion[E]] = {}
    seen: dict[tuple[int | str | None, ...], int] = {}
    currencies: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            raise FormatError(f"{name}: empty file")
        header = {f.strip() for f in reader.fieldnames if f}
        missing = [c for c in required if c not in header]
        if missing:
            raise FormatError(f"{name} line 1: missing column(s) {', '.join(missing)}")
        for lineno, raw in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
            no = _int(name, lineno, "version", _req(name, lineno, row, "version"))
            eff = _instant(
                name, lineno, "effective_from", _req(name, lineno, row, "effective_from")
            )
            version = versions.get(no)
            if version is None:
                version = versions[no] = ParsedVersion(no, eff, lineno, [])
            elif version.effective_from != eff:
                raise FormatError(
                    f"{_where(name, lineno, 'effective_from')}: differs within version {no} "
                    f"(line {version.first_line} says {version.effective_from.isoformat()})"
                )
            item = entry(name, lineno, row)
            k = key(item)
            first = seen.setdefault((no, *k), lineno)
            if first != lineno:
                label = " ".join(f"{v}" for v in k if v is not None)
                raise FormatError(
                    f"{name} line {lineno}: {what} {label} repeats line {first} (version {no})"
                )
            version.entries.append((lineno, item))
            if row.get("currency"):
                currencies.setdefault(row["currency"], lineno)
    if len(currencies) > 1:
        (c1, l1), (c2, l2) = sorted(currencies.items(), key=lambda kv: kv[1])[:2]
        raise FormatError(
            f"{name} line {l2}, field currency: {c2!r} differs from {c1!r} on line {l1}"
        )
    currency = next(iter(currencies), None)
    return ParsedFile(
        name,
        [versions[n] for n in sorted(versions)],
        currency,
        currencies[currency] if currency else 0,
    )


def read_tariffs(path: str | Path, *, name: str | None = None) -> ParsedFile[TariffEntry]:
    """A tariffs CSV, every line checked; errors name `name` (default: the
    path), the line and the field. Duplicates (same prefix and band within a
    version) name both lines.

    A deck may hold 200,000 prefixes: it is read columnar first (pyarrow, all
    text, each distinct value checked once by the same field checks as a
    line's); a file that is not plainly right there is read again line by
    line, which finds the first bad line and names it exactly."""
    p = Path(path)
    label = name or str(p)
    fast = _tariffs_columnar(p, label)
    if fast is not None:
        return fast
    return _read(
        p,
        label,
        _TARIFF_REQUIRED,
        _tariff_entry,
        _tariff_label,
        "prefix/band/timing",
    )


class _NotPlain(Exception):
    """The columnar reader does not vouch for this file: read it line by line."""


def _csv_table(path: Path) -> pa.Table | None:
    """The file's columns as text, named by the stripped header, or None
    where the line reader would read it differently (no header, an empty or
    repeated column name, a ragged line, not UTF-8)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        try:
            header = next(csv.reader(fh), None)
        except (UnicodeDecodeError, csv.Error):
            return None
    if not header:
        return None
    names = [h.strip() for h in header]
    if "" in names or len(set(names)) != len(names):
        return None
    try:
        return pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        return None


def _decoded(table: pa.Table, field: str, convert: Callable[[str], Any]) -> list[Any]:
    """`convert` of each row's stripped text in column `field` ("" when the
    file has no such column), called once per distinct value."""
    if field not in table.column_names:
        return [convert("")] * table.num_rows
    encoded = pc.dictionary_encode(table.column(field)).combine_chunks()
    values = [convert(v.strip()) for v in encoded.dictionary.to_pylist()]
    return [values[i] for i in encoded.indices.to_pylist()]


def _plain(check: Callable[..., Any], field: str, **kw: Any) -> Callable[[str], Any]:
    """A line's field check as a converter for `_decoded` (errors: `_NotPlain`)."""

    def convert(text: str) -> Any:
        try:
            return check("", 0, field, text, **kw)
        except (FormatError, ValueError, InvalidOperation):
            raise _NotPlain from None

    return convert


def _required(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def check(text: str) -> Any:
        if text == "":
            raise _NotPlain
        return convert(text)

    return check


def _text_value(field: str, *, required: bool) -> Callable[[str], str]:
    def convert(text: str) -> str:
        try:
            return _text("", 0, {field: text}, field, required=required)
        except FormatError:
            raise _NotPlain from None

    return convert


def _prefix_value(text: str) -> str:
    prefix = _text_value("prefix", required=True)(text)
    if not (prefix.isascii() and prefix.isdigit()):
        raise _NotPlain
    return prefix


def _prefixes(table: pa.Table) -> list[str]:
    """The prefix column: checked in one pass when every value is plain
    digits (what a deck holds), else value by value as a line's is."""
    column = table.column("prefix")
    plain = pc.match_substring_regex(column, f"^[0-9]{{1,{MAX_PREFIX_DIGITS}}}$")
    if pc.all(plain).as_py():
        return column.to_pylist()  # type: ignore[no-any-return]
    return _decoded(table, "prefix", _prefix_value)


def _boolean_value(text: str) -> bool:
    value = _BOOLEAN.get(text.lower())
    if value is None:
        raise _NotPlain
    return value


def _default(convert: Callable[[str], Any], default: str) -> Callable[[str], Any]:
    return lambda text: convert(text or default)


def _tariffs_columnar(path: Path, name: str) -> ParsedFile[TariffEntry] | None:
    """`read_tariffs` by columns; None where the line reader must decide."""
    table = _csv_table(path)
    if table is None or any(c not in table.column_names for c in _TARIFF_REQUIRED):
        return None
    for column in TARIFF_TERM_COLUMNS:
        # Carrier terms are the line reader's (decks that carry them are
        # CGRateS-sized, not 200,000 prefixes).
        if (
            column in table.column_names
            and pc.any(pc.not_equal(pc.utf8_trim_whitespace(table.column(column)), "")).as_py()
        ):
            return None
    try:
        numbers = _decoded(table, "version", _required(_plain(_int, "version")))
        instants = _decoded(table, "effective_from", _required(_plain(_instant, "effective_from")))
        ids = _decoded(table, "id", lambda t: None if t == "" else _plain(_int, "id")(t))
        prefixes = _prefixes(table)
        groups = _decoded(
            table, "destination_group", _text_value("destination_group", required=True)
        )
        rates = _decoded(table, "rate_per_minute", _required(_plain(_amount, "rate_per_minute")))
        fees = _decoded(table, "connect_fee", _default(_plain(_amount, "connect_fee"), "0"))
        mins = _decoded(table, "min_seconds", _default(_plain(_count, "min_seconds", least=0), "0"))
        firsts = _decoded(
            table, "initial_increment", _default(_plain(_count, "initial_increment", least=1), "1")
        )
        thens = _decoded(
            table,
            "subsequent_increment",
            _default(_plain(_count, "subsequent_increment", least=1), "1"),
        )
        bands = _decoded(table, "band", _text_value("band", required=False))
        unanswered = _decoded(table, "charge_unanswered", _boolean_value)
        currencies = _decoded(table, "currency", lambda t: t)
    except _NotPlain:
        return None
    rows = table.num_rows
    bands = [b or None for b in bands]
    if len(set(zip(numbers, instants, strict=True))) != len(set(numbers)):
        return None  # a version with two effective instants
    if len(set(zip(numbers, prefixes, bands, strict=True))) != rows:
        return None  # a repeated prefix/band
    linenos = range(2, rows + 2)
    # Every field passed the checks a line's does (its own and TariffEntry's),
    # once per distinct value: not again per row.
    entries = list(
        map(
            checked_tariff,
            [n if i is None else i for n, i in zip(linenos, ids, strict=True)],
            prefixes,
            groups,
            rates,
            fees,
            mins,
            firsts,
            thens,
            bands,
            unanswered,
        )
    )
    versions: dict[int, ParsedVersion[TariffEntry]] = {}
    for no in sorted(set(numbers)):
        first = numbers.index(no)
        versions[no] = ParsedVersion(no, instants[first], first + 2, [])
    if len(versions) == 1:
        versions[numbers[0]].entries.extend(zip(linenos, entries, strict=True))
    else:
        for lineno, no, entry in zip(linenos, numbers, entries, strict=True):
            versions[no].entries.append((lineno, entry))
    given = {c for c in currencies if c}
    if len(given) > 1:
        return None
    currency = next(iter(given), None)
    return ParsedFile(
        name,
        [versions[n] for n in sorted(versions)],
        currency,
        currencies.index(currency) + 2 if currency else 0,
    )


def read_prices(path: str | Path, *, name: str | None = None) -> ParsedFile[PriceEntry]:
    """A prices CSV, as `read_tariffs`; duplicates are the same sku and region."""
    p = Path(path)
    return _read(
        p, name or str(p), _PRICE_REQUIRED, _price_entry, lambda e: (e.sku, e.region), "sku/region"
    )


def _currency(name: str, parsed: ParsedFile[Any], currency: str | None) -> str:
    if parsed.currency:
        return parsed.currency
    if currency is None:
        raise FormatError(f"{name}: no currency column; pass --currency")
    return currency


def load_tariffs(path: str | Path, currency: str | None = None) -> PriceBook:
    """Tariff CSV: version,effective_from,prefix,destination_group,rate_per_minute
    [,connect_fee,min_seconds,initial_increment,subsequent_increment,band,
    charge_unanswered,currency,id]."""
    parsed = read_tariffs(path)
    versions = tuple(
        PriceBookVersion(
            v.version_no, v.version_no, v.effective_from, tariffs=tuple(e for _, e in v.entries)
        )
        for v in parsed.versions
    )
    return PriceBook(1, _currency(parsed.name, parsed, currency), versions)


def load_prices(path: str | Path, currency: str | None = None) -> PriceBook:
    """Price CSV: version,effective_from,sku,unit_price[,region,unit,tier_mode,
    tiers,currency,id]; tiers like '0:0.10;1000:0.08'."""
    parsed = read_prices(path)
    versions = tuple(
        PriceBookVersion(
            v.version_no, v.version_no, v.effective_from, prices=tuple(e for _, e in v.entries)
        )
        for v in parsed.versions
    )
    return PriceBook(1, _currency(parsed.name, parsed, currency), versions)


def tariff_columns_for(entries: Iterable[TariffEntry]) -> tuple[str, ...]:
    """The header a tariffs CSV of `entries` is written with: the carrier-term
    columns only when some entry uses them."""
    if any(uses_terms(t) for t in entries):
        return TARIFF_COLUMNS + TARIFF_TERM_COLUMNS
    return TARIFF_COLUMNS


def tariff_line(
    version_no: int, effective: datetime, currency: str, t: TariffEntry, *, terms: bool = False
) -> list[str]:
    """One line of a tariffs CSV (TARIFF_COLUMNS, then TARIFF_TERM_COLUMNS
    with `terms`)."""
    line = [
        str(version_no),
        format_instant(effective),
        t.prefix or ANY_PREFIX,
        t.destination_group,
        plain_decimal(t.rate_per_minute),
        plain_decimal(t.connect_fee),
        str(t.min_seconds),
        str(t.initial_increment),
        str(t.subsequent_increment),
        t.band or "",
        "true" if t.charge_unanswered else "false",
        currency,
    ]
    if terms:
        line += [
            tariff_terms.format_rate_groups(t.rate_groups),
            "" if t.increment_decimals is None else str(t.increment_decimals),
            "" if t.call_decimals is None else str(t.call_decimals),
            t.call_rounding.value,
            "" if t.max_cost is None else plain_decimal(t.max_cost),
            tariff_terms.format_timing(t.timing),
            str(t.weight),
        ]
    return line


def price_line(version_no: int, effective: datetime, currency: str, e: PriceEntry) -> list[str]:
    """One line of a prices CSV (PRICE_COLUMNS)."""
    return [
        str(version_no),
        format_instant(effective),
        e.sku,
        e.region or "",
        e.unit,
        plain_decimal(e.unit_price),
        e.tier_mode.value,
        format_tiers(e.tiers),
        currency,
    ]


def format_instant(value: datetime) -> str:
    """UTC, ISO 8601 with a Z, as the files write instants."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh, parse_float=Decimal)


def _json_where(path: str | Path, field: str) -> str:
    """`file line N, field F` for a top-level key of a JSON plan file: the line is
    the key's first occurrence (JSON parsers do not keep positions; these keys
    appear once in the files rerate reads)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return f"{path}, field {field}"
    at = text.find(f'"{field}"')
    if at < 0:
        return f"{path}, field {field}"
    return _where(path, text.count("\n", 0, at) + 1, field)


def _json_band(path: str | Path, data: Any, field: str = "default_band") -> str:
    value = data.get(field) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value.strip():
        shown = "null" if value is None else repr(value)
        raise FormatError(f"{_json_where(path, field)}: a band name is required, got {shown}")
    return value


def _json_zone(path: str | Path, data: dict[str, Any], field: str, default: str | None) -> str:
    value = data.get(field, default)
    try:
        check_zone(value, field)
    except PlanError:
        raise FormatError(
            f"{_json_where(path, field)}: unknown time zone {value!r} (an IANA name such as"
            " Europe/Paris)"
        ) from None
    assert isinstance(value, str)
    return value


def parse_rounding(value: Any) -> RoundingMode:
    """A rounding mode by its name; the error lists the names."""
    try:
        return RoundingMode(value)
    except ValueError:
        names = ", ".join(m.value for m in RoundingMode)
        raise ValueError(f"unknown rounding mode {value!r} (one of {names})") from None


def _d(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a decimal: {value!r}")
    return parse_decimal(str(value))


def _opt_d(value: Any) -> Decimal | None:
    return None if value is None else _d(value)


def _clock(text: str) -> time:
    return time.fromisoformat("00:00" if text == "24:00" else text)


def load_timetable(path: str | Path) -> Timetable:
    """JSON: {"tz", "default_band", "rules": [{"band", "weekdays", "start", "end",
    "priority"}], "holidays": [{"date", "band"}]}."""
    data = _json(path)
    if not isinstance(data, dict):
        raise FormatError(f"{path}: a timetable is a JSON object")
    tz = _json_zone(path, data, "tz", None)
    default_band = _json_band(path, data)
    try:
        return Timetable(
            id=int(data.get("id", 1)),
            tz=tz,
            default_band=default_band,
            rules=tuple(
                BandRule(
                    band=r["band"],
                    weekdays=frozenset(int(d) for d in r["weekdays"]),
                    start=_clock(r["start"]),
                    end=_clock(r["end"]),
                    priority=int(r.get("priority", 0)),
                )
                for r in data.get("rules", [])
            ),
            holidays=tuple(
                Holiday(date.fromisoformat(h["date"]), h["band"]) for h in data.get("holidays", [])
            ),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise FormatError(f"{path}: {type(exc).__name__}: {exc}") from None


def _tiers(items: Any) -> tuple[Tier, ...]:
    return tuple(Tier(_d(f), _d(p)) for f, p in (items or []))


def load_profiles(path: str | Path) -> tuple[ConsumptionProfile, ...]:
    """JSON list of {"id", "name", "unit", "account_ids", "included_quantity",
    "tier_mode", "tiers": [[from, price], ...], "scope_destination_group",
    "scope_sku", "period_fee"}."""
    data = _json(path)
    try:
        return tuple(
            ConsumptionProfile(
                id=int(p["id"]),
                name=p.get("name", f"profile {p['id']}"),
                unit=ProfileUnit(p.get("unit", "minutes")),
                account_ids=frozenset(int(a) for a in p["account_ids"]),
                included_quantity=_d(p.get("included_quantity", 0)),
                tier_mode=TierMode(p.get("tier_mode", "none")),
                tiers=_tiers(p.get("tiers")),
                scope_destination_group=p.get("scope_destination_group"),
                scope_sku=p.get("scope_sku"),
                period_fee=_opt_d(p.get("period_fee")),
            )
            for p in data
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise FormatError(f"{path}: {type(exc).__name__}: {exc}") from None


def _date(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(value)


def load_contract(path: str | Path) -> Contract:
    """JSON: {"id", "customer_id", "currency", "billing_tz", "rounding",
    "passthrough_unpriced", "rules": [...], "custom_line_items": [...]}."""
    data = _json(path)
    if not isinstance(data, dict):
        raise FormatError(f"{path}: a contract is a JSON object")
    billing_tz = _json_zone(path, data, "billing_tz", "UTC")
    try:
        rounding = parse_rounding(data.get("rounding", RoundingMode.HALF_UP.value))
    except ValueError as exc:
        raise FormatError(f"{_json_where(path, 'rounding')}: {exc}") from None
    try:
        return Contract(
            id=int(data.get("id", 1)),
            customer_id=int(data["customer_id"]),
            currency=data["currency"],
            billing_tz=billing_tz,
            rounding=rounding,
            passthrough_unpriced=bool(data.get("passthrough_unpriced", False)),
            rules=tuple(
                ContractRule(
                    id=int(r["id"]),
                    kind=RuleKind(r["kind"]),
                    order=int(r.get("order", 0)),
                    service=r.get("service"),
                    sku=r.get("sku"),
                    region=r.get("region"),
                    percent=_opt_d(r.get("percent")),
                    amount=_opt_d(r.get("amount")),
                    unit_price=_opt_d(r.get("unit_price")),
                    description=r.get("description", ""),
                )
                for r in data.get("rules", [])
            ),
            custom_line_items=tuple(
                CustomLineItem(
                    id=int(c["id"]),
                    description=c["description"],
                    amount=_d(c["amount"]),
                    one_off_date=_date(c.get("one_off_date")),
                    recurring_from=_date(c.get("recurring_from")),
                    recurring_to=_date(c.get("recurring_to")),
                )
                for c in data.get("custom_line_items", [])
            ),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise FormatError(f"{path}: {type(exc).__name__}: {exc}") from None


def load_ownership(path: str | Path) -> tuple[Ownership, ...]:
    """CSV: account_id,customer_id,valid_from[,valid_to] (instants with offsets)."""
    p = Path(path)
    out = []
    for lineno, row in _rows(p):
        valid_to = row.get("valid_to", "")
        out.append(
            Ownership(
                account_id=_int(p, lineno, "account_id", _req(p, lineno, row, "account_id")),
                customer_id=_int(p, lineno, "customer_id", _req(p, lineno, row, "customer_id")),
                valid_from=_instant(p, lineno, "valid_from", _req(p, lineno, row, "valid_from")),
                valid_to=_instant(p, lineno, "valid_to", valid_to) if valid_to else None,
            )
        )
    return tuple(out)


# The engine holds a quantity as an int64 count of 10**-places units (its own
# places, at most ROW_SCALE; rerate.rating.fixed): beyond that it cannot be
# rated exactly, so the loader says which line it is rather than the engine
# failing later without one.
_Q_LIMIT = 2**63 - 1


def _quantity(path: Path, lineno: int, field: str, text: str) -> Decimal:
    value = _dec(path, lineno, field, text)
    places = decimal_places(value)
    if places > ROW_SCALE:
        raise FormatError(
            f"{_where(path, lineno, field)}: {text!r} has more than {ROW_SCALE} decimal places"
        )
    if abs(value.scaleb(places)) > _Q_LIMIT:
        raise FormatError(
            f"{_where(path, lineno, field)}: {text!r} is beyond the engine's fixed point"
            " (its digits without the decimal point must stay below 2**63)"
        )
    return value


def _list_cost(path: Path, lineno: int, text: str) -> Decimal:
    value = _dec(path, lineno, "list_cost", text)
    if decimal_places(value) > ROW_SCALE:
        raise FormatError(
            f"{_where(path, lineno, 'list_cost')}: {text!r} has more than {ROW_SCALE}"
            " decimal places"
        )
    if abs(value) > MAX_ROW_AMOUNT:
        raise FormatError(
            f"{_where(path, lineno, 'list_cost')}: {text!r} is beyond the largest row"
            f" amount ({MAX_ROW_AMOUNT})"
        )
    return value


def _hash(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


def load_usage(
    path: str | Path, kind: UsageKind, numbering: NumberingRules | None = None
) -> pa.Table:
    """Canonical usage from Parquet (USAGE_SCHEMA) or from a simple CSV.

    CDR CSV: record_id,account_id,start,billable_seconds[,duration_seconds,
    destination|called_number,disposition]; `called_number` is normalised with
    `numbering`. Cloud CSV: record_id,account_id,usage_start,usage_end,sku,
    quantity[,service,region,unit,list_cost,currency].
    """
    p = Path(path)
    if p.suffix.lower() == ".parquet":
        table = pq.read_table(p)
        missing = [n for n in USAGE_SCHEMA.names if n not in table.column_names]
        if missing:
            raise FormatError(f"{p}: not canonical usage, missing columns {missing}")
        return table.select(USAGE_SCHEMA.names).cast(USAGE_SCHEMA)
    records: list[dict[str, Any]] = []
    for lineno, row in _rows(p):
        rid = _req(p, lineno, row, "record_id")
        base: dict[str, Any] = {
            "record_id": rid,
            "import_id": 0,
            "account_ref": row.get("account_id", ""),
            "account_id": _int(p, lineno, "account_id", _req(p, lineno, row, "account_id")),
        }
        if kind is UsageKind.CDR:
            start = _instant(p, lineno, "start", _req(p, lineno, row, "start"))
            billable = _int(p, lineno, "billable_seconds", row.get("billable_seconds") or "0")
            duration = _int(
                p, lineno, "duration_seconds", row.get("duration_seconds") or str(billable)
            )
            dest = row.get("destination", "")
            called = row.get("called_number", "")
            if not dest and called:
                if numbering is None:
                    raise FormatError(
                        f"{_where(p, lineno, 'called_number')}: pass --numbering or --country-code"
                    )
                # Not a number: destination stays empty, so the row is rated
                # invalid_destination (never dropped, never looked up); the
                # raw text stays in called_number.
                dest = normalise_or_none(called, numbering) or ""
            base.update(
                source=UsageSource.GENERIC_CDR.value,
                kind=UsageKind.CDR.value,
                usage_start=start,
                usage_end=start + timedelta(seconds=max(duration, 0)),
                called_number=called or dest,
                destination=dest or None,
                billable_seconds=billable,
                duration_seconds=duration,
                disposition=row.get("disposition") or ("ANSWERED" if billable > 0 else "NO ANSWER"),
            )
        else:
            start = _instant(p, lineno, "usage_start", _req(p, lineno, row, "usage_start"))
            end = _instant(p, lineno, "usage_end", row.get("usage_end") or row["usage_start"])
            cost = row.get("list_cost", "")
            base.update(
                source=UsageSource.API.value,
                kind=UsageKind.CLOUD.value,
                usage_start=start,
                usage_end=end,
                service=row.get("service") or None,
                sku=_req(p, lineno, row, "sku"),
                region=row.get("region") or None,
                quantity=_quantity(p, lineno, "quantity", _req(p, lineno, row, "quantity")),
                unit=row.get("unit") or None,
                list_cost=_list_cost(p, lineno, cost) if cost else None,
                currency=row.get("currency") or None,
            )
        base["content_hash"] = _hash(*sorted((k, v) for k, v in base.items() if k != "record_id"))
        records.append(base)
    return pa.Table.from_pylist(records, schema=USAGE_SCHEMA)
