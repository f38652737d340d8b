"""A checksum of what an issued invoice says, recorded in the audit log at issue.

An issued invoice is never edited (database triggers refuse it), and
`rerate check` proves it: the digest of the invoice as it is now must equal
the one recorded, append-only, when it was issued. It covers what the
customer was sent (number, amounts, currency, lines), not its later status.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from rerate.models import Invoice


def _amount(value: Decimal) -> str:
    # NUMERIC(38, 10) reads back with ten decimals: compare values, not scales.
    return format(value.normalize(), "f") if value else "0"


def issued_digest(invoice: Invoice) -> str:
    body = {
        "number": invoice.number,
        "series": invoice.series,
        "customer_id": invoice.customer_id,
        "period": invoice.period,
        "type": invoice.type,
        "currency": invoice.currency,
        "subtotal": _amount(invoice.subtotal),
        "tax_rate": _amount(invoice.tax_rate),
        "tax": _amount(invoice.tax),
        "total": _amount(invoice.total),
        "lines": [
            [
                line.position,
                line.kind,
                line.description,
                _amount(line.quantity),
                line.unit,
                _amount(line.amount),
            ]
            for line in sorted(invoice.lines, key=lambda ln: ln.position)
        ],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
