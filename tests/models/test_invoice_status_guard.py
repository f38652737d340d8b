"""An issued invoice only moves forward (to Paid, Cancelled or Credited), never back; the
database refuses the rest whatever the code does (SQLite and PostgreSQL triggers)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from rerate.kit.db import Database
from rerate.models import Invoice, Node

ISSUED_AT = datetime(2026, 9, 2, 8, 0, tzinfo=UTC)


def _invoice(database: Database, status: str) -> int:
    with database.session() as s:
        customer = Node(kind="customer", name="c", path="/1/")
        s.add(customer)
        s.flush()
        inv = Invoice(
            customer_id=customer.id,
            period="2026-08",
            type="monthly",
            status="ready",
            series="INV",
            currency="EUR",
            subtotal=Decimal("10.00"),
            tax_rate=Decimal("0.2"),
            tax=Decimal("2.00"),
            total=Decimal("12.00"),
        )
        s.add(inv)
        s.flush()
        inv.status = "issued"
        inv.number = f"INV-{customer.id:06d}"
        inv.issued_at = ISSUED_AT
        s.flush()
        if status == "paid":
            inv.status, inv.paid_at = "paid", ISSUED_AT
        elif status == "cancelled":
            inv.status, inv.cancelled_at = "cancelled", ISSUED_AT
        elif status == "credited":
            inv.status = "credited"
        return inv.id


def _update(database: Database, invoice_id: int, assignment: str) -> None:
    with database.session() as s:
        s.execute(text(f"UPDATE invoices SET {assignment} WHERE id = :i"), {"i": invoice_id})


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("issued", "ready"),
        ("issued", "draft"),
        ("issued", "superseded"),
        ("paid", "issued"),
        ("paid", "ready"),
        ("paid", "cancelled"),
        ("cancelled", "issued"),
        ("cancelled", "ready"),
        ("cancelled", "paid"),
        ("cancelled", "credited"),
        ("credited", "issued"),
        ("credited", "paid"),
        ("credited", "cancelled"),
    ],
)
def test_an_issued_invoice_never_moves_back(database: Database, start: str, target: str):
    invoice_id = _invoice(database, start)
    with pytest.raises(DatabaseError, match="only moves to paid, cancelled or credited"):
        _update(database, invoice_id, f"status = '{target}'")
    with database.session() as s:
        assert s.scalar(text("SELECT status FROM invoices WHERE id = :i"), {"i": invoice_id}) == (
            start
        )


@pytest.mark.parametrize(
    ("start", "target"),
    [("issued", "paid"), ("issued", "cancelled"), ("issued", "credited"), ("paid", "credited")],
)
def test_an_issued_invoice_moves_forward(database: Database, start: str, target: str):
    invoice_id = _invoice(database, start)
    _update(database, invoice_id, f"status = '{target}'")
    with database.session() as s:
        assert s.scalar(text("SELECT status FROM invoices WHERE id = :i"), {"i": invoice_id}) == (
            target
        )


@pytest.mark.parametrize("status", ["issued", "paid", "cancelled"])
@pytest.mark.parametrize("assignment", ["number = NULL", "issued_at = NULL"])
def test_number_and_issue_date_are_never_cleared(database: Database, status: str, assignment: str):
    invoice_id = _invoice(database, status)
    with pytest.raises(DatabaseError, match="never edited"):
        _update(database, invoice_id, assignment)


def test_paid_and_cancelled_dates_stay(database: Database):
    paid = _invoice(database, "paid")
    with pytest.raises(DatabaseError, match="never edited"):
        _update(database, paid, "paid_at = NULL")
    cancelled = _invoice(database, "cancelled")
    with pytest.raises(DatabaseError, match="never edited"):
        _update(database, cancelled, "cancelled_at = NULL")


@pytest.mark.parametrize("status", ["issued", "paid", "cancelled"])
def test_an_issued_invoice_is_never_deleted(database: Database, status: str):
    invoice_id = _invoice(database, status)
    with pytest.raises(DatabaseError, match="never edited"), database.session() as s:
        s.execute(text("DELETE FROM invoices WHERE id = :i"), {"i": invoice_id})
