"""The Billing grid's computations over the daily rows (billing/daily_rows.py):
the comparable previous range, summary cards, chart series, facets, the
details of one row and the CSV export.

Everything here goes through daily_rows' public functions (`query_rows`,
`iter_rows`, `summarise`), so it reads exactly what the API's
`/billing/range` reads: the published runs of the customers the caller may
see, filtered the same way (docs/cloud-billing.md, "Billing Page").

The charts, the facets and the current range's cards come from ONE pass over
the range's daily rows (`overview`), streamed in batches and summed exactly
(Decimal); the previous range's cards are one `summarise` (summed in DuckDB).
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.dataset as ds
from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.accounts.service import get_account
from rerate.auth.permissions import Permission
from rerate.billing import daily_rows, run_files
from rerate.billing.daily_rows import CurrencyTotal, RowQuery, RowScope
from rerate.kit import bounds
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
        index = start.year * 12 + start.month - 1 - months
        return date(index // 12, index % 12 + 1, 1), start
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
    before: Iterable[CurrencyTotal] = []
    if previous.start.year >= bounds.MIN_YEAR:  # nothing is billed before 1900
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


def _top(sums: dict[int, Decimal], labels: dict[int, str]) -> list[Ranked]:
    order = sorted(sums, key=lambda k: (-sums[k], labels.get(k, ""), k))
    return [Ranked(k, labels.get(k, f"#{k}"), sums[k]) for k in order[:TOP_ITEMS]]


# currency -> (id -> net amount, id -> label)
_Ranks = dict[str, tuple[dict[int, Decimal], dict[int, str]]]


@contextmanager
def _reader(session: Session, scope: RowScope, query: RowQuery) -> Iterator[Any]:
    """daily_rows' reader over the query's rows (DuckDB table `picked`, view
    `rows_view`), for the aggregations and the export, which run in DuckDB:
    summed and formatted there instead of row by row in Python (about 60 µs a
    row through `iter_rows`; a month of a large customer has 200,000 rows).

    `daily_rows.Reader` gives the same checks, scope and file list as
    `iter_rows`."""
    reader = daily_rows.Reader(session, scope, query)
    try:
        yield reader
    finally:
        reader.close()


def overview(session: Session, scope: RowScope, query: RowQuery) -> Overview:
    """Totals per currency, chart series and facets of `query`'s range, from
    the daily rows of its tenant/subscription filters, aggregated in DuckDB;
    the region, service and SKU filters are applied here, so the facets
    still list every value."""
    wide = RowQuery(
        start=query.start,
        end=query.end,
        customer_ids=query.customer_ids,
        account_ids=query.account_ids,
        monthly=False,
    )
    bucket = bucket_of(query.start, query.end, query.monthly)
    buckets = _buckets(query.start, query.end, bucket)
    with _reader(session, scope, wide) as reader:
        if reader.con is None:
            selected = Facets(sorted(query.regions), sorted(query.services), sorted(query.skus))
            return Overview(bucket, [], [], selected)
        con = reader.con

        def distinct(column: str) -> set[str]:
            rows = con.execute(
                f"SELECT DISTINCT {column} FROM picked WHERE {column} IS NOT NULL"
            ).fetchall()
            return {str(r[0]) for r in rows}

        accounts = con.execute("SELECT DISTINCT account_id, account_ref FROM picked").fetchall()
        facets = Facets(
            sorted(distinct("region") | set(query.regions)),
            sorted(distinct("service") | set(query.services)),
            sorted(distinct("item") | set(query.skus)),
            sorted(
                ((int(i), str(ref) if ref is not None else f"#{i}") for i, ref in accounts),
                key=lambda a: (a[1], a[0]),
            ),
        )
        where, params = ["TRUE"], []
        for column, values in (
            ("region", query.regions),
            ("service", query.services),
            ("item", query.skus),
        ):
            if values:
                where.append(f"list_contains(?::VARCHAR[], {column})")
                params.append(list(values))
        date_key = "strftime(day, '%Y-%m-%d')" if bucket == "day" else "period"
        con.execute(
            f"CREATE TEMP TABLE chosen AS SELECT *, {date_key} AS bucket FROM picked "
            f"WHERE {' AND '.join(where)}",
            params,
        )
        totals = [
            CurrencyTotal(str(c), int(n), int(r or 0), Decimal(la or 0), Decimal(na or 0))
            for c, n, r, la, na in con.execute(
                "SELECT currency, COUNT(*), SUM(rows), SUM(list_amount), SUM(net_amount) "
                "FROM chosen GROUP BY currency ORDER BY currency"
            ).fetchall()
        ]

        def series(column: str) -> dict[str, Stacked]:
            # The TOP_SERIES - 1 largest series by total (all when there are at
            # most TOP_SERIES) and "Other" for the rest, folded in DuckDB: a
            # region per rack can mean thousands of series.
            rows = con.execute(
                f"""
                WITH totals AS (
                    SELECT currency, COALESCE({column}, ?) AS name, SUM(net_amount) AS total
                    FROM chosen GROUP BY ALL
                ), ranked AS (
                    SELECT currency, name,
                           row_number() OVER (PARTITION BY currency ORDER BY total DESC, name)
                               AS rank,
                           COUNT(*) OVER (PARTITION BY currency) AS n
                    FROM totals
                )
                SELECT c.currency,
                       CASE WHEN r.n > ? AND r.rank >= ? THEN ? ELSE r.name END AS series,
                       MIN(r.rank) AS rank, c.bucket, SUM(c.net_amount)
                FROM chosen c
                JOIN ranked r ON r.currency = c.currency AND r.name = COALESCE(c.{column}, ?)
                GROUP BY ALL
                """,
                [NONE_LABEL, TOP_SERIES, TOP_SERIES, OTHER, NONE_LABEL],
            ).fetchall()
            ranks: dict[str, dict[str, int]] = defaultdict(dict)
            values: dict[str, dict[tuple[str, str], Decimal]] = defaultdict(dict)
            for currency, name, rank, b, amount in rows:
                known = ranks[currency].get(name)
                ranks[currency][name] = rank if known is None else min(known, rank)
                values[currency][(b, name)] = Decimal(amount)
            return {
                c: Stacked(buckets, sorted(ranks[c], key=lambda s: ranks[c][s]), values[c])
                for c in ranks
            }

        def ranked(
            id_column: str, label: str
        ) -> dict[str, tuple[dict[int, Decimal], dict[int, str]]]:
            out: dict[str, tuple[dict[int, Decimal], dict[int, str]]] = {}
            for currency, ident, name, amount in con.execute(
                f"SELECT currency, {id_column}, any_value({label}), SUM(net_amount) AS total "
                f"FROM chosen GROUP BY currency, {id_column} QUALIFY row_number() OVER "
                f"(PARTITION BY currency ORDER BY total DESC, any_value({label}), {id_column}) "
                "<= ?",
                [TOP_ITEMS],
            ).fetchall():
                sums, labels = out.setdefault(currency, ({}, {}))
                sums[int(ident)] = Decimal(amount)
                labels[int(ident)] = str(name) if name is not None else f"#{ident}"
            return out

        by_service, by_region = series("service"), series("region")
        top_c = ranked("customer_id", "customer_name")
        top_a = ranked("account_id", "account_ref")
    charts = [
        CurrencyCharts(
            t.currency,
            by_service.get(t.currency, Stacked(buckets, [], {})),
            by_region.get(t.currency, Stacked(buckets, [], {})),
            _top(*top_c.get(t.currency, ({}, {}))),
            _top(*top_a.get(t.currency, ({}, {}))),
        )
        for t in totals
    ]
    return Overview(bucket, totals, charts, facets)


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
CSV_BATCH = 5_000  # rows per chunk sent


def safe_cell(value: str) -> str:
    """Text a spreadsheet would evaluate ("=HYPERLINK(...)", "+1", "-2+3",
    "@SUM", a leading tab or carriage return) is prefixed with an apostrophe
    (OWASP "CSV injection"); everything else is written as it is."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _safe_sql(column: str) -> str:
    """`safe_cell` in SQL, for the export that DuckDB formats."""
    return (
        f"CASE WHEN left({column}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) "
        f"THEN '''' || {column} ELSE {column} END"
    )


# CSV column -> the SQL over rows_view that fills it (text made safe).
_DAILY_SQL = {
    "day": "day",
    "customer_id": "customer_id",
    "customer": _safe_sql("customer_name"),
    "account_id": "account_id",
    "account_ref": _safe_sql("account_ref"),
    "account_name": _safe_sql("account_name"),
    "kind": _safe_sql("kind"),
    "service": _safe_sql("service"),
    "sku": _safe_sql("item"),
    "region": _safe_sql("region"),
    "band": _safe_sql("band"),
    "unit": _safe_sql("unit"),
    "rules": _safe_sql("rules"),
    "price_entry_id": "entry_id",
    "price_version_id": "version_id",
    "currency": _safe_sql("currency"),
    "usage_rows": "rows",
    "quantity": "quantity",
    "included_quantity": "included_quantity",
    "list_amount": "list_amount",
    "net_amount": "net_amount",
    "run_id": "run_id",
}
_MONTHLY_SQL = {
    "period": "period",
    "first_day": "first_day",
    "last_day": "last_day",
    **{
        k: v
        for k, v in _DAILY_SQL.items()
        if k not in ("day", "band", "rules", "price_entry_id", "price_version_id", "run_id")
    },
    "run_ids": "array_to_string(list_sort(list_transform(string_split(run_ids, ','), "
    "x -> CAST(x AS BIGINT))), ' ')",
}


def export_rows(session: Session, scope: RowScope, query: RowQuery) -> Iterator[bytes]:
    """The CSV of every row `query` selects (its filters and its sort, the
    grid's order; paging ignored): UTF-8, a header, CRLF line ends (RFC 4180),
    `CSV_BATCH` rows a chunk, formatted by DuckDB and Arrow. Python holds a
    chunk at a time whatever the row count.

    The query is checked and its files found before the first chunk is
    returned, so a bad filter or an id outside the caller's scope is a 4xx
    (or 404), never a broken download."""
    columns = MONTHLY_CSV if query.monthly else DAILY_CSV
    header = ",".join(columns).encode() + b"\r\n"
    reader = daily_rows.Reader(session, scope, query)
    if reader.con is None:
        reader.close()
        return iter([header])
    try:
        sql = _MONTHLY_SQL if query.monthly else _DAILY_SQL
        order = reader.select_sql().split(" ORDER BY ", 1)[1]
        select = ", ".join(f"{sql[c]} AS {c}" for c in columns)
        batches = reader.con.execute(
            f"SELECT {select} FROM rows_view ORDER BY {order}"
        ).to_arrow_reader(CSV_BATCH)
    except BaseException:
        reader.close()
        raise

    def chunks() -> Iterator[bytes]:
        try:
            yield header
            options = pa_csv.WriteOptions(include_header=False, quoting_style="needed", eol="\r\n")
            for batch in batches:
                buffer = io.BytesIO()
                pa_csv.write_csv(batch, buffer, options)
                yield buffer.getvalue()
        finally:
            reader.close()

    return chunks()
