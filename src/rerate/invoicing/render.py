"""Invoices as CSV and PDF. Amounts are printed from the stored Decimals, never
re-computed, so the documents match the database to the cent."""

from __future__ import annotations

import io
from decimal import Decimal

from fpdf import FPDF

from rerate.kit import csvout
from rerate.models import Invoice, Node


def _money(amount: Decimal) -> str:
    return format(amount, ",f")


def _qty(quantity: Decimal) -> str:
    text = format(quantity.normalize(), "f")
    return text if len(text) <= 16 else format(quantity.quantize(Decimal("0.0001")), "f")


def to_csv(invoice: Invoice) -> str:
    out = io.StringIO()
    writer = csvout.Writer(out)
    writer.writerow(
        [
            "invoice",
            "number",
            "period",
            "status",
            "position",
            "kind",
            "description",
            "quantity",
            "unit",
            "amount",
            "currency",
        ]
    )
    for line in invoice.lines:
        writer.writerow(
            [
                invoice.id,
                invoice.number or "",
                invoice.period,
                invoice.status,
                line.position,
                line.kind,
                line.description,
                line.quantity,
                line.unit,
                line.amount,
                invoice.currency,
            ]
        )
    writer.writerow(
        [
            invoice.id,
            invoice.number or "",
            invoice.period,
            invoice.status,
            "",
            "total",
            "Total",
            "",
            "",
            invoice.total,
            invoice.currency,
        ]
    )
    return out.getvalue()


def _latin1(text: str) -> str:
    # The core PDF fonts cover Latin-1; anything else is replaced rather than
    # failing the whole document.
    return text.encode("latin-1", "replace").decode("latin-1")


def to_pdf(invoice: Invoice, customer: Node, seller: Node | None) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(f"Invoice {invoice.number or 'draft'}")
    pdf.set_creator("rerate")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    title = (
        f"Invoice {invoice.number}" if invoice.number else f"Invoice (not issued, {invoice.status})"
    )
    pdf.cell(0, 10, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for label, value in (
        ("From", seller.name if seller else ""),
        ("To", customer.name),
        ("Period", invoice.period),
        ("Status", invoice.status.capitalize()),
        ("Version", str(invoice.version)),
        ("Issued", invoice.issued_at.date().isoformat() if invoice.issued_at else "-"),
    ):
        pdf.cell(30, 6, _latin1(label))
        pdf.cell(0, 6, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    if invoice.status == "cancelled":
        pdf.set_text_color(180, 0, 0)
        pdf.cell(0, 8, "CANCELLED - replaced by a refreshed invoice", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
    pdf.ln(4)
    widths = (90, 35, 20, 45)
    pdf.set_font("Helvetica", "B", 10)
    for w, head in zip(
        widths, ("Description", "Quantity", "Unit", f"Amount ({invoice.currency})"), strict=True
    ):
        pdf.cell(w, 7, head, border="B", align="R" if head.startswith(("Q", "A")) else "L")
    pdf.ln()
    pdf.set_font("Helvetica", "", 9)
    for line in invoice.lines:
        pdf.cell(widths[0], 6, _latin1(line.description[:60]))
        pdf.cell(widths[1], 6, _qty(line.quantity) if line.kind != "tax" else "", align="R")
        pdf.cell(widths[2], 6, _latin1(line.unit[:10]))
        pdf.cell(widths[3], 6, _money(line.amount), align="R")
        pdf.ln()
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(sum(widths[:3]), 8, "Total", border="T")
    pdf.cell(widths[3], 8, _money(invoice.total), border="T", align="R")
    return bytes(pdf.output())
