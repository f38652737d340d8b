"""Console: the Billing grid (/billing/grid) and a row's billing details
(/billing/grid/row). docs/cloud-billing.md, "Billing Page", describes both.

The page is a GET form: every filter, the sort, the page and the mode are in
the URL, so a view can be bookmarked, shared and reloaded. The aggregation
mode opens as the `DefaultBillingAggregationMonthly` setting says (in force
on the viewer's node) and the toggle on the page switches it for the page
session: the chosen `mode` is carried by every link and form of the page
(sorting, paging, filters, details and back), so it stays while the person
navigates the grid, and a fresh visit opens with the setting's default again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from rerate.api.deps import SessionDep, Viewer
from rerate.auth.permissions import Principal
from rerate.billing import daily_rows, grid, grid_charts
from rerate.billing.daily_rows import MAX_RANGE_DAYS, RowQuery
from rerate.billing.grid import RowKey
from rerate.kit import bounds, present
from rerate.kit.errors import Invalid
from rerate.kit.money import UnknownCurrency, round_money
from rerate.kit.periods import Month
from rerate.models import Node
from rerate.models.enums import SettingKey
from rerate.settings.service import get_bool
from rerate.web.console import int_or_none, page_router, render

router = page_router()

PAGE_ROWS = 50

# Column key -> (label, sort key of daily_rows, numeric?)
DAILY_COLUMNS = (
    ("day", "Day", "day", False),
    ("customer", "Tenant", "customer", False),
    ("account", "Subscription", "account", False),
    ("service", "Service", "service", False),
    ("sku", "SKU", "sku", False),
    ("region", "Region", "region", False),
    ("quantity", "Quantity", "quantity", True),
    ("rows", "Usage rows", "rows", True),
    ("list_amount", "List", "list_amount", True),
    ("net_amount", "Net", "net_amount", True),
)
MONTHLY_COLUMNS = (("period", "Month", "period", False), *DAILY_COLUMNS[1:])
SORTABLE = frozenset(c[2] for c in DAILY_COLUMNS + MONTHLY_COLUMNS)


def shown(amount: Decimal | str, currency: str) -> str:
    """An exact amount for people: rounded half-up at the currency's minor
    unit (the exact value is in the cell's title and the CSV)."""
    value = Decimal(amount)
    try:
        return present.money_text(round_money(value, currency), currency)
    except UnknownCurrency:
        return f"{value:,f}"


def default_monthly(session: Session, principal: Principal) -> bool:
    """`DefaultBillingAggregationMonthly` in force where the viewer works: on
    the node of their grant when they hold one subtree (a partner's value
    reaches its customers' users), else the global value."""
    roots = {g.node_id for g in principal.grants}
    node = session.get(Node, next(iter(roots))) if len(roots) == 1 else None
    return get_bool(session, SettingKey.DEFAULT_BILLING_AGGREGATION_MONTHLY, node)


@dataclass(frozen=True, slots=True)
class GridParams:
    """The page's URL, parsed. Days are inclusive on the page (`from`, `to`),
    months too (`from_month`, `to_month`); the query is half-open."""

    monthly: bool
    start: date
    end: date  # exclusive
    customer_id: int | None = None
    account_id: int | None = None
    region: str = ""
    service: str = ""
    sku: str = ""
    sort: str = ""
    page: int = 1

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def query(self, *, limit: int = PAGE_ROWS, offset: int = 0) -> RowQuery:
        return RowQuery(
            start=self.start,
            end=self.end,
            customer_ids=(self.customer_id,) if self.customer_id else (),
            account_ids=(self.account_id,) if self.account_id else (),
            regions=(self.region,) if self.region else (),
            services=(self.service,) if self.service else (),
            skus=(self.sku,) if self.sku else (),
            monthly=self.monthly,
            sort=self.sort,
            limit=limit,
            offset=offset,
        )

    def params(self, **change: Any) -> dict[str, str]:
        """The URL parameters of this view (with `change` applied), empty ones left out."""
        p = replace(self, **change)
        out: dict[str, str] = {"mode": "monthly" if p.monthly else "daily"}
        if p.monthly:
            out["from_month"] = str(Month.of(p.start))
            out["to_month"] = str(Month.of(p.last_day))
        else:
            out["from"] = p.start.isoformat()
            out["to"] = p.last_day.isoformat()
        for name in ("customer_id", "account_id"):
            value = getattr(p, name)
            if value:
                out[name] = str(value)
        for name in ("region", "service", "sku", "sort"):
            value = getattr(p, name)
            if value:
                out[name] = value
        if p.page > 1:
            out["page"] = str(p.page)
        return out

    def url(self, **change: Any) -> str:
        return "/billing/grid?" + urlencode(self.params(**change))

    def api_params(self) -> str:
        """The same selection for the API (`start`/`end` half-open)."""
        q: dict[str, str] = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.monthly:
            q["monthly"] = "true"
        for name, value in (
            ("customer_id", self.customer_id),
            ("account_id", self.account_id),
            ("region", self.region),
            ("service", self.service),
            ("sku", self.sku),
            ("sort", self.sort),
        ):
            if value:
                q[name] = str(value)
        return urlencode(q)


def _day(value: str, name: str) -> date:
    try:
        return bounds.check_year(date.fromisoformat(value.strip()), name)
    except ValueError:
        raise Invalid(
            f"{name}: enter a date as YYYY-MM-DD (years {bounds.MIN_YEAR} to {bounds.MAX_YEAR})",
            field=name,
        ) from None


def _month(value: str, name: str) -> Month:
    try:
        month = Month.parse(value.strip())
        bounds.check_year(month.first_day, name)
        return month
    except ValueError:
        raise Invalid(f"{name}: enter a month as YYYY-MM", field=name) from None


def parse_params(raw: dict[str, str], *, default_monthly: bool, today: date) -> GridParams:
    """The view the URL asks for; 422 (`Invalid`, naming the field) for a
    value that is not a date, a month, an id or a sort column."""
    mode = raw.get("mode", "").strip()
    if mode not in ("", "daily", "monthly"):
        raise Invalid("mode: daily or monthly", field="mode")
    monthly = default_monthly if not mode else mode == "monthly"
    this_month = Month.of(today)
    if monthly:
        if raw.get("from_month") or raw.get("to_month"):
            first = _month(raw.get("from_month") or raw.get("to_month", ""), "from_month")
            last = _month(raw.get("to_month") or str(first), "to_month")
        elif raw.get("from"):  # a daily view switched to monthly: the months it touches
            first = Month.of(_day(raw["from"], "from"))
            last = Month.of(_day(raw.get("to") or raw["from"], "to"))
        else:
            first = last = this_month
        start, end = grid.month_span(first, last)
    else:
        if raw.get("from") or raw.get("to"):
            start = _day(raw.get("from") or raw.get("to", ""), "from")
            last_day = _day(raw.get("to") or raw.get("from", ""), "to")
        elif raw.get("from_month"):  # a monthly view switched to daily: its days
            start = _month(raw["from_month"], "from_month").first_day
            last_day = _month(raw.get("to_month") or raw["from_month"], "to_month").next().first_day
            last_day -= timedelta(days=1)
        else:
            start, last_day = this_month.first_day, this_month.next().first_day - timedelta(days=1)
        if last_day < start:
            raise Invalid(f"to ({last_day}) is before from ({start})", field="to")
        end = last_day + timedelta(days=1)
    if (end - start).days > MAX_RANGE_DAYS:
        raise Invalid(
            f"to: the range is {(end - start).days} days; at most {MAX_RANGE_DAYS}", field="to"
        )
    ids: dict[str, int | None] = {}
    for name in ("customer_id", "account_id"):
        value = raw.get(name, "").strip()
        ids[name] = int_or_none(value) if value else None
        if value and ids[name] is None:
            raise Invalid(f"{name}: not an id", field=name)
    sort = raw.get("sort", "").strip()
    if sort and sort.lstrip("-") not in SORTABLE:
        raise Invalid(f"sort: unknown column {sort[:40]!r}", field="sort")
    page_text = raw.get("page", "").strip()
    page = int_or_none(page_text) if page_text else 1
    if page is None or page < 1:
        raise Invalid("page: a page number from 1", field="page")
    return GridParams(
        monthly=monthly,
        start=start,
        end=end,
        customer_id=ids["customer_id"],
        account_id=ids["account_id"],
        region=raw.get("region", "").strip()[:200],
        service=raw.get("service", "").strip()[:200],
        sku=raw.get("sku", "").strip()[:200],
        sort=sort,
        page=page,
    )


def _today() -> date:
    return datetime.now(UTC).date()


_RAW = (
    "mode",
    "from",
    "to",
    "from_month",
    "to_month",
    "customer_id",
    "account_id",
    "region",
    "service",
    "sku",
    "sort",
    "page",
)


def _columns(params: GridParams) -> list[dict[str, Any]]:
    """Column headers: the link that sorts by each, and its aria-sort."""
    out = []
    current = params.sort.split(",")[0] if params.sort else ""
    for key, label, sort_key, numeric in MONTHLY_COLUMNS if params.monthly else DAILY_COLUMNS:
        state = ""
        if current.lstrip("-") == sort_key:
            state = "descending" if current.startswith("-") else "ascending"
        # Amounts sort largest first on the first click; text A to Z.
        first = f"-{sort_key}" if numeric else sort_key
        target = (sort_key if state == "descending" else f"-{sort_key}") if state else first
        out.append(
            {
                "key": key,
                "label": label,
                "numeric": numeric,
                "aria_sort": state,
                "href": params.url(sort=target, page=1),
            }
        )
    return out


def _row_view(row: dict[str, Any], params: GridParams) -> dict[str, Any]:
    currency = row["currency"]
    view = {
        **row,
        "list_shown": shown(row["list_amount"], currency),
        "net_shown": shown(row["net_amount"], currency),
        "quantity_shown": f"{Decimal(row['quantity']).normalize():,f}",
    }
    if params.monthly:
        # A month's row opens its days: the daily grid of that month and row.
        daily = replace(
            params,
            monthly=False,
            start=date.fromisoformat(row["first_day"]),
            end=date.fromisoformat(row["last_day"]) + timedelta(days=1),
            customer_id=row["customer"]["id"],
            account_id=row["account"]["id"],
            region=row["region"] or "",
            service=row["service"] or "",
            sku=row["sku"] or "",
            sort="",
            page=1,
        )
        view["details_href"] = daily.url()
    else:
        key = RowKey.of(row).params()
        view["details_href"] = "/billing/grid/row?" + urlencode({**key, "back": params.url()})
    return view


def _card_view(card: grid.Card) -> dict[str, Any]:
    c = card.currency
    pct = card.change_percent
    return {
        "currency": c,
        "current": shown(card.current.net_amount, c),
        "current_exact": format(card.current.net_amount, "f"),
        "current_list": shown(card.current.list_amount, c),
        "current_lines": card.current.lines,
        "previous": shown(card.previous.net_amount, c),
        "previous_exact": format(card.previous.net_amount, "f"),
        "previous_lines": card.previous.lines,
        "change": ("+" if card.change > 0 else "") + shown(card.change, c),
        "change_exact": format(card.change, "f"),
        "change_percent": None if pct is None else ("+" if pct > 0 else "") + f"{pct:f} %",
        "direction": "up" if card.change > 0 else ("down" if card.change < 0 else "flat"),
    }


def _span(start: date, end: date) -> str:
    months = grid.whole_months(start, end)
    if months == 1:
        return str(Month.of(start))
    if months:
        return f"{Month.of(start)} to {Month.of(end - timedelta(days=1))}"
    last = end - timedelta(days=1)
    return start.isoformat() if last == start else f"{start.isoformat()} to {last.isoformat()}"


def _ranges(c: grid.Comparison) -> dict[str, str]:
    months = grid.whole_months(c.start, c.end)
    how = (
        f"the {months} month{'s' if months != 1 else ''} before"
        if months
        else f"the {(c.end - c.start).days} days before"
    )
    return {
        "current": _span(c.start, c.end),
        "previous": _span(c.previous_start, c.previous_end),
        "how": how,
    }


def _chart_views(view: grid.Overview) -> list[dict[str, Any]]:
    out = []
    for n, charts in enumerate(view.charts):
        c = charts.currency
        per = "day" if view.bucket == "day" else "month"
        stacks = []
        for key, title, data in (
            ("service", f"Net spend per {per} by service, {c}", charts.by_service),
            ("region", f"Net spend per {per} by region, {c}", charts.by_region),
        ):
            chart_id = f"chart-{key}-{n}"
            stacks.append(
                {
                    "id": chart_id,
                    "title": title,
                    "svg": grid_charts.stacked_bars(chart_id, title, data, c),
                    "legend": [(s, grid_charts.colour(i, s)) for i, s in enumerate(data.series)],
                    "series": data.series,
                    "rows": [
                        (
                            b,
                            [shown(data.value(b, s), c) for s in data.series],
                            shown(data.bucket_total(b), c),
                        )
                        for b in data.buckets
                    ],
                }
            )
        tops = []
        for key, title, items in (
            ("tenants", f"Top tenants by net spend, {c}", charts.top_customers),
            ("subscriptions", f"Top subscriptions by net spend, {c}", charts.top_accounts),
        ):
            chart_id = f"chart-{key}-{n}"
            tops.append(
                {
                    "id": chart_id,
                    "title": title,
                    "svg": grid_charts.ranked_bars(chart_id, title, items, c),
                    "rows": [(i.label, shown(i.amount, c)) for i in items],
                }
            )
        out.append({"currency": c, "stacks": stacks, "tops": tops})
    return out


@router.get("/billing/grid")
def grid_page(request: Request, session: SessionDep, principal: Viewer) -> Response:
    """Daily (or monthly) billing rows with filters, cards, charts and export."""
    raw = {k: request.query_params.get(k, "") for k in _RAW}
    monthly_default = default_monthly(session, principal)
    scope = daily_rows.scope_for(session, principal, request.app.state.settings.data_dir)
    customers = sorted(scope.customers.items(), key=lambda c: (c[1], c[0]))
    context: dict[str, Any] = {
        "active": "grid",
        "monthly_default": monthly_default,
        "customers": customers,
        "error": None,
    }
    try:
        params = parse_params(raw, default_monthly=monthly_default, today=_today())
        query = params.query(offset=(params.page - 1) * PAGE_ROWS)
        page = daily_rows.query_rows(session, scope, query)
        view = grid.overview(session, scope, query)
        comparison = grid.compare(session, scope, query, view.totals)
    except Invalid as exc:
        fallback = parse_params({}, default_monthly=monthly_default, today=_today())
        context.update(
            {
                "error": str(exc.detail),
                "params": fallback,
                "raw": raw,
                "rows": [],
                "total": 0,
                "pages": 0,
                "columns": _columns(fallback),
                "cards": [],
                "comparison": None,
                "ranges": None,
                "charts": [],
                "facets": grid.Facets(),
                "unreadable": [],
                "export_href": None,
                "toggle_href": fallback.url(monthly=not fallback.monthly, page=1),
            }
        )
        return render(request, "billing/grid.html", context, status_code=422)
    pages = max(1, math.ceil(page.total / PAGE_ROWS))
    context.update(
        {
            "params": params,
            "raw": raw,
            "rows": [_row_view(r, params) for r in page.items],
            "total": page.total,
            "pages": pages,
            "columns": _columns(params),
            "cards": [_card_view(c) for c in comparison.cards],
            "comparison": comparison,
            "ranges": _ranges(comparison),
            "charts": _chart_views(view),
            "facets": view.facets,
            "unreadable": page.unreadable,
            "export_href": "/api/v1/billing/export.csv?" + params.api_params(),
            "toggle_href": params.url(monthly=not params.monthly, page=1, sort=""),
            "prev_href": params.url(page=params.page - 1) if params.page > 1 else None,
            "next_href": params.url(page=params.page + 1) if params.page < pages else None,
            "reset_href": "/billing/grid?mode=" + ("monthly" if params.monthly else "daily"),
        }
    )
    return render(request, "billing/grid.html", context)


@router.get("/billing/grid/row")
def grid_row_page(request: Request, session: SessionDep, principal: Viewer) -> Response:
    """The billing details of one daily row: pricing, hosting, resource, usage rows."""
    q = request.query_params
    back = q.get("back", "")
    if not back.startswith("/billing/grid?"):
        back = "/billing/grid"
    try:
        key = RowKey(
            customer_id=_required_id(q.get("customer_id", ""), "customer_id"),
            account_id=_required_id(q.get("account_id", ""), "account_id"),
            day=_day(q.get("day", ""), "day"),
            kind=q.get("kind", "")[:16] or "cloud",
            currency=q.get("currency", "")[:3],
            service=q.get("service"),
            sku=q.get("sku"),
            region=q.get("region"),
            band=q.get("band"),
            unit=q.get("unit"),
            rules=q.get("rules"),
            entry_id=_optional_id(q.get("entry_id"), "entry_id"),
            version_id=_optional_id(q.get("version_id"), "version_id"),
        )
    except Invalid as exc:
        return render(
            request,
            "billing/grid_row.html",
            {"active": "grid", "error": str(exc.detail), "details": None, "back": back},
            status_code=422,
        )
    details = grid.row_details(
        session,
        daily_rows.scope_for(session, principal, request.app.state.settings.data_dir),
        key,
    )
    row = details["row"]
    c = row["currency"]
    usage = [
        {
            **u,
            "billing_href": "/billing/records?"
            + urlencode(
                {
                    "record_id": u["record_id"],
                    "account_id": str(key.account_id),
                    "usage_start": u["usage_start"],
                }
            ),
            "net_shown": shown(u["net_amount"], c) if u["net_amount"] is not None else "—",
        }
        for u in details["usage_rows"]
    ]
    return render(
        request,
        "billing/grid_row.html",
        {
            "active": "grid",
            "error": None,
            "details": details,
            "row": row,
            "usage": usage,
            "list_shown": shown(row["list_amount"], c),
            "net_shown": shown(row["net_amount"], c),
            "back": back,
        },
    )


def _required_id(value: str, name: str) -> int:
    number = int_or_none(value)
    if number is None:
        raise Invalid(f"{name}: not an id", field=name)
    return number


def _optional_id(value: str | None, name: str) -> int | None:
    return None if value is None or value == "" else _required_id(value, name)
