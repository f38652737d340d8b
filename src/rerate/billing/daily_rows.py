"""Daily billing rows as data: a query layer over the published runs' files.

A billing run (billing/runs.py) writes its daily rows as Parquet parts
(`daily/part-*.parquet`); this module reads them with DuckDB, for the API
(`GET /api/v1/billing/range`, `/billing/yearmonth/{yyyy-MM}`), the CLI
(`rerate billing rows`) and, later, the Billing grid and its CSV export.

What is read:

* Only the *current* (published) run of each (customer, period): a dry run,
  a computed-but-unpublished run or a superseded version is never shown. The
  rows are therefore exactly what the customer is billed; they follow the
  `UseOverlapUsageSelection` setting that was in force when that run was
  computed. Changing the setting changes nothing here until the period is
  recalculated (the stale list reports it: billing/stale.py, "selection").
* Only the customers the caller may see (`Permission.VIEW` subtree); a
  customer or account id given as a filter outside it answers 404.
* Days are the customer's *billing days*: local dates in the billing time
  zone of its contract (rating/selection.py `billing_day`). A range is
  half-open, `[start, end)`: `start` included, `end` (the day after the last
  day) excluded. A daily row always lies in its run's period, so the runs read
  are those of the months the range touches.

Amounts keep the run's full scale (DECIMAL(38, 10), summed exactly in DuckDB)
and reach JSON as decimal strings; rounding to the minor unit happens on the
invoice, not here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.accounts.service import get_account
from rerate.auth.permissions import Permission, Principal
from rerate.billing import run_files
from rerate.kit.errors import Invalid
from rerate.kit.periods import Month
from rerate.models import Account, AccountOwnership, BillingRun, CurrentRun, Node
from rerate.models.enums import NodeKind
from rerate.tenancy.service import get_customer, in_scope

MAX_RANGE_DAYS = 366
"""The longest range read (or generated) at once: a year, leap day included."""

MAX_LIMIT = 1000
"""The largest page; `iter_rows` streams any number of rows."""


def check_range(start: date, end: date, *, max_days: int = MAX_RANGE_DAYS) -> None:
    """422 naming the parameter: `end` after `start`, at most `max_days` apart."""
    if end <= start:
        raise Invalid(
            f"end ({end}) must be after start ({start}): ranges are half-open, "
            "end is the day after the last day",
            field="end",
        )
    if (end - start).days > max_days:
        raise Invalid(
            f"end: the range {start} to {end} is {(end - start).days} days; at most "
            f"{max_days} can be read or generated at once",
            field="end",
        )


def months_touched(start: date, end: date) -> list[Month]:
    """The calendar months holding a day of `[start, end)`."""
    months = [Month.of(start)]
    last = Month.of(end - timedelta(days=1))
    while months[-1] < last:
        months.append(months[-1].next())
    return months


def month_range(month: Month) -> tuple[date, date]:
    """`[first day, first day of the next month)`."""
    return month.first_day, month.next().first_day


# Sortable columns: API name -> SQL expression (of the daily or monthly rows).
_SORTS = {
    "day": "day",
    "period": "period",
    "customer": "customer_name",
    "customer_id": "customer_id",
    "account": "account_ref",
    "account_id": "account_id",
    "kind": "kind",
    "service": "service",
    "sku": "item",
    "region": "region",
    "unit": "unit",
    "rows": "rows",
    "quantity": "quantity",
    "list_amount": "list_amount",
    "net_amount": "net_amount",
}
SORT_KEYS = tuple(_SORTS)
_SORT_RE = re.compile(r"^-?[a-z_]+$")


@dataclass(frozen=True, slots=True)
class RowQuery:
    """What to read. `start`/`end`: billing days, half-open. `monthly`: one
    row per (customer, account, month, kind, service, sku, region, unit,
    currency) instead of per day (partial months sum the days inside the range).
    `sort`: comma-separated `SORT_KEYS`, `-` for descending."""

    start: date
    end: date
    customer_ids: tuple[int, ...] = ()
    account_ids: tuple[int, ...] = ()
    regions: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()
    monthly: bool = False
    sort: str = ""
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class RowScope:
    """Whose rows a caller may read: the visible customers (id -> name) and
    where the runs live."""

    principal: Principal
    data_dir: Path
    customers: dict[int, str]


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A published run whose files are missing or damaged: its rows are left
    out of the answer (which says so) rather than failing the whole read."""

    customer_id: int
    period: str
    run_id: int
    problem: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "period": self.period,
            "run_id": self.run_id,
            "problem": self.problem,
        }


@dataclass(frozen=True, slots=True)
class RowPage:
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int
    unreadable: list[Unreadable] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CurrencyTotal:
    currency: str
    lines: int  # daily (or monthly) rows
    usage_rows: int  # rated usage rows summed into them
    list_amount: Decimal
    net_amount: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "lines": self.lines,
            "usage_rows": self.usage_rows,
            "list_amount": format(self.list_amount, "f"),
            "net_amount": format(self.net_amount, "f"),
        }


@dataclass(frozen=True, slots=True)
class Summary:
    start: date
    end: date
    totals: list[CurrencyTotal]
    unreadable: list[Unreadable] = field(default_factory=list)


def scope_for(session: Session, principal: Principal, data_dir: Path) -> RowScope:
    """The customers `principal` may view (their daily rows are readable)."""
    rows = session.execute(
        select(Node.id, Node.name).where(
            Node.kind == NodeKind.CUSTOMER.value,
            in_scope(principal.scope_paths(Permission.VIEW)),
        )
    )
    return RowScope(principal, Path(data_dir), {int(i): str(n) for i, n in rows})


def _check(session: Session, scope: RowScope, query: RowQuery) -> None:
    check_range(query.start, query.end)
    if not 1 <= query.limit <= MAX_LIMIT:
        raise Invalid(f"limit must be 1 to {MAX_LIMIT}", field="limit")
    if query.offset < 0:
        raise Invalid("offset must be 0 or more", field="offset")
    for customer_id in query.customer_ids:
        # 404 outside the caller's subtree (and for a node that is no customer).
        get_customer(session, scope.principal, customer_id, Permission.VIEW)
    for account_id in query.account_ids:
        get_account(session, scope.principal, account_id, Permission.VIEW)
    _order_by(query)  # refuses an unknown sort key before any file is read


def _order_by(query: RowQuery) -> str:
    terms: list[str] = []
    for raw in (t.strip() for t in query.sort.split(",")):
        if not raw:
            continue
        key = raw.lstrip("-")
        if not _SORT_RE.match(raw) or key not in _SORTS:
            raise Invalid(
                f"sort: unknown column {raw[:40]!r}; one of {', '.join(SORT_KEYS)} "
                "(prefix - for descending)",
                field="sort",
            )
        if key == ("day" if query.monthly else "period"):
            key = "period" if query.monthly else "day"  # the two modes' date column
        terms.append(f"{_SORTS[key]} {'DESC' if raw.startswith('-') else 'ASC'} NULLS LAST")
    # Ties always end in the row's whole key, so pages never overlap or skip.
    date_column = "period" if query.monthly else "day"
    terms += [
        f"{date_column} ASC",
        "customer_id ASC",
        "account_id ASC",
        "kind ASC",
        "service ASC NULLS FIRST",
        "item ASC NULLS FIRST",
        "region ASC NULLS FIRST",
        "unit ASC NULLS FIRST",
        "currency ASC",
    ]
    if not query.monthly:
        terms += [
            "band ASC NULLS FIRST",
            "rules ASC NULLS FIRST",
            "version_id ASC NULLS FIRST",
            "entry_id ASC NULLS FIRST",
        ]
    return ", ".join(terms)


@dataclass
class _Files:
    paths: list[str]
    runs: pa.Table  # filename -> run_id, period
    unreadable: list[Unreadable]


def _published_files(session: Session, scope: RowScope, query: RowQuery) -> _Files:
    """The daily part files of the current runs of the visible customers (the
    filtered ones) for the months the range touches."""
    periods = [str(m) for m in months_touched(query.start, query.end)]
    customer_ids = (
        sorted(set(query.customer_ids) & set(scope.customers))
        if query.customer_ids
        else sorted(scope.customers)
    )
    stmt = (
        select(BillingRun)
        .join(CurrentRun, CurrentRun.run_id == BillingRun.id)
        .where(CurrentRun.period.in_(periods))
    )
    if query.customer_ids:
        stmt = stmt.where(CurrentRun.customer_id.in_(customer_ids))
    else:
        # The scope as a join, not a list of ids: a platform caller sees every customer.
        stmt = stmt.join(Node, Node.id == CurrentRun.customer_id).where(
            in_scope(scope.principal.scope_paths(Permission.VIEW))
        )
    paths: list[str] = []
    names: list[str] = []
    run_ids: list[int] = []
    run_periods: list[str] = []
    unreadable: list[Unreadable] = []
    for run in session.scalars(stmt.order_by(BillingRun.customer_id, BillingRun.period)):
        found = run_files.problems(run)
        names_of_run = run_files.parts(run, "daily") if not found else []
        if found or not names_of_run:
            problem = (
                found[0]
                if found
                else f"{run_files.relative_name(Path(run.path))} has no daily rows"
            )
            unreadable.append(Unreadable(run.customer_id, run.period, run.id, problem))
            continue
        for name in names_of_run:
            path = str(Path(run.path) / name)
            paths.append(path)
            names.append(path)
            run_ids.append(run.id)
            run_periods.append(run.period)
    runs = pa.table(
        {
            "filename": pa.array(names, pa.string()),
            "run_id": pa.array(run_ids, pa.int64()),
            "run_period": pa.array(run_periods, pa.string()),
        }
    )
    return _Files(paths, runs, unreadable)


def _names(session: Session, scope: RowScope, query: RowQuery) -> tuple[pa.Table, pa.Table]:
    """Customer names and account references, joined onto the rows (and sortable)."""
    ids = sorted(set(query.customer_ids) or set(scope.customers))
    customers = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": pa.array([scope.customers.get(i, f"#{i}") for i in ids], pa.string()),
        }
    )
    if query.customer_ids:
        owned = select(AccountOwnership.account_id).where(AccountOwnership.customer_id.in_(ids))
    else:
        # The scope as a join, not a list of every visible customer's id.
        owned = (
            select(AccountOwnership.account_id)
            .join(Node, Node.id == AccountOwnership.customer_id)
            .where(in_scope(scope.principal.scope_paths(Permission.VIEW)))
        )
    accounts = session.execute(
        select(Account.id, Account.external_ref, Account.name).where(Account.id.in_(owned))
    ).all()
    return customers, pa.table(
        {
            "id": pa.array([a[0] for a in accounts], pa.int64()),
            "ref": pa.array([a[1] for a in accounts], pa.string()),
            "name": pa.array([a[2] for a in accounts], pa.string()),
        }
    )


_DAILY_COLUMNS = (
    "customer_id, customer_name, account_id, account_ref, account_name, day, kind, service, "
    "item, region, band, unit, rules, entry_id, version_id, currency, rows, quantity, "
    "included_quantity, list_amount, net_amount, run_id"
)
_MONTHLY_GROUP = (
    "customer_id, customer_name, account_id, account_ref, account_name, period, kind, service, "
    "item, region, unit, currency"
)


class Reader:
    """One DuckDB connection over the files, with the filtered rows as the view
    `picked` (daily) or `monthly`."""

    def __init__(self, session: Session, scope: RowScope, query: RowQuery) -> None:
        _check(session, scope, query)
        self.query = query
        self.files = _published_files(session, scope, query)
        self.con: duckdb.DuckDBPyConnection | None = None
        if not self.files.paths:
            return
        customers, accounts = _names(session, scope, query)
        con = duckdb.connect(":memory:")
        con.register("customer_names", customers)
        con.register("account_names", accounts)
        con.register("run_files", self.files.runs)
        where = ["d.day >= ?", "d.day < ?"]
        params: list[Any] = [query.start, query.end]
        for column, values in (
            ("d.customer_id", query.customer_ids),
            ("d.account_id", query.account_ids),
            ("d.region", query.regions),
            ("d.service", query.services),
            ("d.item", query.skus),
        ):
            if values:
                typ = "BIGINT[]" if column.endswith("_id") else "VARCHAR[]"
                where.append(f"list_contains(?::{typ}, {column})")
                params.append(list(values))
        # `read_parquet` over an explicit file list (the manifest's), never a glob:
        # a stray file in a run directory is not billing.
        files = ", ".join(_quote(p) for p in self.files.paths)
        con.execute(
            f"""
            CREATE TEMP TABLE picked AS
            SELECT d.customer_id, c.name AS customer_name, d.account_id,
                   a.ref AS account_ref, a.name AS account_name, d.day,
                   strftime(d.day, '%Y-%m') AS period,
                   d.kind, d.service, d.item, d.region, d.band, d.unit, d.rules,
                   d.entry_id, d.version_id, d.currency, d.rows,
                   CAST(d.quantity AS DECIMAL(38, 10)) AS quantity,
                   CAST(d.included_quantity AS DECIMAL(38, 10)) AS included_quantity,
                   CAST(d.list_amount AS DECIMAL(38, 10)) AS list_amount,
                   CAST(d.net_amount AS DECIMAL(38, 10)) AS net_amount,
                   f.run_id
            FROM read_parquet([{files}], union_by_name = true, filename = true) d
            JOIN run_files f ON f.filename = d.filename
            LEFT JOIN customer_names c ON c.id = d.customer_id
            LEFT JOIN account_names a ON a.id = d.account_id
            WHERE {" AND ".join(where)}
            """,
            params,
        )
        if query.monthly:
            con.execute(
                f"""
                CREATE TEMP VIEW rows_view AS
                SELECT {_MONTHLY_GROUP}, SUM(rows) AS rows,
                       SUM(quantity) AS quantity, SUM(included_quantity) AS included_quantity,
                       SUM(list_amount) AS list_amount, SUM(net_amount) AS net_amount,
                       MIN(day) AS first_day, MAX(day) AS last_day,
                       string_agg(DISTINCT CAST(run_id AS VARCHAR), ',') AS run_ids
                FROM picked GROUP BY {_MONTHLY_GROUP}
                """
            )
        else:
            con.execute("CREATE TEMP VIEW rows_view AS SELECT * FROM picked")
        self.con = con

    def close(self) -> None:
        if self.con is not None:
            self.con.close()

    def select_sql(self) -> str:
        columns = _MONTHLY_COLUMNS if self.query.monthly else _DAILY_COLUMNS
        return f"SELECT {columns} FROM rows_view ORDER BY {_order_by(self.query)}"


_MONTHLY_COLUMNS = (
    f"{_MONTHLY_GROUP}, rows, quantity, included_quantity, list_amount, net_amount, "
    "first_day, last_day, run_ids"
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _row(columns: Sequence[str], values: Sequence[Any], monthly: bool) -> dict[str, Any]:
    row = dict(zip(columns, values, strict=True))
    out: dict[str, Any] = {
        "customer": {"id": row["customer_id"], "name": row["customer_name"]},
        "account": {
            "id": row["account_id"],
            "ref": row["account_ref"],
            "name": row["account_name"],
        },
    }
    if monthly:
        out["period"] = row["period"]
        out["first_day"] = row["first_day"].isoformat()
        out["last_day"] = row["last_day"].isoformat()
    else:
        out["day"] = row["day"].isoformat()
    out.update(
        {
            "kind": row["kind"],
            "service": row["service"],
            "sku": row["item"],
            "region": row["region"],
            "unit": row["unit"],
        }
    )
    if not monthly:
        out.update(
            {
                "band": row["band"],
                "rules": row["rules"],
                "price_entry_id": row["entry_id"],
                "price_version_id": row["version_id"],
            }
        )
    out.update(
        {
            "currency": row["currency"],
            "usage_rows": int(row["rows"]),
            "quantity": _text(row["quantity"]),
            "included_quantity": _text(row["included_quantity"]),
            "list_amount": _text(row["list_amount"]),
            "net_amount": _text(row["net_amount"]),
        }
    )
    if monthly:
        out["run_ids"] = sorted(int(i) for i in row["run_ids"].split(","))
    else:
        out["run_id"] = row["run_id"]
    return out


def _text(value: Any) -> str:
    """Fixed-point decimal text ("0.0000000000", never "0E-10")."""
    return format(value if isinstance(value, Decimal) else Decimal(value or 0), "f")


def _columns(monthly: bool) -> list[str]:
    text = _MONTHLY_COLUMNS if monthly else _DAILY_COLUMNS
    return [c.strip() for c in text.split(",")]


def query_rows(session: Session, scope: RowScope, query: RowQuery) -> RowPage:
    """One page of rows (daily, or monthly when `query.monthly`), sorted, with
    the total number of rows matching the filters."""
    return query_page(session, scope, query)[0]


def query_page(session: Session, scope: RowScope, query: RowQuery) -> tuple[RowPage, Summary]:
    """`query_rows` and `summarise` over one read of the files (what a page
    with its totals needs)."""
    reader = Reader(session, scope, query)
    try:
        if reader.con is None:
            empty = RowPage([], 0, query.limit, query.offset, reader.files.unreadable)
            return empty, Summary(query.start, query.end, [], reader.files.unreadable)
        totals = _totals(reader.con)
        result = reader.con.execute(
            f"{reader.select_sql()} LIMIT ? OFFSET ?", [query.limit, query.offset]
        )
        names = [d[0] for d in result.description]
        items = [_row(names, values, query.monthly) for values in result.fetchall()]
        total = sum(t.lines for t in totals)
        page = RowPage(items, total, query.limit, query.offset, reader.files.unreadable)
        return page, Summary(query.start, query.end, totals, reader.files.unreadable)
    finally:
        reader.close()


def _totals(con: duckdb.DuckDBPyConnection) -> list[CurrencyTotal]:
    rows = con.execute(
        "SELECT currency, COUNT(*), SUM(rows), SUM(list_amount), SUM(net_amount) "
        "FROM rows_view GROUP BY currency ORDER BY currency"
    ).fetchall()
    return [
        CurrencyTotal(str(c), int(n), int(r or 0), Decimal(la or 0), Decimal(na or 0))
        for c, n, r, la, na in rows
    ]


def iter_rows(
    session: Session, scope: RowScope, query: RowQuery, *, batch_size: int = 10_000
) -> Iterator[dict[str, Any]]:
    """Every matching row in sort order (limit and offset ignored), fetched
    `batch_size` at a time: an export of a million rows never holds them all.
    Readable runs only; `unreadable_runs` tells which were left out."""
    reader = Reader(session, scope, query)
    try:
        if reader.con is None:
            return
        result = reader.con.execute(reader.select_sql())
        names = [d[0] for d in result.description]
        while batch := result.fetchmany(batch_size):
            for values in batch:
                yield _row(names, values, query.monthly)
    finally:
        reader.close()


def unreadable_runs(session: Session, scope: RowScope, query: RowQuery) -> list[Unreadable]:
    """The published runs in the query's months that cannot be read (left out)."""
    _check(session, scope, query)
    return _published_files(session, scope, query).unreadable


def summarise(session: Session, scope: RowScope, query: RowQuery) -> Summary:
    """Totals per currency of the rows matching the filters (paging ignored)."""
    reader = Reader(session, scope, query)
    try:
        if reader.con is None:
            return Summary(query.start, query.end, [], reader.files.unreadable)
        return Summary(query.start, query.end, _totals(reader.con), reader.files.unreadable)
    finally:
        reader.close()


def flat_columns(monthly: bool) -> list[str]:
    """The columns of a row as a table (CSV export, the CLI): `flat_row` order."""
    head = ["period", "first_day", "last_day"] if monthly else ["day"]
    return [
        *head,
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
    ]


def flat_row(row: dict[str, Any], monthly: bool) -> list[Any]:
    """A row of `query_rows`/`iter_rows` as the values of `flat_columns`."""
    head = [row["period"], row["first_day"], row["last_day"]] if monthly else [row["day"]]
    return [
        *head,
        row["customer"]["id"],
        row["customer"]["name"],
        row["account"]["id"],
        row["account"]["ref"],
        row["account"]["name"],
        row["kind"],
        row["service"],
        row["sku"],
        row["region"],
        row["unit"],
        row["currency"],
        row["usage_rows"],
        row["quantity"],
        row["included_quantity"],
        row["list_amount"],
        row["net_amount"],
    ]
