"""The seed's billing routes: generate and read daily billing rows.

    GET  /billing/generate/{yyyy-MM}                  generate a calendar month (your customers)
    GET  /billing/yearmonth/{yyyy-MM}                 read the rows of a month
    POST /billing/generate/range?start=&end=          platform: generate a date range
    GET  /billing/range?start=&end=                   read the rows of a date range

Ranges are half-open billing days, `[start, end)`: `end` is the day after the
last day (docs/cloud-billing.md, "Billing Generation"). Generation queues
recalculation jobs (billing/generation.py); reading goes over the published
runs (billing/daily_rows.py).

`GET /billing/generate/{yyyy-MM}` changes data although it is a GET: the seed
names it so and its callers (scripts of the system it replaces) use it. To
keep the risk of a GET with an effect small it is idempotent (a month whose
job is queued or running is answered with that job, not queued again), needs
the `recalculate` permission, and is refused to a browser session (403): a
link or an image on another site could otherwise trigger it with the
visitor's cookie (CSRF protection covers unsafe methods only). Scripts call
it with an API key; people use the console or `POST /billing/generate/range`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from rerate.api.deps import Require, SessionDep, Viewer, get_db
from rerate.api.fields import BillingDate, Id, Offset, Period
from rerate.auth.permissions import Permission, Principal
from rerate.billing import daily_rows
from rerate.billing.daily_rows import MAX_LIMIT, MAX_RANGE_DAYS, SORT_KEYS, RowQuery
from rerate.billing.generation import generate_monthly_billing_records
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import Forbidden
from rerate.kit.periods import Month

router = APIRouter(tags=["billing"])

Recalculator = Annotated[Principal, Depends(Require(Permission.RECALCULATE))]
BillingGenerator = Annotated[Principal, Depends(Require(Permission.GENERATE_BILLING))]

RANGE_NOTE = (
    f"Half-open: start included, end excluded (the day after the last day); at most "
    f"{MAX_RANGE_DAYS} days. Days are billing days in each customer's billing time zone."
)
Start = Annotated[BillingDate, Query(description="First billing day, YYYY-MM-DD. " + RANGE_NOTE)]
End = Annotated[BillingDate, Query(description="The day after the last billing day, YYYY-MM-DD.")]


def _filters(
    customer_id: Annotated[
        list[Id] | None, Query(description="Only these customers (tenants); repeat for several.")
    ] = None,
    account_id: Annotated[
        list[Id] | None, Query(description="Only these accounts or subscriptions.")
    ] = None,
    region: Annotated[list[str] | None, Query(max_length=200)] = None,
    service: Annotated[list[str] | None, Query(max_length=200)] = None,
    sku: Annotated[list[str] | None, Query(max_length=200)] = None,
    monthly: Annotated[
        bool, Query(description="One row per month instead of per day (monthly aggregation).")
    ] = False,
    sort: Annotated[
        str,
        Query(
            max_length=300,
            description=f"Comma-separated columns, - for descending: {', '.join(SORT_KEYS)}.",
        ),
    ] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    return {
        "customer_ids": tuple(customer_id or ()),
        "account_ids": tuple(account_id or ()),
        "regions": tuple(region or ()),
        "services": tuple(service or ()),
        "skus": tuple(sku or ()),
        "monthly": monthly,
        "sort": sort,
        "limit": limit,
        "offset": offset,
    }


Filters = Annotated[dict[str, Any], Depends(_filters)]


def _read(
    request: Request, session: SessionDep, principal: Principal, query: RowQuery
) -> dict[str, Any]:
    scope = daily_rows.scope_for(session, principal, request.app.state.settings.data_dir)
    page, summary = daily_rows.query_page(session, scope, query)
    return {
        "start": query.start.isoformat(),
        "end": query.end.isoformat(),
        "monthly": query.monthly,
        "items": page.items,
        "total": page.total,
        "limit": page.limit,
        "offset": page.offset,
        "totals": [t.as_dict() for t in summary.totals],
        "unreadable_runs": [u.as_dict() for u in page.unreadable],
    }


@router.get("/billing/range")
def read_range(
    start: Start,
    end: End,
    filters: Filters,
    request: Request,
    session: SessionDep,
    principal: Viewer,
) -> dict[str, Any]:
    """The daily billing rows of `[start, end)` of the customers you can see,
    from the published runs only: filtered, sorted, paged, with totals per
    currency over every matching row. Amounts are exact decimal strings."""
    return _read(request, session, principal, RowQuery(start=start, end=end, **filters))


@router.get("/billing/yearmonth/{period}")
def read_month(
    period: Period, filters: Filters, request: Request, session: SessionDep, principal: Viewer
) -> dict[str, Any]:
    """The rows visible in one calendar month (`/billing/range` over its days);
    `monthly=true` gives the month's aggregation."""
    start, end = daily_rows.month_range(Month.parse(period))
    return _read(request, session, principal, RowQuery(start=start, end=end, **filters))


def _generate(
    request: Request,
    session: SessionDep,
    principal: Principal,
    start: date,
    end: date,
    permission: Permission,
) -> dict[str, Any]:
    # Queueing races the workers' commits: take the write lock up front, as
    # the billing utilities do (billing/endpoints.py `_submit`).
    session.rollback()
    with get_db(request).write_session() as write:
        set_session_actor(write, Actor(principal.user_id, principal.email))
        generation = generate_monthly_billing_records(
            write, start, end, principal=principal, permission=permission
        )
        return generation.as_dict()


@router.get("/billing/generate/{period}")
def generate_month(
    period: Period, request: Request, session: SessionDep, principal: Recalculator
) -> dict[str, Any]:
    """Generate the daily rows of a calendar month for your eligible customers:
    queues a recalculation job per (customer, month) and answers the job ids.
    Idempotent while those jobs are queued or running (the same ids are
    answered). A GET only for compatibility: refused to a browser session
    (use an API key, or `POST /billing/generate/range`)."""
    if principal.via == "session":
        raise Forbidden(
            "GET /billing/generate changes data: call it with an API key "
            "(a browser session could be made to call it from another site), "
            "or use POST /billing/generate/range"
        )
    start, end = daily_rows.month_range(Month.parse(period))
    return _generate(request, session, principal, start, end, Permission.RECALCULATE)


@router.post("/billing/generate/range", status_code=202)
def generate_range(
    start: Start, end: End, request: Request, session: SessionDep, principal: BillingGenerator
) -> dict[str, Any]:
    """Platform administrators: generate every calendar month that `[start, end)`
    touches, for every eligible customer. Accepts an Idempotency-Key."""
    return _generate(request, session, principal, start, end, Permission.GENERATE_BILLING)
