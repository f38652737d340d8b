"""One entry point for the API, CLI and console: an invoice as UBL, CII or Factur-X.

The caller has already checked the principal may see the invoice (the same
`_get` as the PDF and CSV downloads); this module loads the seller, the
contract's payment terms and the invoice it replaces, then builds and writes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.invoicing import pdf as invoice_pdf
from rerate.invoicing.einvoice import build, cii, ubl
from rerate.invoicing.einvoice.model import Document, EInvoiceRefused, Preceding, TypeCode
from rerate.models import Contract, Invoice, Node


class Format(StrEnum):
    UBL = "ubl"
    CII = "cii"
    FACTURX = "facturx"


@dataclass(frozen=True, slots=True)
class Export:
    content: bytes
    media_type: str
    filename: str


def seller_of(session: Session, invoice: Invoice, customer: Node) -> Node | None:
    """The node that issued the invoice: its number series is the seller's
    (`S<node id>`, see `service.series_for`); the customer's parent otherwise."""
    if invoice.series.startswith("S") and invoice.series[1:].isdigit():
        seller = session.get(Node, int(invoice.series[1:]))
        if seller is not None:
            return seller
    return session.get(Node, customer.parent_id) if customer.parent_id else None


def type_code(invoice: Invoice) -> TypeCode:
    """381 for a credit note. Credit notes are stored by issue 14 §4 as invoices
    of type "credit_note"; everything else is an invoice (380)."""
    return TypeCode.CREDIT_NOTE if invoice.type == "credit_note" else TypeCode.INVOICE


def document(session: Session, invoice: Invoice, customer: Node) -> Document:
    build.check_exportable(invoice)
    seller = seller_of(session, invoice, customer)
    if seller is None:
        raise EInvoiceRefused(f"invoice {invoice.id} has no seller (BG-4)")
    if invoice.issued_at is None:
        raise EInvoiceRefused(f"invoice {invoice.id} has no issue date (BT-2)")
    contract = session.scalar(
        select(Contract)
        .where(Contract.customer_id == customer.id, Contract.seller_id == seller.id)
        .order_by(Contract.active.desc(), Contract.id.desc())
        .limit(1)
    )
    terms = contract.payment_terms_days if contract is not None else customer.payment_terms_days
    preceding: list[Preceding] = []
    if invoice.replaces_id is not None:
        previous = session.get(Invoice, invoice.replaces_id)
        # A replaced version that was never issued had no number: nothing to cite.
        if previous is not None and previous.number:
            issued = previous.issued_at.date() if previous.issued_at else None
            preceding.append(Preceding(number=previous.number, issue_date=issued))
    return build.build_document(
        invoice,
        seller=seller,
        buyer=customer,
        issue_date=invoice.issued_at.date(),
        type_code=type_code(invoice),
        payment_terms_days=terms,
        # The due date stored at issue wins over the one computed from the terms.
        due_date=getattr(invoice, "due_date", None),
        preceding=preceding,
    )


def export(session: Session, invoice: Invoice, customer: Node, fmt: Format) -> Export:
    doc = document(session, invoice, customer)
    name = doc.number
    if fmt == Format.UBL:
        return Export(ubl.to_ubl(doc), "application/xml", f"{name}.ubl.xml")
    cii_xml = cii.to_cii(doc)
    if fmt == Format.CII:
        return Export(cii_xml, "application/xml", f"{name}.cii.xml")
    # Imported here: the PDF/A-3 library is only needed for this format.
    from rerate.invoicing.einvoice.facturx import to_facturx

    seller = session.get(Node, doc.seller.node_id)
    facts = invoice_pdf.facts_for(session, invoice, customer)
    if seller is not None:
        # The PDF names the same seller as the embedded XML.
        facts = replace(facts, seller=invoice_pdf.Party.of(seller))
    pdf = invoice_pdf.to_pdf(invoice, facts)
    return Export(to_facturx(pdf, cii_xml, doc), "application/pdf", f"{name}.facturx.pdf")
