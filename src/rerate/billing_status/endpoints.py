"""Billing status over HTTP: `GET /api/v1/billing/status?month=YYYY-MM`.

Scoped like invoices (`view_invoices` on the customer's subtree; a named
customer outside it is 404) and subject to the invoice visibility settings
(403 `InvoicesHidden`); amounts are strings at the currency's minor unit, one
row per currency (billing_status/service.py says what each bucket holds).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from rerate.api.deps import InvoiceViewer, SessionDep
from rerate.api.fields import Id, Period
from rerate.billing_status import service
from rerate.kit.money import round_money
from rerate.kit.periods import Month
from rerate.kit.present import money_plain
from rerate.models.base import utcnow

router = APIRouter(tags=["billing-status"])


def current_month() -> Month:
    """The month shown by default: the current one in UTC."""
    return Month.of(utcnow().date())


def row_view(row: service.Row) -> dict[str, Any]:
    return {
        "currency": row.currency,
        "windows": {
            # Rounded at the boundary: a subscription's billed usage is full scale.
            key: {
                b: money_plain(round_money(v, row.currency), row.currency)
                for b, v in amounts.as_dict().items()
            }
            for key, amounts in row.windows.items()
        },
    }


def status_view(status: service.Status) -> dict[str, Any]:
    return {
        "month": str(status.month),
        "windows": [
            {"key": w.key, "label": w.label, "first": w.first, "last": w.last}
            for w in status.windows
        ],
        "tenants": [
            {
                "customer_id": t.customer_id,
                "name": t.name,
                "rows": [row_view(r) for r in t.rows],
                "subscriptions": [
                    {
                        "account_id": s.account_id,
                        "external_ref": s.external_ref,
                        "name": s.name,
                        "rows": [row_view(r) for r in s.rows],
                    }
                    for s in t.subscriptions
                ],
            }
            for t in status.tenants
        ],
        "totals": [row_view(r) for r in status.totals],
    }


@router.get("/billing/status")
def billing_status(
    session: SessionDep,
    principal: InvoiceViewer,
    month: Annotated[
        Period | None, Query(description="The selected month, YYYY-MM; the current one by default.")
    ] = None,
    customer_id: Annotated[Id | None, Query(description="Only this customer (tenant).")] = None,
) -> dict[str, Any]:
    """Overdue, issued, uninvoiced and paid totals per tenant (customer) and
    subscription (account), per currency, for last month, last quarter, the
    selected month and its quarter to date. Draft and Ready invoices count as
    uninvoiced. 403 `InvoicesHidden` when the visibility settings hide the
    caller's invoices."""
    chosen = Month.parse(month) if month else current_month()
    status = service.billing_status(session, principal, chosen, customer_id=customer_id)
    return status_view(status)
