"""File formats for the CLI: plan pieces as CSV/JSON, usage as Parquet or CSV.

The formats are documented with examples in docs/rating.md ("File formats").
Numbers are read as text and parsed with `Decimal`; JSON numbers are parsed
as Decimal too (`parse_float=Decimal`), so no value ever passes through a
float. Every error names the file, the line (CSV) and the field.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rerate.kit.money import RoundingMode, parse_decimal
from rerate.rating.e164 import InvalidNumber, NumberingRules, normalise
from rerate.rating.plan import (
    BandRule,
    ConsumptionProfile,
    Contract,
    ContractRule,
    CustomLineItem,
    Holiday,
    Ownership,
    PriceBook,
    PriceBookVersion,
    PriceEntry,
    ProfileUnit,
    RuleKind,
    TariffEntry,
    Tier,
    TierMode,
    Timetable,
)
from rerate.usage.schema import USAGE_SCHEMA, UsageKind, UsageSource


class FormatError(ValueError):
    """A malformed input file; the message says where."""


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            raise FormatError(f"{path}: empty file")
        for lineno, row in enumerate(reader, start=2):
            yield lineno, {k.strip(): (v or "").strip() for k, v in row.items() if k}


def _where(path: Path, lineno: int, field: str) -> str:
    return f"{path}:{lineno}: field {field!r}"


def _req(path: Path, lineno: int, row: dict[str, str], field: str) -> str:
    value = row.get(field, "")
    if value == "":
        raise FormatError(f"{_where(path, lineno, field)} is required")
    return value


def _dec(path: Path, lineno: int, field: str, text: str) -> Decimal:
    try:
        return parse_decimal(text)
    except (InvalidOperation, ValueError):
        raise FormatError(f"{_where(path, lineno, field)}: not a decimal: {text!r}") from None


def _int(path: Path, lineno: int, field: str, text: str) -> int:
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


def _instant(path: Path, lineno: int, field: str, text: str) -> datetime:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise FormatError(f"{_where(path, lineno, field)}: {exc}") from None


def _bool(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "y")


def parse_tiers(text: str) -> tuple[Tier, ...]:
    """'0:0.10;1000:0.08' -> tiers (from_qty:unit_price pairs)."""
    if not text.strip():
        return ()
    tiers = []
    for part in text.split(";"):
        frm, _, price = part.partition(":")
        tiers.append(Tier(parse_decimal(frm), parse_decimal(price)))
    return tuple(tiers)


def _versions(
    path: Path, rows: list[tuple[int, dict[str, str]]]
) -> dict[int, tuple[datetime, list[tuple[int, dict[str, str]]]]]:
    versions: dict[int, tuple[datetime, list[tuple[int, dict[str, str]]]]] = {}
    for lineno, row in rows:
        no = _int(path, lineno, "version", _req(path, lineno, row, "version"))
        eff = _instant(path, lineno, "effective_from", _req(path, lineno, row, "effective_from"))
        if no in versions and versions[no][0] != eff:
            raise FormatError(
                f"{_where(path, lineno, 'effective_from')}: differs within version {no}"
            )
        versions.setdefault(no, (eff, []))[1].append((lineno, row))
    return versions


def _currency(path: Path, rows: list[tuple[int, dict[str, str]]], currency: str | None) -> str:
    found = {row.get("currency", "") for _, row in rows} - {""}
    if len(found) > 1:
        raise FormatError(f"{path}: several currencies {sorted(found)}")
    if found:
        return found.pop()
    if currency is None:
        raise FormatError(f"{path}: no currency column; pass --currency")
    return currency


def load_tariffs(path: str | Path, currency: str | None = None) -> PriceBook:
    """Tariff CSV: version,effective_from,prefix,destination_group,rate_per_minute
    [,connect_fee,min_seconds,initial_increment,subsequent_increment,band,
    charge_unanswered,currency,id]."""
    p = Path(path)
    rows = list(_rows(p))
    versions = []
    for no, (eff, vrows) in sorted(_versions(p, rows).items()):
        entries = []
        for lineno, row in vrows:
            try:
                entries.append(
                    TariffEntry(
                        id=_int(p, lineno, "id", row["id"]) if row.get("id") else lineno,
                        prefix=_req(p, lineno, row, "prefix"),
                        destination_group=_req(p, lineno, row, "destination_group"),
                        rate_per_minute=_dec(
                            p, lineno, "rate_per_minute", _req(p, lineno, row, "rate_per_minute")
                        ),
                        connect_fee=_dec(p, lineno, "connect_fee", row.get("connect_fee") or "0"),
                        min_seconds=_int(p, lineno, "min_seconds", row.get("min_seconds") or "0"),
                        initial_increment=_int(
                            p, lineno, "initial_increment", row.get("initial_increment") or "1"
                        ),
                        subsequent_increment=_int(
                            p,
                            lineno,
                            "subsequent_increment",
                            row.get("subsequent_increment") or "1",
                        ),
                        band=row.get("band") or None,
                        charge_unanswered=_bool(row.get("charge_unanswered", "")),
                    )
                )
            except ValueError as exc:
                if isinstance(exc, FormatError):
                    raise
                raise FormatError(f"{p}:{lineno}: {exc}") from None
        versions.append(PriceBookVersion(no, no, eff, tariffs=tuple(entries)))
    return PriceBook(1, _currency(p, rows, currency), tuple(versions))


def load_prices(path: str | Path, currency: str | None = None) -> PriceBook:
    """Price CSV: version,effective_from,sku,unit_price[,region,unit,tier_mode,
    tiers,currency,id]; tiers like '0:0.10;1000:0.08'."""
    p = Path(path)
    rows = list(_rows(p))
    versions = []
    for no, (eff, vrows) in sorted(_versions(p, rows).items()):
        entries = []
        for lineno, row in vrows:
            try:
                mode = TierMode(row.get("tier_mode") or "none")
                entries.append(
                    PriceEntry(
                        id=_int(p, lineno, "id", row["id"]) if row.get("id") else lineno,
                        sku=_req(p, lineno, row, "sku"),
                        unit_price=_dec(p, lineno, "unit_price", row.get("unit_price") or "0"),
                        region=row.get("region") or None,
                        unit=row.get("unit", ""),
                        tier_mode=mode,
                        tiers=parse_tiers(row.get("tiers", "")),
                    )
                )
            except ValueError as exc:
                if isinstance(exc, FormatError):
                    raise
                raise FormatError(f"{p}:{lineno}: {exc}") from None
        versions.append(PriceBookVersion(no, no, eff, prices=tuple(entries)))
    return PriceBook(1, _currency(p, rows, currency), tuple(versions))


def _json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh, parse_float=Decimal)


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
    try:
        return Timetable(
            id=int(data.get("id", 1)),
            tz=data["tz"],
            default_band=data["default_band"],
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
    try:
        return Contract(
            id=int(data.get("id", 1)),
            customer_id=int(data["customer_id"]),
            currency=data["currency"],
            billing_tz=data.get("billing_tz", "UTC"),
            rounding=RoundingMode(data.get("rounding", RoundingMode.HALF_UP.value)),
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
                    raise FormatError(f"{_where(p, lineno, 'called_number')}: pass --country-code")
                try:
                    dest = normalise(called, numbering)
                except InvalidNumber:
                    dest = called  # kept as is: rated as invalid_destination, never dropped
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
                quantity=_dec(p, lineno, "quantity", _req(p, lineno, row, "quantity")),
                unit=row.get("unit") or None,
                list_cost=_dec(p, lineno, "list_cost", cost) if cost else None,
                currency=row.get("currency") or None,
            )
        base["content_hash"] = _hash(*sorted((k, v) for k, v in base.items() if k != "record_id"))
        records.append(base)
    return pa.Table.from_pylist(records, schema=USAGE_SCHEMA)
