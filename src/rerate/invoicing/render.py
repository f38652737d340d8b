"""Invoices as CSV (the PDF is `invoicing.pdf`). Amounts are printed from the
stored, rounded Decimals through `kit.present`, never re-computed, so the CSV
matches the database, the PDF and the API to the cent: "128.85", never
"128.8500000000"; quantities with the places they carry."""

from __future__ import annotations

import io

from rerate.kit import csvout
from rerate.kit.present import money_plain, quantity_text
from rerate.models import Invoice


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
                quantity_text(line.quantity),
                line.unit,
                money_plain(line.amount, invoice.currency),
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
            money_plain(invoice.total, invoice.currency),
            invoice.currency,
        ]
    )
    return out.getvalue()
