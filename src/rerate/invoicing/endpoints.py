"""Invoices over HTTP: list, read, download, generate, issue.

Visibility settings are enforced here, server-side: a tenant, partner or
distributor sees invoices only while the matching setting is true on the
invoice's customer (nearest override wins); platform roles always see them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.api.deps import InvoiceGenerator, InvoiceViewer, SessionDep
from rerate.api.errors import JSON_ERROR_RESPONSES
from rerate.api.fields import Id, Offset, Period
from rerate.api.media import CSVResponse, PDFResponse
from rerate.auth.permissions import Permission, Principal
from rerate.invoicing import render
from rerate.invoicing import service as invoices
from rerate.invoicing.generate import generate_for
from rerate.kit.errors import Forbidden, NotFound
from rerate.kit.money import RoundingMode, money_str, round_money
from rerate.models import Invoice, Node
from rerate.models.enums import Role, SettingKey
from rerate.settings.service import get_bool
from rerate.tenancy.service import get_customer, in_scope

router = APIRouter(tags=["invoices"])

_VISIBILITY = {
    Role.CUSTOMER_USER: SettingKey.INVOICES_VISIBLE_TO_TENANTS,
    Role.PARTNER_ADMIN: SettingKey.INVOICES_VISIBLE_TO_PARTNERS,
    Role.PARTNER_USER: SettingKey.INVOICES_VISIBLE_TO_PARTNERS,
    Role.DISTRIBUTOR: SettingKey.INVOICES_VISIBLE_TO_DISTRIBUTORS,
}


def _visible(session: Session, principal: Principal, customer: Node) -> bool:
    if principal.is_platform():
        return True
    for grant in principal.grants:
        key = _VISIBILITY.get(grant.role)
        if key and customer.path.startswith(grant.node_path) and get_bool(session, key, customer):
            return True
    return False


def invoice_view(inv: Invoice) -> dict[str, Any]:
    def m(amount: Decimal) -> str:  # already rounded at the boundary: this only trims zeros
        return money_str(round_money(amount, inv.currency, RoundingMode(inv.rounding_mode)))

    return {
        "id": inv.id,
        "customer_id": inv.customer_id,
        "period": inv.period,
        "type": inv.type,
        "status": inv.status,
        "version": inv.version,
        "number": inv.number,
        "currency": inv.currency,
        "subtotal": m(inv.subtotal),
        "tax_rate": format(inv.tax_rate.normalize(), "f"),
        "tax": m(inv.tax),
        "total": m(inv.total),
        "replaces": inv.replaces_id,
        "replaced_by": inv.replaced_by_id,
        "created_at": inv.created_at,
        "issued_at": inv.issued_at,
        "cancelled_at": inv.cancelled_at,
        "paid_at": inv.paid_at,
        "lines": [
            {
                "position": ln.position,
                "kind": ln.kind,
                "description": ln.description,
                "quantity": format(ln.quantity.normalize(), "f"),
                "unit": ln.unit,
                "amount": m(ln.amount),
            }
            for ln in inv.lines
        ],
    }


def _get(session: Session, principal: Principal, invoice_id: int) -> tuple[Invoice, Node]:
    inv = session.get(Invoice, invoice_id)
    if inv is None:
        raise NotFound("not found")
    customer = get_customer(session, principal, inv.customer_id, Permission.VIEW_INVOICES)
    if not _visible(session, principal, customer):
        raise Forbidden("invoices are not visible to your role (invoice visibility settings)")
    return inv, customer


@router.get("/invoices")
def list_invoices(
    session: SessionDep,
    principal: InvoiceViewer,
    customer_id: Id | None = None,
    period: Period | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> dict[str, Any]:
    stmt = (
        select(Invoice, Node)
        .join(Node, Node.id == Invoice.customer_id)
        .where(in_scope(principal.scope_paths(Permission.VIEW_INVOICES)))
    )
    if customer_id is not None:
        get_customer(session, principal, customer_id, Permission.VIEW_INVOICES)
        stmt = stmt.where(Invoice.customer_id == customer_id)
    if period is not None:
        stmt = stmt.where(Invoice.period == period)
    # Visibility is a per-customer setting: look it up once per customer, not per invoice.
    visible: dict[int, bool] = {}
    rows = []
    for inv, node in session.execute(
        stmt.order_by(Invoice.period.desc(), Invoice.customer_id, Invoice.id.desc())
    ).all():
        if node.id not in visible:
            visible[node.id] = _visible(session, principal, node)
        if visible[node.id]:
            rows.append((inv, node))
    page = rows[offset : offset + limit]
    return {"items": [invoice_view(inv) for inv, _ in page], "total": len(rows)}


@router.get("/invoices/{invoice_id}")
def get_invoice(invoice_id: Id, session: SessionDep, principal: InvoiceViewer) -> dict[str, Any]:
    return invoice_view(_get(session, principal, invoice_id)[0])


@router.get(
    "/invoices/{invoice_id}/pdf", response_class=PDFResponse, responses=JSON_ERROR_RESPONSES
)
def invoice_pdf(invoice_id: Id, session: SessionDep, principal: InvoiceViewer) -> Response:
    inv, customer = _get(session, principal, invoice_id)
    seller = session.get(Node, customer.parent_id) if customer.parent_id else None
    name = inv.number or f"invoice-{inv.id}"
    return Response(
        render.to_pdf(inv, customer, seller),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
    )


@router.get(
    "/invoices/{invoice_id}/csv", response_class=CSVResponse, responses=JSON_ERROR_RESPONSES
)
def invoice_csv(invoice_id: Id, session: SessionDep, principal: InvoiceViewer) -> Response:
    inv, _ = _get(session, principal, invoice_id)
    name = inv.number or f"invoice-{inv.id}"
    return Response(
        render.to_csv(inv),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


class GenerateIn(BaseModel):
    customer_id: Id
    period: Period


@router.post("/invoices/generate", status_code=201)
def generate(
    body: GenerateIn, response: Response, session: SessionDep, principal: InvoiceGenerator
) -> dict[str, Any]:
    """Generate (or regenerate) the monthly invoice from the current runs.

    201 with a new version; 200 with the live Ready invoice when it was built
    from the same run already (generating twice gives one invoice).
    """
    customer = get_customer(session, principal, body.customer_id, Permission.GENERATE_INVOICES)
    outcome = generate_for(session, customer, body.period, reuse_unchanged=True)
    if outcome.reused:
        response.status_code = 200
    return invoice_view(outcome.invoice)


@router.post("/invoices/{invoice_id}/issue")
def issue(invoice_id: Id, session: SessionDep, principal: InvoiceGenerator) -> dict[str, Any]:
    """Issue a Ready invoice with the next number of its series; issuing an
    Issued invoice again answers it unchanged (same number)."""
    inv, _ = _get(session, principal, invoice_id)
    return invoice_view(invoices.issue(session, inv))
