"""Monthly invoices from the current billing runs; refresh; gapless issue numbers.

Rounding boundary: each invoice line is rounded to the currency's minor unit
with the contract's mode (default ROUND_HALF_UP); the subtotal is the sum of
the rounded lines; the tax line is the rounded tax on that subtotal; the total
is the sum of all lines. So the lines always add up to the total exactly.

Refresh (`regenerate`): a new version built from the latest runs.
- An Issued live invoice is corrected per the contract's correction policy:
  `replace` cancels it (the new one is Ready; both link); `credit_note`
  leaves it issued, reverses it with a credit note (invoicing/credit_notes.py)
  and it becomes Credited. A Paid invoice, or one with payments recorded, is
  always credited: money has moved, so it is never cancelled under them.
- A Ready/Draft invoice that was never issued becomes Superseded and is kept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from rerate.billing.eligibility import Operation, check_period
from rerate.invoicing import credit_notes, credits
from rerate.invoicing.digest import issued_digest
from rerate.kit import crash
from rerate.kit.audit import record
from rerate.kit.errors import Conflict, Invalid, NotFound
from rerate.kit.money import RoundingMode, round_money
from rerate.kit.periods import local_day
from rerate.models import Contract, Invoice, InvoiceLine, InvoiceSeries, Node, Payment
from rerate.models.base import utcnow
from rerate.models.enums import (
    LIVE_INVOICE_STATUSES,
    CorrectionPolicy,
    InvoiceStatus,
    InvoiceType,
)


@dataclass(frozen=True, slots=True)
class LineInput:
    """One invoice line before rounding, as the billing runs summarise it."""

    kind: str  # usage, custom, minimum, support, credit, profile
    description: str
    quantity: Decimal
    unit: str
    amount: Decimal


def live_invoice(
    session: Session,
    customer_id: int,
    period: str,
    type_: InvoiceType = InvoiceType.MONTHLY,
    *,
    for_update: bool = False,
    with_lines: bool = True,
) -> Invoice | None:
    """The live invoice of (customer, period, type); `with_lines=False` leaves its
    lines unloaded until they are read (a refresh only retires and links it)."""
    stmt = select(Invoice).where(
        Invoice.customer_id == customer_id,
        Invoice.period == period,
        Invoice.type == type_.value,
        Invoice.status.in_([s.value for s in LIVE_INVOICE_STATUSES]),
    )
    if for_update:
        stmt = stmt.with_for_update()
    if not with_lines:
        stmt = stmt.options(lazyload(Invoice.lines))
    return session.scalar(stmt)


def series_for(session: Session, contract: Contract) -> InvoiceSeries:
    """One gapless series per seller (the reseller issuing the invoices)."""
    seller = session.get(Node, contract.seller_id)
    if seller is None:
        raise NotFound("seller not found")
    key = f"S{seller.id}"
    series = session.get(InvoiceSeries, key)
    if series is None:
        prefix = "".join(ch for ch in seller.name.upper() if ch.isalnum())[:6] or "INV"
        # Two customers of one seller may create its series at once: the
        # primary key lets one insert win; the other reads the winner's row.
        try:
            with session.begin_nested():
                series = InvoiceSeries(series=key, prefix=f"{prefix}-", next_number=1)
                session.add(series)
        except IntegrityError:
            series = session.get(InvoiceSeries, key, populate_existing=True)
            if series is None:  # pragma: no cover - the winner's row is committed
                raise
    return series


@dataclass(frozen=True, slots=True)
class Composed:
    """An invoice's content before it is stored: rounded lines (credit
    settlement included, tax excluded) and totals."""

    lines: tuple[tuple[LineInput, Decimal], ...]
    subtotal: Decimal
    tax_rate: Decimal
    tax: Decimal
    total: Decimal
    currency: str
    rounding_mode: RoundingMode
    settled: credits.Settled

    def tax_line(self) -> LineInput:
        rate = format((self.tax_rate * 100).normalize(), "f")
        return LineInput("tax", f"Tax {rate} %", Decimal(1), "", self.tax)


def compose(
    session: Session,
    *,
    customer: Node,
    contract: Contract,
    period: str,
    lines: Sequence[LineInput],
    exclude_invoice_id: int | None = None,
) -> Composed:
    """Round the lines, settle credits (invoicing/credits.py) and compute tax
    on the subtotal after credits. Raises `NegativeInvoice` when the charges
    themselves are negative. `exclude_invoice_id`: the live version a refresh
    replaces (its applied credit is free again)."""
    mode = RoundingMode(contract.rounding_mode)
    currency = contract.currency
    tax_rate = customer.tax_rate if customer.tax_rate is not None else Decimal(0)
    rounded = [
        (line, round_money(line.amount, currency, mode))
        for line in lines
        if line.amount != 0 or line.quantity != 0
    ]
    settled = credits.settle(
        [(line.kind, amount) for line, amount in rounded],
        credits.available(
            session, customer.id, currency, period, exclude_invoice_id=exclude_invoice_id
        ),
    )
    rounded.extend(
        (LineInput(kind, description, Decimal(1), "", amount), amount)
        for kind, description, amount in settled.extra
    )
    subtotal = sum((amount for _, amount in rounded), Decimal(0))
    tax = round_money(subtotal * tax_rate, currency, mode)
    return Composed(
        lines=tuple(rounded),
        subtotal=subtotal,
        tax_rate=tax_rate,
        tax=tax,
        total=subtotal + tax,
        currency=currency,
        rounding_mode=mode,
        settled=settled,
    )


def same_content(invoice: Invoice, composed: Composed) -> bool:
    """Whether `invoice` already says exactly what `composed` would (same lines
    in order, same totals): a refresh then changes nothing."""
    if (invoice.currency, invoice.subtotal, invoice.tax_rate, invoice.tax, invoice.total) != (
        composed.currency,
        composed.subtotal,
        composed.tax_rate,
        composed.tax,
        composed.total,
    ):
        return False
    wanted = [*composed.lines, (composed.tax_line(), composed.tax)]
    have = [(ln.kind, ln.description, ln.quantity, ln.unit, ln.amount) for ln in invoice.lines]
    return have == [
        (line.kind, line.description, line.quantity, line.unit, amount) for line, amount in wanted
    ]


def build_invoice(
    session: Session,
    *,
    customer: Node,
    contract: Contract,
    period: str,
    composed: Composed,
    run_ids: Sequence[int],
    job_id: int | None = None,
    type_: InvoiceType = InvoiceType.MONTHLY,
) -> Invoice:
    """A new Ready invoice (not yet linked to earlier versions), with its
    credit-balance movements. Every type but credit notes numbers from the
    seller's one series (quarterly and true-up invoices too)."""
    series = series_for(session, contract)
    invoice = Invoice(
        customer_id=customer.id,
        period=period,
        type=type_.value,
        status=InvoiceStatus.READY.value,
        series=series.series,
        currency=composed.currency,
        subtotal=composed.subtotal,
        tax_rate=composed.tax_rate,
        tax=composed.tax,
        total=composed.total,
        rounding_mode=composed.rounding_mode.value,
        run_ids=json.dumps(sorted(run_ids)),
        job_id=job_id,
    )
    session.add(invoice)
    session.flush()
    lines_out = [
        InvoiceLine(
            invoice_id=invoice.id,
            position=position,
            kind=line.kind,
            description=line.description,
            quantity=line.quantity,
            unit=line.unit,
            amount=amount,
        )
        for position, (line, amount) in enumerate(
            [*composed.lines, (composed.tax_line(), composed.tax)], start=1
        )
    ]
    session.add_all(lines_out)
    credits.record(session, invoice, composed.settled)
    session.flush()
    # The collection is exactly the rows just inserted, in position order: set
    # it as loaded rather than reading it back.
    set_committed_value(invoice, "lines", lines_out)
    return invoice


def needs_credit_note(session: Session, previous: Invoice, contract: Contract) -> bool:
    """Whether correcting the live invoice `previous` takes a credit note: it
    was issued and the contract says so, or money has moved on it (Paid, or
    payments recorded, even reversed ones: their history stays on it)."""
    status = InvoiceStatus(previous.status)
    if status == InvoiceStatus.PAID:
        return True
    if status != InvoiceStatus.ISSUED:
        return False
    if contract.correction_policy == CorrectionPolicy.CREDIT_NOTE.value:
        return True
    return (
        session.scalar(select(Payment.id).where(Payment.invoice_id == previous.id).limit(1))
        is not None
    )


def retire(previous: Invoice) -> list[int]:
    """Take the live invoice out of service before its new version is inserted
    (the one-live-invoice index would refuse both at once): Issued becomes
    Cancelled, Ready or Draft becomes Superseded; returns the cancelled ids.
    (An invoice that `needs_credit_note` is credited instead, never retired.)

    The caller holds `previous` locked (`live_invoice(..., for_update=True)`)
    so two refreshes cannot both replace the same invoice.
    """
    status = InvoiceStatus(previous.status)
    if status == InvoiceStatus.PAID:
        raise Conflict(
            f"invoice {previous.number} for {previous.period} is paid; it is corrected by a "
            "credit note, never cancelled"
        )
    if status == InvoiceStatus.ISSUED:
        previous.status = InvoiceStatus.CANCELLED.value
        previous.cancelled_at = utcnow()
        return [previous.id]
    previous.status = InvoiceStatus.SUPERSEDED.value
    return []


def link(previous: Invoice, new: Invoice) -> None:
    """Link two versions both ways (`replaces` / `replaced_by`)."""
    previous.replaced_by_id = new.id
    new.replaces_id = previous.id
    new.version = previous.version + 1


def due_date_for(session: Session, invoice: Invoice, issued_at: datetime) -> date:
    """The issue day in the contract's billing zone plus its payment terms
    (contracts always carry them; 30 days when the customer has no active
    contract any more)."""
    contract = session.scalar(
        select(Contract).where(
            Contract.customer_id == invoice.customer_id, Contract.active.is_(True)
        )
    )
    tz = contract.billing_tz if contract is not None else "UTC"
    days = contract.payment_terms_days if contract is not None else 30
    return local_day(issued_at, tz) + timedelta(days=days)


def issue(session: Session, invoice: Invoice, *, at: datetime | None = None) -> Invoice:
    """Assign the next number of the series and mark Issued; idempotent.

    `at` (default now) is when it was issued: only the demo, which builds
    a past history, gives an earlier instant, never a later one.

    The invoice row is locked first (`FOR UPDATE`, re-read: PostgreSQL hands
    a waiting caller the row as the first issuer committed it; SQLite
    serialises writers), so of concurrent callers one issues and the others
    find it Issued and get the same number. Then the series row is locked
    for the rest of the transaction, so numbers are gapless: a number is
    taken only by a transaction that commits the issued invoice.
    """
    locked = session.scalar(
        select(Invoice)
        .where(Invoice.id == invoice.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is None:
        raise NotFound("not found")
    invoice = locked
    if invoice.status == InvoiceStatus.ISSUED.value:
        return invoice  # issued already (a retry, or a concurrent caller): same number
    if invoice.type == InvoiceType.CREDIT_NOTE.value:  # pragma: no cover - issued when made
        raise Conflict("a credit note is issued when it is made")
    if invoice.status != InvoiceStatus.READY.value:
        raise Conflict(f"only a Ready invoice can be issued; this one is {invoice.status}")
    customer = session.get(Node, invoice.customer_id)
    if customer is None:
        raise NotFound("customer not found")
    # An invoice for a period that is not eligible (the open month, say) may
    # exist if it was made by hand or before the rules; it is never issued.
    if invoice.type == InvoiceType.MONTHLY.value:
        check_period(session, customer, invoice.period, Operation.INVOICE_ISSUE)
    else:  # quarterly and true-up invoices: a quarter, checked by their module
        from rerate.invoicing import quarterly  # here: quarterly imports this module

        quarterly.check_issue(session, customer, invoice)
    series = session.scalar(
        select(InvoiceSeries).where(InvoiceSeries.series == invoice.series).with_for_update()
    )
    if series is None:
        raise Invalid(f"invoice series {invoice.series} is missing")
    invoice.number = f"{series.prefix}{series.next_number:06d}"
    series.next_number += 1
    invoice.status = InvoiceStatus.ISSUED.value
    now = utcnow()
    if at is not None and at > now:
        raise Invalid("an invoice cannot be issued in the future")
    invoice.issued_at = at or now
    invoice.due_date = due_date_for(session, invoice, invoice.issued_at)
    # The digest of what the customer is sent, append-only in the audit log:
    # `rerate check` compares issued invoices with it.
    record(
        session,
        "issue",
        "invoices",
        invoice.id,
        number=invoice.number,
        total=invoice.total,
        digest=issued_digest(invoice),
    )
    session.flush()
    # Open credit notes of the customer settle it first (docs/invoicing.md).
    for applied in credit_notes.apply_open_credit(session, invoice):
        record(
            session,
            "credit_applied",
            "invoices",
            invoice.id,
            credit_note_id=applied.note_id,
            number=applied.number,
            amount=applied.amount,
        )
    crash.point("issue.after_number")
    return invoice
