"""Invoices over HTTP: list, read, download, generate, issue.

Visibility settings are enforced here, server-side, by the one rule of
invoicing/visibility.py: a tenant, partner or distributor sees invoices only
while the matching setting is true on the invoice's customer (403
`InvoicesHidden` otherwise); platform roles always see them.
A customer's own users see only Issued, Paid, Cancelled and Credited invoices
and credit notes: a Draft, Ready or Superseded version is the seller's work in
progress (404 to them).
The console and the CLI read invoices through these functions, so the rules
hold there too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from rerate.api.deps import InvoiceGenerator, InvoiceViewer, SessionDep
from rerate.api.errors import JSON_ERROR_RESPONSES
from rerate.api.fields import Amount, Id, Offset, Period
from rerate.api.media import CSVResponse, PDFResponse
from rerate.auth.permissions import Permission, Principal
from rerate.invoicing import credit_notes, parties, payments, pdf, quarterly, render, visibility
from rerate.invoicing import service as invoices
from rerate.invoicing.einvoice.export import Format as EInvoiceFormat
from rerate.invoicing.einvoice.export import export as export_einvoice
from rerate.invoicing.generate import generate_for
from rerate.kit.errors import NotFound
from rerate.kit.periods import local_day
from rerate.kit.present import money_plain, quantity_text
from rerate.models import Contract, Invoice, Node
from rerate.models.base import utcnow
from rerate.models.enums import InvoiceStatus, InvoiceType, Role
from rerate.tenancy.service import get_customer, in_scope

router = APIRouter(tags=["invoices"])

CUSTOMER_STATUSES = (
    InvoiceStatus.ISSUED.value,
    InvoiceStatus.PAID.value,
    InvoiceStatus.CANCELLED.value,
    InvoiceStatus.CREDITED.value,
)


def customer_only(principal: Principal, customer: Node) -> bool:
    """True when every role through which the caller sees this customer is a
    customer user's: the caller is the customer, and sees sent invoices only."""
    if principal.is_platform():
        return False
    roles = {g.role for g in principal.grants if customer.path.startswith(g.node_path)}
    return roles == {Role.CUSTOMER_USER}


_SUMMARY_COLUMNS = (
    Invoice.id,
    Invoice.customer_id,
    Invoice.period,
    Invoice.type,
    Invoice.status,
    Invoice.version,
    Invoice.number,
    Invoice.currency,
    Invoice.rounding_mode,
    Invoice.subtotal,
    Invoice.tax_rate,
    Invoice.tax,
    Invoice.total,
    Invoice.replaces_id,
    Invoice.replaced_by_id,
    Invoice.credits_id,
    Invoice.credited_by_id,
    Invoice.created_at,
    Invoice.issued_at,
    Invoice.cancelled_at,
    Invoice.paid_at,
    Invoice.due_date,
    Invoice.projection_method,
    Invoice.projection_basis,
    Invoice.projected_amount,
    Invoice.override_amount,
    Invoice.override_reason,
    Invoice.trued_up_at,
    Invoice.true_up_actuals,
    Invoice.true_up_actual,
    Invoice.trued_up_by_id,
    Invoice.true_up_of_id,
)


def invoice_view(
    inv: Invoice | Any,
    *,
    lines: bool = True,
    paid: Decimal | None = None,
    today: date | None = None,
    settled: payments.Settlement | None = None,
) -> dict[str, Any]:
    """The invoice; with its lines unless `lines=False` (lists, see `list_invoices`).

    `inv` is an `Invoice`, or without lines a row of `_SUMMARY_COLUMNS`.
    `settled` (money paid, credit notes applied to it and, for a credit note,
    how much of it was applied) and `today` (in the billing zone), when given,
    add the amounts paid and credited, what is outstanding, whether it is
    overdue, and a credit note's open amount. (`paid` alone: money only.)
    """

    currency = inv.currency

    def m(amount: Decimal) -> str:  # rounded at the boundary: shown at the minor unit
        return money_plain(amount, currency)

    view: dict[str, Any] = {
        "id": inv.id,
        "customer_id": inv.customer_id,
        "period": inv.period,
        "type": inv.type,
        "status": inv.status,
        "version": inv.version,
        "number": inv.number,
        "currency": inv.currency,
        "subtotal": m(inv.subtotal),
        "tax_rate": quantity_text(inv.tax_rate),
        "tax": m(inv.tax),
        "total": m(inv.total),
        "replaces": inv.replaces_id,
        "replaced_by": inv.replaced_by_id,
        # A credit note names the invoice it reverses; that one names it back.
        "credits": inv.credits_id,
        "credited_by": inv.credited_by_id,
        "created_at": inv.created_at,
        "issued_at": inv.issued_at,
        "cancelled_at": inv.cancelled_at,
        "paid_at": inv.paid_at,
        "due_date": inv.due_date,
        # A quarterly invoice: its projection, override and true-up (None
        # otherwise); it names its true-up document, which names it back.
        "projection": quarterly.projection_view(inv),
        "trued_up_by": inv.trued_up_by_id,
        "true_up_of": inv.true_up_of_id,
    }
    if settled is None and paid is not None:
        settled = payments.Settlement(paid=paid)
    if settled is not None:
        is_note = inv.type == InvoiceType.CREDIT_NOTE.value
        owed = (
            inv.total - settled.paid - settled.credited
            if inv.status in payments.PAYABLE and not is_note
            else Decimal(0)
        )
        view["amount_paid"] = m(settled.paid)
        view["amount_credited"] = m(settled.credited)
        view["outstanding"] = m(owed)
        view["overdue"] = today is not None and payments.is_overdue(inv, owed, today)
        if is_note:
            left = -inv.total - settled.applied if inv.status == "issued" else Decimal(0)
            view["applied"] = m(settled.applied)
            view["open_amount"] = m(left)
    if lines:
        view["lines"] = [
            {
                "position": ln.position,
                "kind": ln.kind,
                "description": ln.description,
                "quantity": quantity_text(ln.quantity),
                "unit": ln.unit,
                "amount": m(ln.amount),
            }
            for ln in inv.lines
        ]
    return view


def _get(session: Session, principal: Principal, invoice_id: int) -> tuple[Invoice, Node]:
    inv = session.get(Invoice, invoice_id)
    if inv is None:
        raise NotFound(f"invoice {invoice_id} not found")
    try:
        customer = get_customer(session, principal, inv.customer_id, Permission.VIEW_INVOICES)
    except NotFound:
        # Out of scope reads as missing: the same words, no hint the id exists.
        raise NotFound(f"invoice {invoice_id} not found") from None
    visibility.require_visible(session, principal, customer)
    if customer_only(principal, customer) and inv.status not in CUSTOMER_STATUSES:
        raise NotFound(f"invoice {invoice_id} not found")
    return inv, customer


@router.get("/invoices")
def list_invoices(
    session: SessionDep,
    principal: InvoiceViewer,
    customer_id: Id | None = None,
    period: Period | None = None,
    type: Annotated[
        InvoiceType | None,
        Query(description="Only this document type: monthly, quarterly, true_up or credit_note."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
    include_lines: Annotated[
        bool, Query(description="Also each invoice's lines (GET /invoices/{id} has them).")
    ] = False,
) -> dict[str, Any]:
    """Invoices, newest period first, without their lines unless asked: a
    month's invoice can have hundreds of lines, and a page of them was half a
    megabyte to load and send."""
    scope = in_scope(principal.scope_paths(Permission.VIEW_INVOICES))
    if customer_id is not None:
        # One named customer whose invoices are hidden: refused (403), as its
        # invoices' own routes are; without a filter the list is cut to the
        # customers the caller sees invoices of.
        filtered = get_customer(session, principal, customer_id, Permission.VIEW_INVOICES)
        visibility.require_visible(session, principal, filtered)
    # Visibility is a per-customer setting: decided once per customer that has
    # invoices here (with its billing zone, for what is overdue today), then
    # the page is cut in SQL.
    customers = (
        select(Node, Contract.billing_tz)
        .outerjoin(Contract, (Contract.customer_id == Node.id) & Contract.active.is_(True))
        .where(scope, Node.id.in_(select(Invoice.customer_id)))
    )
    if customer_id is not None:
        customers = customers.where(Node.id == customer_id)
    visible = visibility.visibility(session, principal)
    zones: dict[int, str] = {}
    hidden: list[int] = []
    sent_only: list[int] = []
    for node, tz in session.execute(customers):
        zones[node.id] = tz or "UTC"
        if not visible(node):
            hidden.append(node.id)
        elif customer_only(principal, node):
            sent_only.append(node.id)
    # The scope as a subquery, not as a list of the customers' ids: a list is
    # rendered into the statement anew on every call (a bind parameter per
    # id), which cost more than running the query. The exceptions (hidden
    # invoices, customer users who see sent invoices only) are few.
    where: list[ColumnElement[bool]] = [Invoice.customer_id.in_(select(Node.id).where(scope))]
    if customer_id is not None:
        where.append(Invoice.customer_id == customer_id)
    if hidden:
        where.append(Invoice.customer_id.not_in(hidden))
    if sent_only:
        where.append(Invoice.customer_id.not_in(sent_only) | Invoice.status.in_(CUSTOMER_STATUSES))
    if period is not None:
        where.append(Invoice.period == period)
    if type is not None:
        where.append(Invoice.type == type.value)
    total = session.scalar(select(func.count()).select_from(Invoice).where(*where)) or 0
    order = (Invoice.period.desc(), Invoice.customer_id, Invoice.id.desc())
    page_ids = select(Invoice.id).where(*where).order_by(*order).limit(limit).offset(offset)
    if include_lines:
        page: Sequence[Any] = session.scalars(
            select(Invoice)
            .where(*where)
            .order_by(*order)
            .limit(limit)
            .offset(offset)
            .options(selectinload(Invoice.lines))
        ).all()
    else:
        # Plain rows of the summary's columns: loading ORM objects cost more
        # than everything else this list does.
        page = session.execute(
            select(*_SUMMARY_COLUMNS).where(*where).order_by(*order).limit(limit).offset(offset)
        ).all()
    settled = payments.settlements(session, [inv.id for inv in page], page=page_ids)
    now = utcnow()
    todays = {cid: local_day(now, zone) for cid, zone in zones.items()}
    return {
        "items": [
            invoice_view(
                inv,
                lines=include_lines,
                settled=settled[inv.id],
                today=todays[inv.customer_id],
            )
            for inv in page
        ],
        "total": total,
    }


@router.get("/invoices/{invoice_id}")
def get_invoice(invoice_id: Id, session: SessionDep, principal: InvoiceViewer) -> dict[str, Any]:
    inv = _get(session, principal, invoice_id)[0]
    return invoice_view(
        inv,
        settled=payments.settlements(session, [inv.id])[inv.id],
        today=payments.billing_today(session, inv.customer_id),
    )


@router.get(
    "/invoices/{invoice_id}/pdf", response_class=PDFResponse, responses=JSON_ERROR_RESPONSES
)
def invoice_pdf(
    invoice_id: Id,
    session: SessionDep,
    principal: InvoiceViewer,
    paper: Annotated[
        pdf.Paper, Query(description="Paper size: a4 (the default) or US letter.")
    ] = pdf.Paper.A4,
) -> Response:
    inv, customer = _get(session, principal, invoice_id)
    name = inv.number or f"invoice-{inv.id}"
    return Response(
        pdf.to_pdf(inv, pdf.facts_for(session, inv, customer), paper=paper),
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
        render.to_csv(inv, credits=parties.credited_number(session, inv)),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


_EINVOICE_CONTENT = {
    "application/xml": {"schema": {"type": "string"}},
    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
}


@router.get(
    "/invoices/{invoice_id}/einvoice",
    response_class=Response,
    responses={
        200: {"description": "UBL or CII XML, or a Factur-X PDF", "content": _EINVOICE_CONTENT},
        **JSON_ERROR_RESPONSES,
    },
)
def invoice_einvoice(
    invoice_id: Id,
    session: SessionDep,
    principal: InvoiceViewer,
    format: Annotated[
        EInvoiceFormat,
        Query(description="ubl (UBL 2.1 XML), cii (CII XML) or facturx (PDF/A-3 with the CII)"),
    ],
) -> Response:
    """The invoice as an EN 16931 e-invoice (docs/invoicing.md); a credit
    note as a UBL CreditNote / CII type 381 citing the invoice it credits.
    Only sent documents have one (Issued, Paid, Credited, Cancelled; 409
    otherwise); 422 names the seller or buyer field an e-invoice cannot go
    without."""
    inv, customer = _get(session, principal, invoice_id)
    out = export_einvoice(session, inv, customer, format)
    return Response(
        out.content,
        media_type=out.media_type,
        headers={"Content-Disposition": f'attachment; filename="{out.filename}"'},
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
    Issued invoice again answers it unchanged (same number). The customer's
    open credit notes are applied to it (docs/invoicing.md)."""
    inv, _ = _get(session, principal, invoice_id)
    done = invoices.issue(session, inv)
    return invoice_view(
        done,
        settled=payments.settlements(session, [done.id])[done.id],
        today=payments.billing_today(session, done.customer_id),
    )


class CreditIn(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=credit_notes.MAX_REASON)]


@router.post("/invoices/{invoice_id}/credit-note", status_code=201)
def credit_invoice(
    invoice_id: Id, body: CreditIn, session: SessionDep, principal: InvoiceGenerator
) -> dict[str, Any]:
    """Reverse an Issued or Paid invoice in full with a credit note (numbered
    now, from the seller's credit-note series); the invoice becomes Credited.
    The period then has no live invoice: generate a new one if it is due.
    409 when it is credited already, a credit note, or not issued."""
    inv, _ = _get(session, principal, invoice_id)
    get_customer(session, principal, inv.customer_id, Permission.GENERATE_INVOICES)
    note = credit_notes.credit_in_full(session, inv, reason=body.reason)
    return invoice_view(note, settled=payments.settlements(session, [note.id])[note.id])


class QuarterlyIn(BaseModel):
    customer_id: Id
    quarter: str = Field(
        pattern=r"^[0-9]{4}-Q[1-4]$",
        examples=["2026-Q3"],
        description="The quarter invoiced in advance, YYYY-Qn (Q3 = July to September).",
    )
    override_amount: Amount | None = Field(
        None,
        description="Charge this amount (before tax) instead of the projection; needs a reason.",
    )
    reason: str | None = Field(
        None,
        max_length=quarterly.MAX_REASON,
        description="Why the projection is overridden (printed on the invoice, audited).",
    )


@router.post("/invoices/quarterly", status_code=201)
def generate_quarterly(
    body: QuarterlyIn, session: SessionDep, principal: InvoiceGenerator
) -> dict[str, Any]:
    """A Ready quarterly invoice for a customer whose contract is invoiced
    quarterly: the quarter charged in advance, projected as the average of the
    three completed months before it times 3, or the override amount with its
    reason (docs/invoicing.md, "Quarterly invoices"). A Ready version is
    superseded by the new one; an issued one is refused (409: its true-up
    corrects it). 422 names the field: `invoice_type` for a monthly contract,
    a basis month still open, an override without a reason or not positive."""
    customer = get_customer(session, principal, body.customer_id, Permission.GENERATE_INVOICES)
    done = quarterly.generate_quarterly(
        session,
        customer,
        body.quarter,
        override_amount=body.override_amount,
        reason=body.reason,
    )
    return invoice_view(done.invoice)


@router.post(
    "/invoices/{invoice_id}/true-up",
    responses={201: {"description": "Trued up with a true-up invoice or a credit note"}},
)
def true_up(
    invoice_id: Id, response: Response, session: SessionDep, principal: InvoiceGenerator
) -> dict[str, Any]:
    """True up an issued quarterly invoice once its quarter's months have
    closed and been billed: the difference actual - charged becomes a Ready
    true-up invoice (more was used) or an issued credit note (less), linked
    both ways; 0.00 is recorded with no document. 201 when a document was
    made, 200 otherwise; 409 when trued up already or not issued."""
    inv, _ = _get(session, principal, invoice_id)
    get_customer(session, principal, inv.customer_id, Permission.GENERATE_INVOICES)
    done = quarterly.true_up(session, inv.id)
    if done.document is not None:
        response.status_code = 201
    cur = done.invoice.currency
    doc = done.document
    return {
        "invoice": invoice_view(done.invoice),
        "actual": money_plain(done.actual, cur),
        "charged": money_plain(done.charged, cur),
        "difference": money_plain(done.difference, cur),
        "document": invoice_view(doc, settled=payments.settlements(session, [doc.id])[doc.id])
        if doc is not None
        else None,
    }
