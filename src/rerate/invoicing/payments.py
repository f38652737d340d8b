"""Payments against issued invoices, their reversals, and what is outstanding.

- A payment is a positive amount (at most the currency's minor unit), a date
  (not in the future) and a reference, recorded against an Issued invoice.
  Partial payments add up; the payment that brings the outstanding amount to
  zero marks the invoice Paid.
- Over-payment is refused (422): money received beyond an invoice's total is
  not turned into customer credit here, because the credit balance
  (invoicing/credits.py) only holds credit that contracts grant; the finance
  team records the part that settles the invoice and refunds or books the rest.
- A reversal is a new row (negative amount, `reverses_id`, a reason), never
  an edit or a delete; each payment can be reversed once (unique constraint).
  A reversal that reopens a Paid invoice puts it back to Issued.
- "Overdue" is derived, not stored: due date before today (in the contract's
  billing zone) and an outstanding amount above zero.
- Both operations lock the invoice row first (`FOR UPDATE`, re-read), so two
  payments recorded at once are serialised and cannot over-pay between them
  (SQLite serialises writers anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from rerate.invoicing import credits
from rerate.kit.audit import record
from rerate.kit.errors import Conflict, Invalid, NotFound
from rerate.kit.money import round_money
from rerate.kit.periods import local_day
from rerate.models import Contract, Invoice, Payment
from rerate.models.base import utcnow
from rerate.models.enums import InvoiceStatus, InvoiceType

PAYABLE = (InvoiceStatus.ISSUED.value, InvoiceStatus.PAID.value)
MAX_REFERENCE = 200
MAX_REASON = 400


def _locked(session: Session, invoice_id: int) -> Invoice:
    invoice = session.scalar(
        select(Invoice)
        .where(Invoice.id == invoice_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if invoice is None:
        raise NotFound(f"invoice {invoice_id} not found")
    return invoice


def paid_amount(session: Session, invoice_id: int) -> Decimal:
    """Payments less reversals. Summed in Python: SQLite's SUM over a decimal
    column answers a float."""
    return sum(
        session.scalars(select(Payment.amount).where(Payment.invoice_id == invoice_id)),
        Decimal(0),
    )


@dataclass(frozen=True, slots=True)
class Settlement:
    """What settles an invoice: money `paid` (payments less reversals), credit
    notes `credited` to it; for a credit note, how much of it was `applied`."""

    paid: Decimal = Decimal(0)
    credited: Decimal = Decimal(0)
    applied: Decimal = Decimal(0)


def settlements(
    session: Session, ids: Sequence[int], *, page: Select[Any] | None = None
) -> dict[int, Settlement]:
    """`Settlement` per invoice id, in one query for a page of invoices.
    `page`, when given, selects the same ids as a subquery: a list of ids is
    rendered into the statement anew on every call, a subquery is compiled
    once. Summed in Python: SQLite's SUM over a decimal column answers a float."""
    paid = dict.fromkeys(ids, Decimal(0))
    credited = dict.fromkeys(ids, Decimal(0))
    applied = dict.fromkeys(ids, Decimal(0))
    if ids:
        chosen: Any = page if page is not None else list(ids)
        for invoice_id, note_id, amount in session.execute(
            select(Payment.invoice_id, Payment.credit_note_id, Payment.amount).where(
                Payment.invoice_id.in_(chosen) | Payment.credit_note_id.in_(chosen)
            )
        ):
            if invoice_id in paid:  # money received, or a credit note applied, on it
                into = paid if note_id is None else credited
                into[invoice_id] += amount
            if note_id is not None and note_id in applied:  # a credit note of the page
                applied[note_id] += amount
    return {i: Settlement(paid[i], credited[i], applied[i]) for i in ids}


def outstanding(session: Session, invoice: Invoice) -> Decimal:
    """What is still owed on an Issued or Paid invoice (0 for any other status,
    and for a credit note, whose open amount is `credit_notes.open_amount`)."""
    if invoice.status not in PAYABLE or invoice.type == InvoiceType.CREDIT_NOTE.value:
        return Decimal(0)
    return invoice.total - paid_amount(session, invoice.id)


def billing_today(session: Session, customer_id: int) -> date:
    return billing_day(session, customer_id, utcnow())


def billing_day(session: Session, customer_id: int, instant: datetime) -> date:
    """The calendar day of `instant` in the customer's billing zone."""
    tz = session.scalar(
        select(Contract.billing_tz).where(
            Contract.customer_id == customer_id, Contract.active.is_(True)
        )
    )
    return local_day(instant, tz or "UTC")


def is_overdue(invoice: Invoice, owed: Decimal, today: date) -> bool:
    return (
        invoice.status == InvoiceStatus.ISSUED.value
        and invoice.due_date is not None
        and invoice.due_date < today
        and owed > 0
    )


def _amount(value: Decimal, currency: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise Invalid('amount: a decimal number, e.g. "120.50"')
    if value <= 0:
        raise Invalid("amount: must be greater than zero")
    if round_money(value, currency) != value:
        raise Invalid(f"amount: at most the minor unit of {currency} (e.g. 120.50)")
    return value


def record_payment(
    session: Session,
    invoice_id: int,
    *,
    amount: Decimal,
    paid_on: date,
    reference: str,
    user_id: int | None,
) -> Payment:
    """Record money received; marks the invoice Paid when nothing is left owing."""
    invoice = _locked(session, invoice_id)
    if invoice.type == InvoiceType.CREDIT_NOTE.value:
        raise Conflict(f"{invoice.number} is a credit note; it takes no payments")
    if invoice.status == InvoiceStatus.PAID.value:
        raise Conflict(f"invoice {invoice.number} is paid in full already")
    if invoice.status != InvoiceStatus.ISSUED.value:
        raise Conflict(f"only an Issued invoice takes payments; this one is {invoice.status}")
    amount = _amount(amount, invoice.currency)
    reference = reference.strip()
    if len(reference) > MAX_REFERENCE or not reference.isprintable():
        raise Invalid(f"reference: at most {MAX_REFERENCE} printable characters")
    if paid_on > billing_today(session, invoice.customer_id):
        raise Invalid("date: a payment cannot be dated in the future")
    owed = invoice.total - paid_amount(session, invoice.id)
    if amount > owed:
        raise Invalid(
            f"amount: {amount} {invoice.currency} is more than the {owed} {invoice.currency} "
            f"outstanding on invoice {invoice.number}; over-payments are not recorded"
        )
    payment = Payment(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        amount=amount,
        currency=invoice.currency,
        paid_on=paid_on,
        reference=reference,
        created_by=user_id,
    )
    session.add(payment)
    if amount == owed:
        invoice.status = InvoiceStatus.PAID.value
        invoice.paid_at = utcnow()
    session.flush()
    record(
        session,
        "payment",
        "invoices",
        invoice.id,
        payment_id=payment.id,
        amount=amount,
        paid_on=paid_on.isoformat(),
        reference=reference,
        status=invoice.status,
    )
    return payment


def reverse_payment(
    session: Session, payment_id: int, *, reason: str, user_id: int | None
) -> Payment:
    """Reverse a payment with a row of its own; reopens a Paid invoice."""
    found = session.get(Payment, payment_id)
    if found is None:
        raise NotFound(f"payment {payment_id} not found")
    reason = reason.strip()
    if not reason:
        raise Invalid("reason: required (why is this payment reversed?)")
    if len(reason) > MAX_REASON:
        raise Invalid(f"reason: at most {MAX_REASON} characters")
    invoice = _locked(session, found.invoice_id)
    if found.reverses_id is not None:
        raise Conflict("a reversal cannot be reversed; record a new payment instead")
    if found.credit_note_id is not None:
        raise Conflict(
            f"this is credit note {found.reference} applied to the invoice, not money received; "
            "it is not reversed"
        )
    if invoice.status == InvoiceStatus.CREDITED.value:
        raise Conflict(
            f"invoice {invoice.number} is credited; a payment on it is no longer reversed "
            "(record the refund or the charge as a new invoice)"
        )
    if session.scalar(select(Payment.id).where(Payment.reverses_id == found.id)) is not None:
        raise Conflict(f"payment {found.id} is reversed already")
    reversal = Payment(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        amount=-found.amount,
        currency=found.currency,
        paid_on=billing_today(session, invoice.customer_id),
        reference=found.reference,
        reverses_id=found.id,
        reason=reason,
        created_by=user_id,
    )
    session.add(reversal)
    session.flush()
    if invoice.status == InvoiceStatus.PAID.value and outstanding(session, invoice) > 0:
        invoice.status = InvoiceStatus.ISSUED.value
        invoice.paid_at = None
        session.flush()
    record(
        session,
        "payment_reversal",
        "invoices",
        invoice.id,
        payment_id=found.id,
        reversal_id=reversal.id,
        amount=reversal.amount,
        reason=reason,
        status=invoice.status,
    )
    return reversal


def payments_of(session: Session, invoice_id: int) -> Sequence[Payment]:
    return session.scalars(
        select(Payment).where(Payment.invoice_id == invoice_id).order_by(Payment.id)
    ).all()


@dataclass(frozen=True, slots=True)
class CurrencyBalance:
    currency: str
    invoiced: Decimal  # totals of Issued and Paid invoices
    paid: Decimal  # money received on them (payments less reversals)
    credited: Decimal  # credit notes applied to them (no money moved)
    outstanding: Decimal  # invoiced - paid - credited
    overdue: Decimal
    credit: Decimal  # contract credit carried to the next invoice
    open_credit_notes: Decimal  # credit notes not yet applied to an invoice


def customer_balance(session: Session, customer_id: int) -> list[CurrencyBalance]:
    """Per currency: invoiced, paid, credited, outstanding and overdue
    amounts, carried credit and open credit notes (docs/invoicing.md)."""
    from rerate.invoicing import credit_notes  # credit_notes builds on this module

    today = billing_today(session, customer_id)
    invoices = session.scalars(
        select(Invoice).where(
            Invoice.customer_id == customer_id,
            Invoice.status.in_(PAYABLE),
            Invoice.type != InvoiceType.CREDIT_NOTE.value,
        )
    ).all()
    paid: dict[int, Decimal] = {}
    credited: dict[int, Decimal] = {}
    for invoice_id, amount, note_id in session.execute(
        select(Payment.invoice_id, Payment.amount, Payment.credit_note_id).where(
            Payment.customer_id == customer_id
        )
    ):
        into = paid if note_id is None else credited
        into[invoice_id] = into.get(invoice_id, Decimal(0)) + amount
    zero = Decimal(0)
    sums: dict[str, list[Decimal]] = {}
    for inv in invoices:
        got, cred = paid.get(inv.id, zero), credited.get(inv.id, zero)
        owed = inv.total - got - cred
        row = sums.setdefault(inv.currency, [zero] * 5)
        row[0] += inv.total
        row[1] += got
        row[2] += cred
        row[3] += owed
        if is_overdue(inv, owed, today):
            row[4] += owed
    credit = credits.balance(session, customer_id)
    notes: dict[str, Decimal] = {}
    for currency in {
        c
        for (c,) in session.execute(
            select(Invoice.currency)
            .where(
                Invoice.customer_id == customer_id, Invoice.type == InvoiceType.CREDIT_NOTE.value
            )
            .distinct()
        )
    }:
        left = sum((a for _, a in credit_notes.open_notes(session, customer_id, currency)), zero)
        if left:
            notes[currency] = left
    out = []
    for currency in sorted(sums.keys() | credit.keys() | notes.keys()):
        invoiced, got, cred, owed, late = sums.get(currency, [zero] * 5)
        out.append(
            CurrencyBalance(
                currency,
                invoiced,
                got,
                cred,
                owed,
                late,
                credit.get(currency, zero),
                notes.get(currency, zero),
            )
        )
    return out
