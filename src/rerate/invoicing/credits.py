"""Credits never make an invoice negative; what is left is a customer credit balance.

Rules (docs/invoicing.md, "Credits and balances"):
- The period's credit lines (contract credits) are applied up to the amount
  of the other lines (before tax). What they cannot absorb is *carried out*:
  a "Credit carried forward to next invoice" line brings the subtotal to
  zero, and a `carried_out` ledger row records the amount.
- A carried-out amount becomes available once its invoice is Issued (it then
  has a number to cite) and only to invoices of later periods of the same
  customer and currency. A later invoice *applies* it up to its own amount
  ("Credit brought forward from <number>"), oldest source first; an `applied`
  row names the source invoice.
- Movements count only while their invoice is in force: a carried-out amount
  while the invoice is Issued or Paid, an applied one while its invoice is
  live (Draft, Ready, Issued, Paid). A refresh cancels or supersedes the old
  version, whose rows then stop counting, and the new version records its
  own: the balance is recomputed, never doubled (and the unique constraint on
  (invoice, source, kind) refuses a second movement on one version).
- Tax is computed on the subtotal after credits, which is never negative.

The caller holds the customer lock (`generate.lock_customer`), so two
generations for one customer never both spend the same balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.kit.errors import Conflict
from rerate.models import CreditBalanceEntry, Invoice
from rerate.models.enums import LIVE_INVOICE_STATUSES, InvoiceStatus

CARRIED_OUT = "carried_out"
APPLIED = "applied"
CREDIT_KINDS = frozenset({"credit"})
CARRIED_LINE = "credit_carried_forward"
BROUGHT_LINE = "credit_brought_forward"
_ISSUED = (InvoiceStatus.ISSUED.value, InvoiceStatus.PAID.value)
_LIVE = tuple(s.value for s in LIVE_INVOICE_STATUSES)


class NegativeInvoice(Conflict):
    """The period's charges themselves are negative (not a credit the balance
    can carry): a genuine correction, which needs a credit note (issue 14 §4).
    Generation refuses it with this reason rather than issuing a negative invoice."""


@dataclass(frozen=True, slots=True)
class Available:
    source_id: int
    number: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Settled:
    """Lines after credits: (kind, description, amount) to append, the amount
    carried out and the amounts applied per source invoice."""

    extra: tuple[tuple[str, str, Decimal], ...]
    carried: Decimal
    applied: tuple[tuple[int, Decimal], ...]


def settle(amounts: Sequence[tuple[str, Decimal]], available: Sequence[Available]) -> Settled:
    """Apply the period's credits, then the brought-forward balance, to rounded
    line amounts `(kind, amount)`; pure (tests check it with hypothesis)."""
    charges = sum((a for k, a in amounts if k not in CREDIT_KINDS), Decimal(0))
    if charges < 0:
        raise NegativeInvoice(
            f"the period's charges come to {charges}: a negative invoice is not issued; "
            "correct the earlier invoice with a credit note"
        )
    credits = -sum((a for k, a in amounts if k in CREDIT_KINDS), Decimal(0))
    extra: list[tuple[str, str, Decimal]] = []
    carried = Decimal(0)
    remaining = charges - credits
    if remaining < 0:
        carried = -remaining
        extra.append((CARRIED_LINE, "Credit carried forward to next invoice", carried))
        remaining = Decimal(0)
    applied: list[tuple[int, Decimal]] = []
    for source in available:
        if remaining <= 0:
            break
        take = min(remaining, source.amount)
        if take <= 0:
            continue
        extra.append((BROUGHT_LINE, f"Credit brought forward from {source.number}", -take))
        applied.append((source.source_id, take))
        remaining -= take
    return Settled(tuple(extra), carried, tuple(applied))


def available(
    session: Session,
    customer_id: int,
    currency: str,
    period: str,
    *,
    exclude_invoice_id: int | None = None,
) -> list[Available]:
    """Credit carried out of earlier periods' issued invoices and not yet applied
    by a live invoice (other than `exclude_invoice_id`, the version a refresh
    replaces), oldest first."""
    sources = session.execute(
        select(CreditBalanceEntry.source_invoice_id, Invoice.number, CreditBalanceEntry.amount)
        .join(Invoice, Invoice.id == CreditBalanceEntry.invoice_id)
        .where(
            CreditBalanceEntry.customer_id == customer_id,
            CreditBalanceEntry.currency == currency,
            CreditBalanceEntry.kind == CARRIED_OUT,
            Invoice.status.in_(_ISSUED),
            Invoice.period < period,
        )
        .order_by(Invoice.period, Invoice.id)
    ).all()
    if not sources:
        return []
    spent_q = (
        select(CreditBalanceEntry.source_invoice_id, CreditBalanceEntry.amount)
        .join(Invoice, Invoice.id == CreditBalanceEntry.invoice_id)
        .where(
            CreditBalanceEntry.kind == APPLIED,
            CreditBalanceEntry.source_invoice_id.in_([s for s, _n, _a in sources]),
            Invoice.status.in_(_LIVE),
        )
    )
    if exclude_invoice_id is not None:
        spent_q = spent_q.where(CreditBalanceEntry.invoice_id != exclude_invoice_id)
    spent: dict[int, Decimal] = {}
    for source_id, amount in session.execute(spent_q):
        spent[source_id] = spent.get(source_id, Decimal(0)) + amount
    out = []
    for source_id, number, amount in sources:
        left = amount - spent.get(source_id, Decimal(0))
        if left > 0:
            out.append(Available(source_id, number or f"#{source_id}", left))
    return out


def record(session: Session, invoice: Invoice, settled: Settled) -> None:
    """The new invoice version's movements (after it has an id)."""
    rows = []
    if settled.carried > 0:
        rows.append(
            CreditBalanceEntry(
                customer_id=invoice.customer_id,
                currency=invoice.currency,
                invoice_id=invoice.id,
                source_invoice_id=invoice.id,
                kind=CARRIED_OUT,
                amount=settled.carried,
            )
        )
    rows.extend(
        CreditBalanceEntry(
            customer_id=invoice.customer_id,
            currency=invoice.currency,
            invoice_id=invoice.id,
            source_invoice_id=source_id,
            kind=APPLIED,
            amount=amount,
        )
        for source_id, amount in settled.applied
    )
    session.add_all(rows)


def balance(session: Session, customer_id: int) -> dict[str, Decimal]:
    """Per currency: the credit the customer holds (carried out of issued
    invoices, less what live invoices applied)."""
    out: dict[str, Decimal] = {}
    for kind, currency, amount, status in session.execute(
        select(
            CreditBalanceEntry.kind,
            CreditBalanceEntry.currency,
            CreditBalanceEntry.amount,
            Invoice.status,
        )
        .join(Invoice, Invoice.id == CreditBalanceEntry.invoice_id)
        .where(CreditBalanceEntry.customer_id == customer_id)
    ):
        if kind == CARRIED_OUT and status in _ISSUED:
            out[currency] = out.get(currency, Decimal(0)) + amount
        elif kind == APPLIED and status in _LIVE:
            out[currency] = out.get(currency, Decimal(0)) - amount
    return out
