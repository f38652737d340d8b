"""The Billing grid's computations over the daily rows (billing/daily_rows.py):
the comparable previous range, summary cards, chart series, facets, the
details of one row and the CSV export.

Everything here goes through daily_rows' public functions (`query_rows`,
`iter_rows`, `summarise`), so it reads exactly what the API's
`/billing/range` reads: the published runs of the customers the caller may
see, filtered the same way (docs/cloud-billing-grid.md).

The charts, the facets and the current range's cards come from ONE pass over
the range's daily rows (`overview`), streamed in batches and summed exactly
(Decimal); the previous range's cards are one `summarise` (summed in DuckDB).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pyarrow.compute as pc
import pyarrow.dataset as ds
from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.accounts.service import get_account
from rerate.auth.permissions import Permission
from rerate.billing import daily_rows, run_files
from rerate.billing.daily_rows import CurrencyTotal, RowQuery, RowScope
from rerate.kit.errors import Invalid, NotFound
from rerate.kit.periods import Month
from rerate.models import (
    BillingRun,
    ContractRule,
    PriceBook,
    PriceBookVersion,
    PriceEntry,
    Region,
    TariffEntry,
)
from rerate.models.contracts import Contract
from rerate.tenancy.service import get_customer

# --- ranges ---------------------------------------------------------------------------------


def whole_months(start: date, end: date) -> int | None:
    """The number of calendar months `[start, end)` spans when both ends are
    first days of a month, else None."""
    if start.day != 1 or end.day != 1:
        return None
    return (end.year - start.year) * 12 + end.month - start.month


def previous_range(start: date, end: date) -> tuple[date, date]:
    """The comparable range immediately before `[start, end)`, ending at `start`.

    Whole calendar months compare with the same number of whole months before
    (March 2026 with February 2026, 28 days; Q2 with Q1): a month is compared
    with a month, whatever its length. Any other range compares with the same
    number of days before it (Aug 10-19 with Jul 31-Aug 9)."""
    months = whole_months(start, end)
    if months is not None and months > 0:
        first = Month.of(start)
        for _ in range(months):
            first = first.previous()
        return first.first_day, start
    return start - (end - start), start


def month_span(first: Month, last: Month) -> tuple[date, date]:
    """`[first day of first, first day after last)`; 422 when last is before first."""
    if last < first:
        raise Invalid(f"the last month ({last}) is before the first ({first})", field="to")
    return first.first_day, last.next().first_day


# --- summary cards --------------------------------------------------------------------------

PERCENT = Decimal("0.1")


@dataclass(frozen=True, slots=True)
class Card:
    """One currency's totals over the selected range and the previous one."""

    currency: str
    current: CurrencyTotal
    previous: CurrencyTotal

    @property
    def change(self) -> Decimal:
        return self.current.net_amount - self.previous.net_amount

    @property
    def change_percent(self) -> Decimal | None:
        """Relative change of the net amount, rounded half-up to 0.1 %; None
        when the previous range billed nothing (no percentage of zero)."""
        if self.previous.net_amount == 0:
            return None
        ratio = self.change / abs(self.previous.net_amount) * 100
        return ratio.quantize(PERCENT, rounding=ROUND_HALF_UP)

    def as_dict(self) -> dict[str, Any]:
        pct = self.change_percent
        return {
            "currency": self.currency,
            "current": self.current.as_dict(),
            "previous": self.previous.as_dict(),
            "change": format(self.change, "f"),
            "change_percent": None if pct is None else format(pct, "f"),
        }


def _zero(currency: str) -> CurrencyTotal:
    return CurrencyTotal(currency, 0, 0, Decimal(0), Decimal(0))


def cards(current: Iterable[CurrencyTotal], previous: Iterable[CurrencyTotal]) -> list[Card]:
    """A card per currency present in either range (absent: zero)."""
    now = {t.currency: t for t in current}
    before = {t.currency: t for t in previous}
    return [
        Card(c, now.get(c, _zero(c)), before.get(c, _zero(c)))
        for c in sorted(set(now) | set(before))
    ]


@dataclass(frozen=True, slots=True)
class Comparison:
    start: date
    end: date
    previous_start: date
    previous_end: date
    cards: list[Card]

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "previous": {
                "start": self.previous_start.isoformat(),
                "end": self.previous_end.isoformat(),
            },
            "cards": [c.as_dict() for c in self.cards],
        }


def _previous_query(query: RowQuery) -> RowQuery:
    start, end = previous_range(query.start, query.end)
    # The previous range may cross the longest-range limit only by a month's
    # length difference; daily_rows checks it like any range.
    return replace(query, start=start, end=end, offset=0)


def compare(
    session: Session,
    scope: RowScope,
    query: RowQuery,
    current: Iterable[CurrencyTotal] | None = None,
) -> Comparison:
    """Cards for `query`'s range and the previous range, same filters.
    `current`: the range's totals when already computed (`overview`)."""
    previous = _previous_query(query)
    if current is None:
        current = daily_rows.summarise(session, scope, replace(query, monthly=False)).totals
    before = daily_rows.summarise(session, scope, replace(previous, monthly=False)).totals
    return Comparison(query.start, query.end, previous.start, previous.end, cards(current, before))


# --- one pass: totals, chart series and facets ----------------------------------------------

TOP_SERIES = 6  # stacked series shown; the rest is "Other"
TOP_ITEMS = 10  # top tenants / subscriptions
OTHER = "Other"
NONE_LABEL = "(none)"
DAILY_BUCKETS_UP_TO = 62  # days; longer ranges are charted by month


@dataclass(slots=True)
class Stacked:
    """Amounts per bucket and series (the series ordered by total, "Other" last)."""

    buckets: list[str]
    series: list[str]
    values: dict[tuple[str, str], Decimal]

    def value(self, bucket: str, series: str) -> Decimal:
        return self.values.get((bucket, series), Decimal(0))

    def bucket_total(self, bucket: str) -> Decimal:
        return sum((self.value(bucket, s) for s in self.series), Decimal(0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "buckets": self.buckets,
            "series": [
                {"name": s, "values": [format(self.value(b, s), "f") for b in self.buckets]}
                for s in self.series
            ],
        }


@dataclass(frozen=True, slots=True)
class Ranked:
    id: int
    label: str
    amount: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.label, "net_amount": format(self.amount, "f")}


@dataclass(slots=True)
class CurrencyCharts:
    currency: str
    by_service: Stacked
    by_region: Stacked
    top_customers: list[Ranked]
    top_accounts: list[Ranked]

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "by_service": self.by_service.as_dict(),
            "by_region": self.by_region.as_dict(),
            "top_tenants": [r.as_dict() for r in self.top_customers],
            "top_subscriptions": [r.as_dict() for r in self.top_accounts],
        }


@dataclass(slots=True)
class Facets:
    """The values seen in the range for the selected tenant/subscription,
    whatever the region, service and SKU filters: what those filters offer."""

    regions: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    skus: list[str] = field(default_factory=list)
    accounts: list[tuple[int, str]] = field(default_factory=list)


@dataclass(slots=True)
class Overview:
    bucket: str  # "day" or "month"
    totals: list[CurrencyTotal]
    charts: list[CurrencyCharts]
    facets: Facets


def bucket_of(start: date, end: date, monthly: bool) -> str:
    return "month" if monthly or (end - start).days > DAILY_BUCKETS_UP_TO else "day"


def _buckets(start: date, end: date, bucket: str) -> list[str]:
    if bucket == "month":
        return [str(m) for m in daily_rows.months_touched(start, end)]
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days)]


def _stack(buckets: list[str], sums: dict[str, dict[str, Decimal]]) -> Stacked:
    """`sums`: series -> bucket -> amount. The `TOP_SERIES - 1` largest series
    by total are kept when there are more than `TOP_SERIES`; the rest is summed
    into "Other"."""
    totals = {s: sum(b.values(), Decimal(0)) for s, b in sums.items()}
    order = sorted(totals, key=lambda s: (-totals[s], s))
    if len(order) > TOP_SERIES:
        kept, folded = order[: TOP_SERIES - 1], order[TOP_SERIES - 1 :]
    else:
        kept, folded = order, []
    values: dict[tuple[str, str], Decimal] = {}
    for s in kept:
        for b, v in sums[s].items():
            values[(b, s)] = v
    for s in folded:
        for b, v in sums[s].items():
            values[(b, OTHER)] = values.get((b, OTHER), Decimal(0)) + v
    return Stacked(buckets, kept + ([OTHER] if folded else []), values)


def _top(sums: dict[int, Decimal], labels: dict[int, str]) -> list[Ranked]:
    order = sorted(sums, key=lambda k: (-sums[k], labels.get(k, ""), k))
    return [Ranked(k, labels.get(k, f"#{k}"), sums[k]) for k in order[:TOP_ITEMS]]


def overview(session: Session, scope: RowScope, query: RowQuery) -> Overview:
    """Totals per currency, chart series and facets of `query`'s range, in one
    streamed pass over the daily rows of its tenant/subscription filters (the
    region, service and SKU filters are applied here, so the facets still
    list every value)."""
    wide = RowQuery(
        start=query.start,
        end=query.end,
        customer_ids=query.customer_ids,
        account_ids=query.account_ids,
        monthly=False,
    )
    bucket = bucket_of(query.start, query.end, query.monthly)
    regions, services, skus = set(query.regions), set(query.services), set(query.skus)
    seen_regions: set[str] = set()
    seen_services: set[str] = set()
    seen_skus: set[str] = set()
    accounts: dict[int, str] = {}
    customers: dict[int, str] = {}
    totals: dict[str, list[Any]] = {}
    by_service: dict[str, dict[str, dict[str, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    by_region: dict[str, dict[str, dict[str, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    top_c: dict[str, dict[int, Decimal]] = defaultdict(dict)
    top_a: dict[str, dict[int, Decimal]] = defaultdict(dict)
    for row in daily_rows.iter_rows(session, scope, wide):
        region, service, sku = row["region"], row["service"], row["sku"]
        if region is not None:
            seen_regions.add(region)
        if service is not None:
            seen_services.add(service)
        if sku is not None:
            seen_skus.add(sku)
        account = row["account"]
        accounts[account["id"]] = account["ref"] or f"#{account['id']}"
        if (
            (regions and region not in regions)
            or (services and service not in services)
            or (skus and sku not in skus)
        ):
            continue
        currency = row["currency"]
        net = Decimal(row["net_amount"])
        t = totals.setdefault(currency, [0, 0, Decimal(0), Decimal(0)])
        t[0] += 1
        t[1] += row["usage_rows"]
        t[2] += Decimal(row["list_amount"])
        t[3] += net
        b = row["day"] if bucket == "day" else row["day"][:7]
        s = by_service[currency][service or NONE_LABEL]
        s[b] = s.get(b, Decimal(0)) + net
        r = by_region[currency][region or NONE_LABEL]
        r[b] = r.get(b, Decimal(0)) + net
        customer = row["customer"]
        customers[customer["id"]] = customer["name"]
        tc = top_c[currency]
        tc[customer["id"]] = tc.get(customer["id"], Decimal(0)) + net
        ta = top_a[currency]
        ta[account["id"]] = ta.get(account["id"], Decimal(0)) + net
    buckets = _buckets(query.start, query.end, bucket)
    charts = [
        CurrencyCharts(
            currency,
            _stack(buckets, by_service[currency]),
            _stack(buckets, by_region[currency]),
            _top(top_c[currency], customers),
            _top(top_a[currency], accounts),
        )
        for currency in sorted(totals)
    ]
    return Overview(
        bucket,
        [CurrencyTotal(c, *totals[c]) for c in sorted(totals)],
        charts,
        Facets(
            sorted(seen_regions | regions),
            sorted(seen_services | services),
            sorted(seen_skus | skus),
            sorted(accounts.items(), key=lambda a: (a[1], a[0])),
        ),
    )


# --- the details of one row -----------------------------------------------------------------

USAGE_ROWS_SHOWN = 100


@dataclass(frozen=True, slots=True)
class RowKey:
    """A daily row's identity (daily_rows' row key): the grid links carry it."""

    customer_id: int
    account_id: int
    day: date
    kind: str
    currency: str
    service: str | None = None
    sku: str | None = None
    region: str | None = None
    band: str | None = None
    unit: str | None = None
    rules: str | None = None
    entry_id: int | None = None
    version_id: int | None = None

    def params(self) -> dict[str, str]:
        """Query parameters naming the row (None left out)."""
        out = {
            "customer_id": str(self.customer_id),
            "account_id": str(self.account_id),
            "day": self.day.isoformat(),
            "kind": self.kind,
            "currency": self.currency,
        }
        for name in ("service", "sku", "region", "band", "unit", "rules"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        for name in ("entry_id", "version_id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = str(value)
        return out

    @classmethod
    def of(cls, row: dict[str, Any]) -> RowKey:
        return cls(
            customer_id=row["customer"]["id"],
            account_id=row["account"]["id"],
            day=date.fromisoformat(row["day"]),
            kind=row["kind"],
            currency=row["currency"],
            service=row["service"],
            sku=row["sku"],
            region=row["region"],
            band=row["band"],
            unit=row["unit"],
            rules=row["rules"],
            entry_id=row["price_entry_id"],
            version_id=row["price_version_id"],
        )


def _matches(row: dict[str, Any], key: RowKey) -> bool:
    return RowKey.of(row) == key


def row_details(session: Session, scope: RowScope, key: RowKey) -> dict[str, Any]:
    """The daily row `key` names (404 when it is not a published row the caller
    may see), with its pricing, hosting, resource and usage rows."""
    # 404 for a customer or account outside the caller's scope, before reading.
    get_customer(session, scope.principal, key.customer_id, Permission.VIEW)
    account = get_account(session, scope.principal, key.account_id, Permission.VIEW)
    query = RowQuery(
        start=key.day,
        end=key.day + timedelta(days=1),
        customer_ids=(key.customer_id,),
        account_ids=(key.account_id,),
        regions=(key.region,) if key.region is not None else (),
        services=(key.service,) if key.service is not None else (),
        skus=(key.sku,) if key.sku is not None else (),
    )
    row = next((r for r in daily_rows.iter_rows(session, scope, query) if _matches(r, key)), None)
    if row is None:
        raise NotFound("no published billing row matches")
    run = session.get(BillingRun, row["run_id"])
    assert run is not None  # the row was read from its files
    region = (
        session.scalar(select(Region).where(Region.code == key.region))
        if key.region is not None
        else None
    )
    usage, usage_total = usage_rows(run, key)
    return {
        "row": row,
        "key": key.params(),
        "run": {"id": run.id, "period": run.period, "version": run.version, "status": run.status},
        "pricing": _pricing(session, run, key),
        "hosting": {
            "region": key.region,
            "region_name": region.name if region is not None else None,
            "platform": (region.platform if region is not None and region.platform else None)
            or account.platform
            or None,
        },
        "resource": {
            "kind": key.kind,
            "service": key.service,
            "sku": key.sku,
            "unit": key.unit,
            "band": key.band,
            "account": {
                "id": account.id,
                "ref": account.external_ref,
                "name": account.name,
                "kind": account.kind,
                "platform": account.platform or None,
            },
        },
        "usage_rows": usage,
        "usage_rows_total": usage_total,
    }


def _pricing(session: Session, run: BillingRun, key: RowKey) -> dict[str, Any]:
    entry: dict[str, Any] | None = None
    version_id = key.version_id
    if key.entry_id is not None:
        if key.kind == "cdr":
            tariff = session.get(TariffEntry, key.entry_id)
            if tariff is not None:
                version_id = version_id or tariff.version_id
                entry = {
                    "id": tariff.id,
                    "kind": "tariff",
                    "prefix": tariff.prefix,
                    "destination_group": tariff.destination_group,
                    "band": tariff.band,
                    "rate_per_minute": format(tariff.rate_per_minute, "f"),
                    "connect_fee": format(tariff.connect_fee, "f"),
                }
        else:
            price = session.get(PriceEntry, key.entry_id)
            if price is not None:
                version_id = version_id or price.version_id
                entry = {
                    "id": price.id,
                    "kind": "price",
                    "sku": price.sku,
                    "service": price.service,
                    "region": price.region,
                    "unit": price.unit,
                    "unit_price": format(price.unit_price, "f"),
                }
    version: dict[str, Any] | None = None
    if version_id is not None:
        v = session.get(PriceBookVersion, version_id)
        if v is not None:
            book = session.get(PriceBook, v.price_book_id)
            version = {
                "id": v.id,
                "version": v.version,
                "effective_from": v.effective_from.isoformat(),
                "price_book": {"id": book.id, "name": book.name} if book is not None else None,
            }
    return {
        "entry": entry,
        "price_book_version": version,
        "rules": rules_applied(session, run.customer_id, key.rules),
    }


def rules_applied(session: Session, customer_id: int, label: str | None) -> list[dict[str, Any]]:
    """The contract rules a row's provenance label names ("discount:7,override:3",
    rating/contract.py `rules_label`), looked up among the customer's contracts'
    rules; "passthrough" is the list price passed through."""
    out: list[dict[str, Any]] = []
    for part in (label or "").split(","):
        part = part.strip()
        if not part:
            continue
        kind, _, ident = part.partition(":")
        item: dict[str, Any] = {"label": part, "kind": kind, "rule": None}
        if ident.isdigit():
            rule = session.scalar(
                select(ContractRule)
                .join(Contract, Contract.id == ContractRule.contract_id)
                .where(ContractRule.id == int(ident), Contract.customer_id == customer_id)
            )
            if rule is not None:
                item["rule"] = {
                    "id": rule.id,
                    "contract_id": rule.contract_id,
                    "version": rule.version,
                    "kind": rule.kind,
                    "scope": {
                        "service": rule.scope_service,
                        "sku": rule.scope_sku,
                        "region": rule.scope_region,
                    },
                    "percent": None if rule.percent is None else format(rule.percent, "f"),
                    "amount": None if rule.amount is None else format(rule.amount, "f"),
                    "unit_price": None if rule.unit_price is None else format(rule.unit_price, "f"),
                    "description": rule.description,
                }
        out.append(item)
    return out


def _eq(name: str, value: str | None) -> Any:
    column = ds.field(name)
    return column.is_null() if value is None else column == value


def usage_rows(run: BillingRun, key: RowKey) -> tuple[list[dict[str, Any]], int]:
    """The rated usage rows summed into the daily row `key` (the first
    `USAGE_ROWS_SHOWN`, by start), and how many there are."""
    names = set(run_files.parts(run, "rated"))
    if not names:
        return [], 0

    def query(dataset: ds.Dataset) -> Any:
        present = set(dataset.schema.names)
        condition = (ds.field("account_id") == key.account_id) & (ds.field("day") == key.day)
        condition &= ds.field("kind") == key.kind
        for name, value in (
            ("service", key.service),
            ("item", key.sku),
            ("region", key.region),
            ("band", key.band),
            ("unit", key.unit),
            ("rules", key.rules),
        ):
            if name in present:
                condition &= _eq(name, value)
        if key.entry_id is not None and "entry_id" in present:
            condition &= ds.field("entry_id") == key.entry_id
        columns = [
            c
            for c in (
                "record_id",
                "usage_start",
                "usage_end",
                "status",
                "quantity",
                "billed_seconds",
                "list_amount",
                "net_amount",
                "prefix",
            )
            if c in present
        ]
        return dataset.to_table(columns=columns, filter=condition)

    table = run_files.scan_rated(run, query)
    total = table.num_rows
    if total > USAGE_ROWS_SHOWN:
        order = pc.sort_indices(table, sort_keys=[("usage_start", "ascending")])
        table = table.take(order[:USAGE_ROWS_SHOWN])
    else:
        table = table.sort_by([("usage_start", "ascending")])
    rows = []
    for r in table.to_pylist():
        rows.append(
            {
                "record_id": r["record_id"],
                "usage_start": r["usage_start"].isoformat(),
                "usage_end": r["usage_end"].isoformat(),
                "status": r.get("status"),
                "quantity": _text(r.get("quantity")),
                "billed_seconds": r.get("billed_seconds"),
                "list_amount": _text(r.get("list_amount")),
                "net_amount": _text(r.get("net_amount")),
            }
        )
    return rows, total


def _text(value: Any) -> str | None:
    return None if value is None else format(value, "f")


# --- CSV export -----------------------------------------------------------------------------

DAILY_CSV = (
    "day",
    "customer_id",
    "customer",
    "account_id",
    "account_ref",
    "account_name",
    "kind",
    "service",
    "sku",
    "region",
    "band",
    "unit",
    "rules",
    "price_entry_id",
    "price_version_id",
    "currency",
    "usage_rows",
    "quantity",
    "included_quantity",
    "list_amount",
    "net_amount",
    "run_id",
)
MONTHLY_CSV = (
    "period",
    "first_day",
    "last_day",
    "customer_id",
    "customer",
    "account_id",
    "account_ref",
    "account_name",
    "kind",
    "service",
    "sku",
    "region",
    "unit",
    "currency",
    "usage_rows",
    "quantity",
    "included_quantity",
    "list_amount",
    "net_amount",
    "run_ids",
)
# Cells written from numbers (ids, counts, decimals): never text a
# spreadsheet could take for a formula, so never prefixed ("-1.5" stays a number).
NUMERIC_CSV = frozenset(
    {
        "customer_id",
        "account_id",
        "price_entry_id",
        "price_version_id",
        "usage_rows",
        "quantity",
        "included_quantity",
        "list_amount",
        "net_amount",
        "run_id",
    }
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_BATCH = 2_000  # rows per chunk sent


def safe_cell(value: str) -> str:
    """Text a spreadsheet would evaluate ("=HYPERLINK(...)", "+1", "-2+3",
    "@SUM", a leading tab or carriage return) is prefixed with an apostrophe
    (OWASP "CSV injection"); everything else is written as it is."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _flat(row: dict[str, Any], monthly: bool) -> dict[str, Any]:
    out = {
        **row,
        "customer_id": row["customer"]["id"],
        "customer": row["customer"]["name"],
        "account_id": row["account"]["id"],
        "account_ref": row["account"]["ref"],
        "account_name": row["account"]["name"],
    }
    if monthly:
        out["run_ids"] = " ".join(str(i) for i in row["run_ids"])
    else:
        out["price_entry_id"] = row["price_entry_id"]
        out["price_version_id"] = row["price_version_id"]
    return out


def csv_cells(row: dict[str, Any], monthly: bool) -> list[str]:
    flat = _flat(row, monthly)
    cells = []
    for name in MONTHLY_CSV if monthly else DAILY_CSV:
        value = flat.get(name)
        if value is None:
            cells.append("")
        elif name in NUMERIC_CSV:
            cells.append(str(value))
        else:
            cells.append(safe_cell(str(value)))
    return cells


def csv_chunks(rows: Iterable[dict[str, Any]], monthly: bool) -> Iterator[bytes]:
    """The CSV, header first, `CSV_BATCH` rows per chunk (UTF-8, CRLF line
    ends as RFC 4180 says): memory stays at one chunk whatever the row count."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(MONTHLY_CSV if monthly else DAILY_CSV)
    pending = 0
    for row in rows:
        writer.writerow(csv_cells(row, monthly))
        pending += 1
        if pending >= CSV_BATCH:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode()


def export_rows(session: Session, scope: RowScope, query: RowQuery) -> Iterator[bytes]:
    """The CSV of every row `query` selects (its filters and sort; paging
    ignored). The query is checked and the files found before the first
    chunk is returned, so a bad filter is a 4xx, not a broken download."""
    rows = daily_rows.iter_rows(session, scope, query)
    first = next(rows, None)

    def chained() -> Iterator[dict[str, Any]]:
        if first is not None:
            yield first
            yield from rows

    return csv_chunks(chained(), query.monthly)
