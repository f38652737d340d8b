"""Invoices and credit notes as CSV (the PDF is `invoicing.pdf`). Amounts are
printed from the stored, rounded Decimals through `kit.present`, never
re-computed, so the CSV matches the database, the PDF and the API to the cent:
"128.85", never "128.8500000000"; quantities with the places they carry.

Every row names the document: its id, `type` (monthly, quarterly or
credit_note) and number, and for a credit note `credits`, the number of the
invoice it reverses. A credit note's amounts are negative, as stored (the
credited invoice's lines with their signs turned), and its last row is
"Total credited"."""

from __future__ import annotations

import io

from rerate.kit import csvout
from rerate.kit.present import money_plain, quantity_text
from rerate.models import Invoice
from rerate.models.enums import InvoiceType

HEADER = (
    "invoice",
    "type",
    "number",
    "credits",
    "period",
    "status",
    "position",
    "kind",
    "description",
    "quantity",
    "unit",
    "amount",
    "currency",
)


def to_csv(invoice: Invoice, *, credits: str = "") -> str:
    """`credits`: for a credit note, the number of the invoice it reverses
    (`parties.credited_number`)."""
    out = io.StringIO()
    writer = csvout.Writer(out)
    writer.writerow(HEADER)
    # An Invoice built in memory has no type until it is flushed.
    kind = invoice.type or InvoiceType.MONTHLY.value
    head = [invoice.id, kind, invoice.number or "", credits, invoice.period, invoice.status]
    for line in invoice.lines:
        writer.writerow(
            [
                *head,
                line.position,
                line.kind,
                line.description,
                quantity_text(line.quantity),
                line.unit,
                money_plain(line.amount, invoice.currency),
                invoice.currency,
            ]
        )
    total = "Total credited" if kind == InvoiceType.CREDIT_NOTE.value else "Total"
    writer.writerow(
        [
            *head,
            "",
            "total",
            total,
            "",
            "",
            money_plain(invoice.total, invoice.currency),
            invoice.currency,
        ]
    )
    return out.getvalue()
