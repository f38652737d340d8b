"""Console: the Billing status tab (`/billing/status`), in the Billing menu."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from rerate.api.deps import InvoiceViewer, SessionDep
from rerate.billing_status import service
from rerate.billing_status.endpoints import current_month, status_view
from rerate.kit.periods import Month
from rerate.web.console import PERIOD_RE, int_or_none, page_router, render

router = page_router()


@router.get("/billing/status")
def billing_status_page(
    request: Request,
    session: SessionDep,
    principal: InvoiceViewer,
    month: str = "",
    customer_id: str = "",
) -> Response:
    """Overdue, issued, uninvoiced and paid per tenant and subscription, for
    the four windows around the chosen month (the current one by default)."""
    try:
        chosen = Month.parse(month) if PERIOD_RE.match(month or "") else current_month()
    except ValueError:  # a well-formed month out of range (year 0001): the default
        chosen = current_month()
    cid = int_or_none(customer_id)
    status = service.billing_status(session, principal, chosen, customer_id=cid)
    # The picker offers every customer whose status the caller may see.
    customers = (
        [(c.id, c.name) for c in service.visible_customers(session, principal)]
        if cid is not None
        else [(t.customer_id, t.name) for t in status.tenants]
    )
    return render(
        request,
        "billing_status/status.html",
        {
            "active": "billing-status",
            # The API's view: amounts rounded to the minor unit, as strings.
            "status": status_view(status),
            "month": str(chosen),
            "customer_id": cid,
            "customers": customers,
            "buckets": [
                ("overdue", "Overdue"),
                ("issued", "Issued"),
                ("uninvoiced", "Uninvoiced"),
                ("paid", "Paid"),
            ],
        },
    )
