"""One entry point for the API, CLI and console: an invoice as UBL, CII or Factur-X.

The caller has already checked the principal may see the invoice (the same
`_get` as the PDF and CSV downloads); this module loads the seller, the
contract's payment terms (both from `invoicing.parties`, as the PDF does) and
the invoice it replaces or, for a credit note, credits, then builds and writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from rerate.invoicing import parties
from rerate.invoicing import pdf as invoice_pdf
from rerate.invoicing.einvoice import build, cii, ubl
from rerate.invoicing.einvoice.model import Document, EInvoiceRefused, Preceding, TypeCode
from rerate.models import Invoice, Node


class Format(StrEnum):
    UBL = "ubl"
    CII = "cii"
    FACTURX = "facturx"


@dataclass(frozen=True, slots=True)
class Export:
    content: bytes
    media_type: str
    filename: str


def type_code(invoice: Invoice) -> TypeCode:
    """381 for a credit note (an invoice row of type "credit_note"); 380 otherwise."""
    return TypeCode.CREDIT_NOTE if invoice.type == "credit_note" else TypeCode.INVOICE


def _preceding(session: Session, invoice: Invoice) -> list[Preceding]:
    """BG-3: a credit note's original (BT-25/BT-26); an invoice's replaced
    version, when that one had been issued (one never issued had no number)."""
    cited = invoice.credits_id if invoice.type == "credit_note" else invoice.replaces_id
    ref = parties.reference(session.get(Invoice, cited)) if cited is not None else None
    return [Preceding(number=ref.number, issue_date=ref.issued_on)] if ref else []


def document(session: Session, invoice: Invoice, customer: Node) -> Document:
    build.check_exportable(invoice)
    seller = parties.seller_of(session, invoice, customer)
    if seller is None:
        raise EInvoiceRefused(f"invoice {invoice.id} has no seller (BG-4)")
    if invoice.issued_at is None:
        raise EInvoiceRefused(f"invoice {invoice.id} has no issue date (BT-2)")
    code = type_code(invoice)
    terms_text: str | None = None
    notes: list[str] = []
    note = parties.credit_note_facts(session, invoice)
    if note is not None:
        # Nothing falls due on a credit note: its terms say what it settled
        # when it was issued, fixed from then on (BR-CO-25 wants terms when
        # BT-115 is positive, and it is: the credit).
        terms_text = note.terms()
        if note.reason:
            notes.append(f"Reason: {note.reason}")
    return build.build_document(
        invoice,
        seller=seller,
        buyer=customer,
        issue_date=invoice.issued_at.date(),
        type_code=code,
        payment_terms_days=parties.terms_days(session, customer, seller),
        # The due date stored at issue wins over the one computed from the terms.
        due_date=getattr(invoice, "due_date", None),
        preceding=_preceding(session, invoice),
        terms_text=terms_text,
        notes=notes,
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

    # The PDF names the same seller as the embedded XML: both ask `parties`.
    pdf = invoice_pdf.to_pdf(invoice, invoice_pdf.facts_for(session, invoice, customer))
    return Export(to_facturx(pdf, cii_xml, doc), "application/pdf", f"{name}.facturx.pdf")
