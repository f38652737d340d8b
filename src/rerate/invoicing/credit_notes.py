"""Credit notes: an issued invoice reversed in full by a numbered document.

Rules (docs/invoicing.md, "Credit notes and the correction policy"):
- A credit note is an invoice row of type `credit_note`: the original's lines
  with their amounts negated (same quantities), the same tax rate, negative
  subtotal, tax and total. It is issued when it is made, numbered from its
  seller's own gapless credit-note series (`C<seller>`, prefix `<SELLER>-CN-`).
- The original (Issued or Paid) becomes Credited; the two name each other
  (`credits_id` / `credited_by_id`). Its payments stay on it as history.
- The credit note first settles what was still owed on the original (a
  payment row with `credit_note_id`, no money moved); what is left (what the
  customer had paid) stays open on the credit note and is applied to the
  customer's next issued invoices in the same currency, oldest credit note
  first (`apply_open_credit`, called by `service.issue`).
- Full reversal, not a delta: the original and its credit note cancel out to
  the cent, and the new invoice for the period stands on its own, so every
  document reads completely without the others (docs/invoicing.md says why).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from rerate.invoicing import payments
from rerate.invoicing.digest import issued_digest
from rerate.kit.audit import record
from rerate.kit.errors import Conflict, Invalid, NotFound
from rerate.kit.money import RoundingMode, round_money
from rerate.models import Invoice, InvoiceLine, InvoiceSeries, Payment
from rerate.models.base import utcnow
from rerate.models.enums import InvoiceStatus, InvoiceType

CREDITABLE = (InvoiceStatus.ISSUED.value, InvoiceStatus.PAID.value)
MAX_REASON = 400


def series_for(session: Session, invoice: Invoice) -> InvoiceSeries:
    """The credit-note series of the seller whose invoice series `invoice` used
    (`S<id>` -> `C<id>`, prefix `<SELLER>-` -> `<SELLER>-CN-`)."""
    invoices_series = session.get(InvoiceSeries, invoice.series)
    if invoices_series is None:
        raise Invalid(f"invoice series {invoice.series} is missing")
    key = "C" + invoice.series.removeprefix("S")
    series = session.get(InvoiceSeries, key)
    if series is None:
        # Two first credit notes of one seller at once: one insert wins.
        try:
            with session.begin_nested():
                series = InvoiceSeries(
                    series=key, prefix=f"{invoices_series.prefix}CN-", next_number=1
                )
                session.add(series)
        except IntegrityError:
            series = session.get(InvoiceSeries, key, populate_existing=True)
            if series is None:  # pragma: no cover - the winner's row is committed
                raise
    return series


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


def check_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise Invalid("reason: required (why is this invoice credited?)")
    if len(reason) > MAX_REASON or not reason.isprintable():
        raise Invalid(f"reason: at most {MAX_REASON} printable characters")
    return reason


def credit_in_full(
    session: Session,
    original: Invoice,
    *,
    reason: str,
    job_id: int | None = None,
    at: datetime | None = None,
) -> Invoice:
    """Issue a credit note reversing `original` in full; `original` becomes
    Credited. Locks the original's row first, so two callers cannot both
    credit it (the second finds it Credited: 409)."""
    reason = check_reason(reason)
    original = _creditable(session, original.id)
    owed = payments.outstanding(session, original)
    series = series_for(session, original)
    note = Invoice(
        customer_id=original.customer_id,
        period=original.period,
        type=InvoiceType.CREDIT_NOTE.value,
        status=InvoiceStatus.READY.value,
        series=series.series,
        currency=original.currency,
        subtotal=-original.subtotal,
        tax_rate=original.tax_rate,
        tax=-original.tax,
        total=-original.total,
        rounding_mode=original.rounding_mode,
        run_ids=original.run_ids,
        job_id=job_id,
        credits_id=original.id,
    )
    session.add(note)
    session.flush()
    lines = [
        InvoiceLine(
            invoice_id=note.id,
            position=line.position,
            kind=line.kind,
            description=line.description,
            quantity=line.quantity,
            unit=line.unit,
            amount=-line.amount,
        )
        for line in original.lines
    ]
    session.add_all(lines)
    session.flush()
    set_committed_value(note, "lines", lines)
    issued = _issue(session, note, series.series, at)
    original.status = InvoiceStatus.CREDITED.value
    original.credited_by_id = note.id
    if owed > 0:
        _allocate(session, note, original, owed, issued)
    record(
        session,
        "credit_note",
        "invoices",
        original.id,
        credit_note_id=note.id,
        number=note.number,
        total=note.total,
        settled=owed if owed > 0 else Decimal(0),
        reason=reason,
    )
    session.flush()
    return note


def _creditable(session: Session, invoice_id: int) -> Invoice:
    """The invoice to credit, its row locked so two callers cannot both credit
    it (the second finds it Credited: 409)."""
    original = _locked(session, invoice_id)
    if original.type == InvoiceType.CREDIT_NOTE.value:
        raise Conflict(f"{original.number} is a credit note; a credit note is not credited")
    if original.status not in CREDITABLE:
        raise Conflict(f"only an Issued or Paid invoice is credited; this one is {original.status}")
    return original


def _issue(session: Session, note: Invoice, series: str, at: datetime | None) -> datetime:
    """Number `note` under the series row lock, like an invoice (gapless per
    seller), issue it, and record the digest of what the customer is sent,
    which `rerate check` compares the stored credit note with. Answers the
    issue instant."""
    locked_series = session.scalar(
        select(InvoiceSeries).where(InvoiceSeries.series == series).with_for_update()
    )
    if locked_series is None:  # pragma: no cover - created before the note
        raise Invalid(f"credit-note series {series} is missing")
    now = utcnow()
    if at is not None and at > now:
        raise Invalid("a credit note cannot be issued in the future")
    note.number = f"{locked_series.prefix}{locked_series.next_number:06d}"
    locked_series.next_number += 1
    issued = at or now
    note.status = InvoiceStatus.ISSUED.value
    note.issued_at = issued
    session.flush()
    record(
        session,
        "issue",
        "invoices",
        note.id,
        number=note.number,
        total=note.total,
        digest=issued_digest(note),
    )
    return issued


def _allocate(
    session: Session, note: Invoice, invoice: Invoice, amount: Decimal, on: datetime
) -> Payment:
    """Apply `amount` of `note` to `invoice` on the day of `on` (a payment
    row; no money moved)."""
    allocation = Payment(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        amount=amount,
        currency=invoice.currency,
        paid_on=payments.billing_day(session, invoice.customer_id, on),
        reference=note.number or "",
        credit_note_id=note.id,
    )
    session.add(allocation)
    session.flush()
    return allocation


def applied_amount(session: Session, note_id: int) -> Decimal:
    """How much of a credit note has been applied to invoices (summed in
    Python: SQLite's SUM over a decimal column answers a float)."""
    return sum(
        session.scalars(select(Payment.amount).where(Payment.credit_note_id == note_id)),
        Decimal(0),
    )


def open_amount(session: Session, note: Invoice) -> Decimal:
    """What of a credit note is still to be applied (a positive amount)."""
    if note.type != InvoiceType.CREDIT_NOTE.value or note.status != InvoiceStatus.ISSUED.value:
        return Decimal(0)
    return -note.total - applied_amount(session, note.id)


@dataclass(frozen=True, slots=True)
class Applied:
    note_id: int
    number: str
    amount: Decimal


def open_notes(session: Session, customer_id: int, currency: str) -> list[tuple[Invoice, Decimal]]:
    """The customer's credit notes with something left to apply, oldest first."""
    notes = session.scalars(
        select(Invoice)
        .where(
            Invoice.customer_id == customer_id,
            Invoice.currency == currency,
            Invoice.type == InvoiceType.CREDIT_NOTE.value,
            Invoice.status == InvoiceStatus.ISSUED.value,
        )
        .order_by(Invoice.issued_at, Invoice.id)
    ).all()
    out = []
    for note in notes:
        left = open_amount(session, note)
        if left > 0:
            out.append((note, left))
    return out


def apply_open_credit(session: Session, invoice: Invoice) -> Sequence[Applied]:
    """Settle a just-issued invoice from the customer's open credit notes
    (oldest first, up to what is owed); marks it Paid when nothing is left.
    The caller holds the invoice row lock (`service.issue`)."""
    owed = invoice.total - payments.paid_amount(session, invoice.id)
    applied: list[Applied] = []
    for note, left in open_notes(session, invoice.customer_id, invoice.currency):
        if owed <= 0:
            break
        amount = min(left, owed)
        _allocate(session, note, invoice, amount, invoice.issued_at or utcnow())
        owed -= amount
        applied.append(Applied(note.id, note.number or "", amount))
    if applied and owed == 0 and invoice.total > 0:
        invoice.status = InvoiceStatus.PAID.value
        invoice.paid_at = invoice.issued_at or utcnow()
        session.flush()
    return applied


def credit_part(
    session: Session,
    original: Invoice,
    *,
    kind: str,
    description: str,
    amount: Decimal,
    reason: str,
    job_id: int | None = None,
    at: datetime | None = None,
    true_up_of: bool = False,
) -> Invoice:
    """Issue a credit note for part of `original` (one line of `amount`, net,
    positive, at the minor unit; tax at the original's rate on top), e.g. a
    quarterly invoice's true-up (invoicing/quarterly.py). Unlike
    `credit_in_full`, the original stays in force (Issued or Paid) and is not
    marked Credited; the note names it (`credits_id`), settles what is still
    owed on it first (the original becomes Paid when nothing is left) and
    the rest is open credit for the next invoices. `true_up_of`: the note is
    the original's true-up (`true_up_of_id`, set before it is issued: the
    issued row is frozen)."""
    reason = check_reason(reason)
    original = _creditable(session, original.id)
    mode = RoundingMode(original.rounding_mode)
    if amount <= 0 or round_money(amount, original.currency, mode) != amount:
        raise Invalid(f"a partial credit is a positive amount at the minor unit, got {amount}")
    tax = round_money(amount * original.tax_rate, original.currency, mode)
    series = series_for(session, original)
    note = Invoice(
        customer_id=original.customer_id,
        period=original.period,
        type=InvoiceType.CREDIT_NOTE.value,
        status=InvoiceStatus.READY.value,
        series=series.series,
        currency=original.currency,
        subtotal=-amount,
        tax_rate=original.tax_rate,
        tax=-tax,
        total=-(amount + tax),
        rounding_mode=original.rounding_mode,
        run_ids=original.run_ids,
        job_id=job_id,
        credits_id=original.id,
        true_up_of_id=original.id if true_up_of else None,
    )
    session.add(note)
    session.flush()
    rate = format((original.tax_rate * 100).normalize(), "f")
    lines = [
        InvoiceLine(
            invoice_id=note.id,
            position=1,
            kind=kind,
            description=description,
            quantity=Decimal(1),
            unit="",
            amount=-amount,
        ),
        InvoiceLine(
            invoice_id=note.id,
            position=2,
            kind="tax",
            description=f"Tax {rate} %",
            quantity=Decimal(1),
            unit="",
            amount=-tax,
        ),
    ]
    session.add_all(lines)
    session.flush()
    set_committed_value(note, "lines", lines)
    issued = _issue(session, note, series.series, at)
    owed = payments.outstanding(session, original)
    settle = min(owed, -note.total)
    if settle > 0:
        _allocate(session, note, original, settle, issued)
        if settle == owed and original.status == InvoiceStatus.ISSUED.value:
            original.status = InvoiceStatus.PAID.value
            original.paid_at = issued
    record(
        session,
        "credit_note",
        "invoices",
        original.id,
        credit_note_id=note.id,
        number=note.number,
        total=note.total,
        settled=settle if settle > 0 else Decimal(0),
        reason=reason,
        partial=True,
    )
    session.flush()
    return note
