"""Payments over HTTP: list and record them on an invoice, reverse one, and a
customer's balance. Recording and reversing need `record_payments` on the
invoice's customer; reading follows the invoice's own visibility rules
(`endpoints._get`). Ids outside the caller's subtree answer 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from rerate.api.deps import InvoiceViewer, PaymentRecorder, SessionDep
from rerate.api.fields import Amount, BillingDate, Id
from rerate.auth.permissions import Permission, Principal
from rerate.invoicing import endpoints as invoices_api
from rerate.invoicing import payments, visibility
from rerate.kit.errors import Forbidden, NotFound
from rerate.kit.money import round_money
from rerate.kit.present import money_plain
from rerate.models import Invoice, Payment
from rerate.tenancy.service import get_customer

router = APIRouter(tags=["invoices"])


def payment_view(p: Payment) -> dict[str, Any]:
    return {
        "id": p.id,
        "invoice_id": p.invoice_id,
        "amount": money_plain(round_money(p.amount, p.currency), p.currency),
        "currency": p.currency,
        "date": p.paid_on,
        "reference": p.reference,
        "reverses": p.reverses_id,
        # Set when this is a credit note applied to the invoice (no money moved).
        "credit_note": p.credit_note_id,
        "reason": p.reason or None,
        "created_at": p.created_at,
    }


def _summary(session: Session, inv: Invoice) -> dict[str, Any]:
    rows = payments.payments_of(session, inv.id)
    reversed_ids = {p.reverses_id for p in rows if p.reverses_id is not None}
    paid = payments.paid_amount(session, inv.id)
    owed = payments.outstanding(session, inv)
    return {
        "items": [{**payment_view(p), "reversed": p.id in reversed_ids} for p in rows],
        "total": len(rows),
        "invoice_status": inv.status,
        "currency": inv.currency,
        "amount_paid": money_plain(round_money(paid, inv.currency), inv.currency),
        "outstanding": money_plain(round_money(owed, inv.currency), inv.currency),
        "due_date": inv.due_date,
        "overdue": payments.is_overdue(inv, owed, payments.billing_today(session, inv.customer_id)),
    }


def _recordable(session: Session, principal: Principal, invoice_id: int) -> Invoice:
    """The invoice, if the caller sees it and may record payments on it."""
    inv, customer = invoices_api._get(session, principal, invoice_id)
    if not principal.has(Permission.RECORD_PAYMENTS, customer.path):
        raise Forbidden(f"your role does not grant {Permission.RECORD_PAYMENTS.value}")
    return inv


@router.get("/invoices/{invoice_id}/payments")
def list_payments(invoice_id: Id, session: SessionDep, principal: InvoiceViewer) -> dict[str, Any]:
    """Payments and reversals, oldest first, with what is paid and outstanding."""
    inv, _ = invoices_api._get(session, principal, invoice_id)
    return _summary(session, inv)


class PaymentIn(BaseModel):
    amount: Amount = Field(description="Money received, in the invoice's currency.")
    date: BillingDate = Field(description="The day the money was received.")
    reference: str = Field("", max_length=payments.MAX_REFERENCE, examples=["SEPA 2026-10-04"])


@router.post("/invoices/{invoice_id}/payments", status_code=201)
def record_payment(
    invoice_id: Id, body: PaymentIn, session: SessionDep, principal: PaymentRecorder
) -> dict[str, Any]:
    """Record a full or partial payment; the invoice becomes Paid when nothing
    is left owing. More than the outstanding amount is refused (422)."""
    inv = _recordable(session, principal, invoice_id)
    payment = payments.record_payment(
        session,
        inv.id,
        amount=body.amount,
        paid_on=body.date,
        reference=body.reference,
        user_id=principal.user_id,
    )
    return {**payment_view(payment), "invoice": _summary(session, inv)}


class ReversalIn(BaseModel):
    reason: str = Field(min_length=1, max_length=payments.MAX_REASON)


@router.post("/payments/{payment_id}/reversal", status_code=201)
def reverse_payment(
    payment_id: Id, body: ReversalIn, session: SessionDep, principal: PaymentRecorder
) -> dict[str, Any]:
    """Reverse a payment (a new row; the payment stays); reopens a Paid invoice."""
    found = session.get(Payment, payment_id)
    if found is None:
        raise NotFound(f"payment {payment_id} not found")
    try:
        inv = _recordable(session, principal, found.invoice_id)
    except NotFound:
        raise NotFound(f"payment {payment_id} not found") from None
    reversal = payments.reverse_payment(
        session, found.id, reason=body.reason, user_id=principal.user_id
    )
    return {**payment_view(reversal), "invoice": _summary(session, inv)}


@router.get("/customers/{customer_id}/balance")
def customer_balance(
    customer_id: Id, session: SessionDep, principal: InvoiceViewer
) -> dict[str, Any]:
    """Per currency: invoiced (Issued and Paid), paid (money received), credited
    (credit notes applied), outstanding, overdue, the contract credit carried
    to the next invoice and credit notes not yet applied."""
    customer = get_customer(session, principal, customer_id, Permission.VIEW_INVOICES)
    visibility.require_visible(session, principal, customer)
    items = []
    for b in payments.customer_balance(session, customer.id):

        def m(amount: Any, currency: str = b.currency) -> str:
            return money_plain(round_money(amount, currency), currency)

        items.append(
            {
                "currency": b.currency,
                "invoiced": m(b.invoiced),
                "paid": m(b.paid),
                "credited": m(b.credited),
                "outstanding": m(b.outstanding),
                "overdue": m(b.overdue),
                "credit": m(b.credit),
                "open_credit_notes": m(b.open_credit_notes),
            }
        )
    return {"customer_id": customer.id, "items": items}
