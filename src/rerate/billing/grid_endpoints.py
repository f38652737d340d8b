"""The Billing grid's API (docs/cloud-billing.md, "Billing Page"), beside the rows of
`/billing/range` (billing/daily_endpoints.py), with the same filters:

    GET /billing/summary?start=&end=      summary cards: this range and the previous one
    GET /billing/charts?start=&end=       chart series: by service, by region, top tenants
    GET /billing/row?customer_id=&...     the billing details of one daily row
    GET /billing/export.csv?start=&end=   every filtered row as CSV, streamed
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from rerate.api.deps import SessionDep, Viewer
from rerate.api.errors import JSON_ERROR_RESPONSES
from rerate.api.fields import BillingDate, Id
from rerate.api.media import CSVResponse
from rerate.auth.permissions import Principal
from rerate.billing import daily_rows, grid
from rerate.billing.daily_endpoints import End, Filters, Start
from rerate.billing.daily_rows import RowQuery, RowScope
from rerate.billing.grid import RowKey

router = APIRouter(tags=["billing"])


def _scope(request: Request, session: SessionDep, principal: Principal) -> RowScope:
    return daily_rows.scope_for(session, principal, request.app.state.settings.data_dir)


@router.get("/billing/summary")
def billing_summary(
    start: Start,
    end: End,
    filters: Filters,
    request: Request,
    session: SessionDep,
    principal: Viewer,
) -> dict[str, Any]:
    """Summary cards per currency: the totals of `[start, end)` and of the
    comparable previous range (whole months: as many months before; else as
    many days before), and the change of the net amount (absolute; percent
    rounded to 0.1, null when the previous range billed nothing)."""
    query = RowQuery(start=start, end=end, **filters)
    scope = _scope(request, session, principal)
    comparison = grid.compare(session, scope, query)
    return {
        **comparison.as_dict(),
        "unreadable_runs": [u.as_dict() for u in daily_rows.unreadable_runs(session, scope, query)],
    }


@router.get("/billing/charts")
def billing_charts(
    start: Start,
    end: End,
    filters: Filters,
    request: Request,
    session: SessionDep,
    principal: Viewer,
) -> dict[str, Any]:
    """The charts' data per currency: net amount per day (per month when
    `monthly` or the range is longer than 62 days) by service and by region
    (the 5 largest series and "Other"), and the 10 largest tenants and
    subscriptions. Amounts are exact decimal strings."""
    query = RowQuery(start=start, end=end, **filters)
    view = grid.overview(session, _scope(request, session, principal), query)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "bucket": view.bucket,
        "totals": [t.as_dict() for t in view.totals],
        "charts": [c.as_dict() for c in view.charts],
    }


@router.get("/billing/row")
def billing_row(
    request: Request,
    session: SessionDep,
    principal: Viewer,
    customer_id: Id,
    account_id: Id,
    day: BillingDate,
    kind: Annotated[str, Query(max_length=16)],
    currency: Annotated[str, Query(min_length=3, max_length=3)],
    service: Annotated[str | None, Query(max_length=200)] = None,
    sku: Annotated[str | None, Query(max_length=200)] = None,
    region: Annotated[str | None, Query(max_length=200)] = None,
    band: Annotated[str | None, Query(max_length=200)] = None,
    unit: Annotated[str | None, Query(max_length=200)] = None,
    rules: Annotated[str | None, Query(max_length=400)] = None,
    entry_id: Id | None = None,
    version_id: Id | None = None,
) -> dict[str, Any]:
    """The billing details of one daily row, named by its key (the fields of
    a `/billing/range` item; absent = none): pricing (price or tariff entry,
    price-book version, contract rules applied), hosting (region, platform),
    resource (account, service, SKU, unit) and its usage rows (the first 100
    by start, and how many)."""
    key = RowKey(
        customer_id,
        account_id,
        day,
        kind,
        currency,
        service,
        sku,
        region,
        band,
        unit,
        rules,
        entry_id,
        version_id,
    )
    return grid.row_details(session, _scope(request, session, principal), key)


@router.get("/billing/export.csv", response_class=CSVResponse, responses=JSON_ERROR_RESPONSES)
def billing_export(
    start: Start,
    end: End,
    filters: Filters,
    request: Request,
    session: SessionDep,
    principal: Viewer,
) -> StreamingResponse:
    """Every row `/billing/range` selects with the same filters and sort
    (`limit`/`offset` ignored), as CSV streamed in chunks: daily rows, or
    monthly rows with `monthly=true`. Amounts are the exact stored decimals
    with a currency column; text cells a spreadsheet would run as a formula
    are prefixed with `'` (docs/cloud-billing.md, "CSV export")."""
    query = RowQuery(start=start, end=end, **filters)
    body = grid.export_rows(session, _scope(request, session, principal), query)
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export_name(query)}"'},
    )


def export_name(query: RowQuery) -> str:
    last = date.fromordinal(query.end.toordinal() - 1)
    mode = "monthly" if query.monthly else "daily"
    return f"billing-{mode}-{query.start.isoformat()}-{last.isoformat()}.csv"
