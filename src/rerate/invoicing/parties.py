"""Who issued a document, on what terms, and what a credit note did: read once
for the PDF (`invoicing.pdf`), the CSV (`invoicing.render`) and the e-invoice
(`invoicing.einvoice.export`), so the three never name a different seller,
different terms or a different credited invoice.

- The **seller** is the node whose number series the document took: `S<id>`
  for its invoices, `C<id>` for its credit notes (`service.series_for`,
  `credit_notes.series_for`). A contract that later changes seller does not
  change who issued an invoice already numbered. Only a document that has no
  such series falls back to the active contract's seller, then the
  customer's parent.
- The **payment terms** are those of the contract between the customer and
  that seller (the active one first), else the customer's own.
- A **credit note** cites the invoice it reverses (number and issue date), the
  reason given when it was made (kept in the audit log with the
  `credit_note` entry, not on the invoice row), and how its amount was used:
  what it settled on the credited invoice when it was issued (fixed), what it
  has settled on later invoices since, and what is still open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.billing.eligibility import active_contract
from rerate.kit.present import money_text
from rerate.models import AuditEntry, Contract, Invoice, Node, Payment
from rerate.models.enums import InvoiceStatus, InvoiceType


@dataclass(frozen=True, slots=True)
class Party:
    """Who issues or receives a document, as the tenancy node records it."""

    name: str
    address: str
    tax_id: str

    @classmethod
    def of(cls, node: Node) -> Party:
        return cls(name=node.legal_name or node.name, address=node.address, tax_id=node.tax_id)


def _series_node_id(series: str) -> int | None:
    """`S12` (invoices) or `C12` (credit notes) -> 12."""
    if series[:1] in ("S", "C") and series[1:].isdigit():
        return int(series[1:])
    return None


def seller_of(session: Session, invoice: Invoice, customer: Node) -> Node | None:
    """The node that issued `invoice` (see the module's docstring)."""
    node_id = _series_node_id(invoice.series or "")
    if node_id is not None:
        seller = session.get(Node, node_id)
        if seller is not None:
            return seller
    contract = active_contract(session, customer.id)
    if contract is not None:
        return session.get(Node, contract.seller_id)
    return session.get(Node, customer.parent_id) if customer.parent_id else None


def terms_days(session: Session, customer: Node, seller: Node | None) -> int | None:
    """Days from issue to due: the contract between the customer and the
    seller (the active one first, then the newest), else the customer's own."""
    if seller is not None:
        contract = session.scalar(
            select(Contract)
            .where(Contract.customer_id == customer.id, Contract.seller_id == seller.id)
            .order_by(Contract.active.desc(), Contract.id.desc())
            .limit(1)
        )
        if contract is not None:
            return contract.payment_terms_days
    return customer.payment_terms_days


@dataclass(frozen=True, slots=True)
class Reference:
    """Another document by number and issue date (BT-25 / BT-26)."""

    id: int
    number: str
    issued_on: date | None

    def text(self) -> str:
        return f"{self.number} of {self.issued_on.isoformat()}" if self.issued_on else self.number


def reference(invoice: Invoice | None) -> Reference | None:
    """`invoice` as a reference, when it was numbered (a version never issued
    was never sent: nothing to cite)."""
    if invoice is None or not invoice.number:
        return None
    issued = invoice.issued_at.date() if invoice.issued_at else None
    return Reference(id=invoice.id, number=invoice.number, issued_on=issued)


@dataclass(frozen=True, slots=True)
class Application:
    """Part of a credit note set against one invoice."""

    invoice: Reference | None
    on: date
    amount: Decimal  # positive


@dataclass(frozen=True, slots=True)
class CreditNoteFacts:
    """What a credit note says besides its lines (amounts positive: credit)."""

    credits: Reference | None  # the invoice it reverses
    reason: str
    amount: Decimal  # the credit: -total
    settled_at_issue: Decimal  # what was still owed on the credited invoice
    applications: tuple[Application, ...]  # oldest first, the credited invoice's included
    open_amount: Decimal  # still to be set against the next invoices
    currency: str

    @property
    def carried(self) -> Decimal:
        """What the credited invoice did not absorb: for the next invoices."""
        return self.amount - self.settled_at_issue

    def terms(self) -> str:
        """The payment terms of the credit note: nothing falls due; what it
        settled when it was issued and what goes to the next invoices. Fixed
        at issue, so the e-invoice (BT-20) never changes once sent."""
        cur = self.currency
        original = self.credits.number if self.credits else "the credited invoice"
        if self.settled_at_issue > 0 and self.carried > 0:
            return (
                f"No payment is due. This credit note settles the "
                f"{money_text(self.settled_at_issue, cur)} {cur} still owed on invoice "
                f"{original}; the other {money_text(self.carried, cur)} {cur} is set "
                "against your next invoices."
            )
        if self.settled_at_issue > 0:
            return (
                f"No payment is due. This credit note settles the "
                f"{money_text(self.settled_at_issue, cur)} {cur} still owed on invoice "
                f"{original}."
            )
        return (
            f"No payment is due. Invoice {original} was settled already: the "
            f"{money_text(self.amount, cur)} {cur} of this credit note is set against "
            "your next invoices."
        )


def credit_reason(session: Session, note: Invoice) -> str:
    """The reason given when `note` was made (its `credit_note` audit entry)."""
    if note.credits_id is None:
        return ""
    entries = session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.action == "credit_note",
            AuditEntry.object_type == "invoices",
            AuditEntry.object_id == str(note.credits_id),
        )
        .order_by(AuditEntry.id.desc())
    )
    for entry in entries:
        try:
            changes = json.loads(entry.changes)
        except ValueError:  # pragma: no cover - written by kit.audit as JSON
            continue
        if isinstance(changes, dict) and changes.get("credit_note_id") == note.id:
            return str(changes.get("reason") or "")
    return ""


def credit_note_facts(session: Session, note: Invoice) -> CreditNoteFacts | None:
    """The facts of a credit note; None for any other document."""
    if note.type != InvoiceType.CREDIT_NOTE.value:
        return None
    original = session.get(Invoice, note.credits_id) if note.credits_id else None
    rows = session.scalars(
        select(Payment).where(Payment.credit_note_id == note.id).order_by(Payment.id)
    ).all()
    targets = {
        inv.id: inv
        for inv in session.scalars(
            select(Invoice).where(Invoice.id.in_({p.invoice_id for p in rows}))
        )
    }
    applications = tuple(
        Application(invoice=reference(targets.get(p.invoice_id)), on=p.paid_on, amount=p.amount)
        for p in rows
    )
    settled = sum((p.amount for p in rows if p.invoice_id == note.credits_id), Decimal(0))
    amount = -note.total
    applied = sum((p.amount for p in rows), Decimal(0))
    still_open = amount - applied if note.status == InvoiceStatus.ISSUED.value else Decimal(0)
    return CreditNoteFacts(
        credits=reference(original),
        reason=credit_reason(session, note),
        amount=amount,
        settled_at_issue=settled,
        applications=applications,
        open_amount=still_open,
        currency=note.currency,
    )


def credited_by(session: Session, invoice: Invoice) -> Reference | None:
    """The credit note that reversed `invoice` (a Credited invoice)."""
    if invoice.credited_by_id is None:
        return None
    return reference(session.get(Invoice, invoice.credited_by_id))


def credited_number(session: Session, note: Invoice) -> str:
    """The number of the invoice a credit note reverses ("" for an invoice)."""
    if note.credits_id is None:
        return ""
    ref = reference(session.get(Invoice, note.credits_id))
    return ref.number if ref else ""
