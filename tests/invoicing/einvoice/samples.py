"""Invoice-like inputs for the e-invoice tests, built in memory (no database):
the same ORM classes the service stores, never added to a session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from rerate.invoicing.einvoice import build
from rerate.invoicing.einvoice.model import Document, Preceding, TypeCode
from rerate.kit.money import round_money
from rerate.models import Invoice, InvoiceLine, Node

ISSUED = datetime(2026, 10, 3, 9, 30, tzinfo=UTC)


def seller(**over: str) -> Node:
    values = {
        "name": "Acme Telecom",
        "legal_name": "Société Générale des Télécoms SA",
        "address": "12 rue de la Paix\nBâtiment B\n75002 Paris\nFR",
        "tax_id": "FR 40 303 265 045",
    }
    values.update(over)
    return Node(id=2, kind="partner", **values)


def buyer(**over: str) -> Node:
    values = {
        "name": "Müller",
        "legal_name": "Müller & Söhne GmbH",
        "address": "Hauptstraße 5\n10115 Berlin\nGermany",
        "tax_id": "DE123456789",
    }
    values.update(over)
    return Node(id=9, kind="customer", **values)


def invoice(
    lines: Sequence[tuple[str, str, str, str, str]] = (
        ("usage", "Calls to France", "1234.5", "min", "128.85"),
        ("usage", "Compute - vm.small", "720", "h", "36.00"),
        ("credit", "Welcome credit", "1", "", "-30.00"),
    ),
    *,
    tax_rate: str = "0.2",
    status: str = "issued",
    currency: str = "EUR",
    number: str | None = "ACME-000007",
    type_: str = "monthly",
) -> Invoice:
    """An invoice as `service.build_invoice` stores it: rounded lines, a tax
    line, subtotal + tax = total. `lines` are (kind, description, quantity,
    unit, amount)."""
    rate = Decimal(tax_rate)
    stored = [
        InvoiceLine(
            position=i,
            kind=kind,
            description=text,
            quantity=Decimal(qty),
            unit=unit,
            amount=Decimal(amount),
        )
        for i, (kind, text, qty, unit, amount) in enumerate(lines, start=1)
    ]
    subtotal = sum((ln.amount for ln in stored), Decimal(0))
    tax = round_money(subtotal * rate, currency)
    stored.append(
        InvoiceLine(
            position=len(stored) + 1,
            kind="tax",
            description="Tax",
            quantity=Decimal(1),
            unit="",
            amount=tax,
        )
    )
    inv = Invoice(
        id=41,
        customer_id=9,
        period="2026-09",
        type=type_,
        status=status,
        version=1,
        series="S2",
        number=number,
        currency=currency,
        subtotal=subtotal,
        tax_rate=rate,
        tax=tax,
        total=subtotal + tax,
        issued_at=ISSUED,
    )
    inv.lines = stored
    return inv


def document(
    inv: Invoice | None = None,
    *,
    type_code: TypeCode = TypeCode.INVOICE,
    preceding: Sequence[Preceding] = (),
    seller_node: Node | None = None,
    buyer_node: Node | None = None,
) -> Document:
    return build.build_document(
        inv if inv is not None else invoice(),
        seller=seller_node or seller(),
        buyer=buyer_node or buyer(),
        issue_date=date(2026, 10, 3),
        type_code=type_code,
        payment_terms_days=30,
        preceding=preceding,
    )
