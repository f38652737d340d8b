"""Models and migrations cannot drift; guards the database enforces itself."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError, IntegrityError, StatementError

from rerate.kit import migrate
from rerate.kit.db import Database
from rerate.models import AuditEntry, Invoice, InvoiceLine, Node


def test_alembic_check_finds_no_drift(database: Database):
    migrate.check(database.url)


def test_audit_log_is_append_only(database: Database):
    with database.session() as s:
        s.add(AuditEntry(action="insert", object_type="x", object_id="1"))
    with pytest.raises(DatabaseError, match="append-only"), database.session() as s:
        s.execute(text("UPDATE audit_log SET actor = 'mallory'"))
    with pytest.raises(DatabaseError, match="append-only"), database.session() as s:
        s.execute(text("DELETE FROM audit_log"))


def _invoice(s, customer_id: int, status: str) -> Invoice:
    inv = Invoice(
        customer_id=customer_id,
        period="2026-08",
        type="monthly",
        status=status,
        series="INV",
        currency="EUR",
        subtotal=Decimal("10.00"),
        tax_rate=Decimal("0.2"),
        tax=Decimal("2.00"),
        total=Decimal("12.00"),
    )
    s.add(inv)
    s.flush()
    return inv


def test_issued_invoice_is_never_edited(database: Database):
    with database.session() as s:
        customer = Node(kind="customer", name="c", path="/1/")
        s.add(customer)
        s.flush()
        inv = _invoice(s, customer.id, "ready")
        s.add(
            InvoiceLine(
                invoice_id=inv.id,
                position=1,
                kind="usage",
                description="x",
                quantity=Decimal(1),
                amount=Decimal("10.00"),
            )
        )
        s.flush()
        inv.status = "issued"
        inv.number = "INV-1"
        inv_id = inv.id
    with pytest.raises(DatabaseError, match="never edited"), database.session() as s:
        s.execute(text("UPDATE invoices SET total = '13.00' WHERE id = :i"), {"i": inv_id})
    with pytest.raises(DatabaseError, match="never edited"), database.session() as s:
        s.execute(text("DELETE FROM invoice_lines WHERE invoice_id = :i"), {"i": inv_id})
    with database.session() as s:  # moving to paid is allowed
        s.execute(text("UPDATE invoices SET status = 'paid' WHERE id = :i"), {"i": inv_id})


def test_one_live_invoice_per_customer_period_type(database: Database):
    with database.session() as s:
        customer = Node(kind="customer", name="c", path="/1/")
        s.add(customer)
        s.flush()
        _invoice(s, customer.id, "issued")
        cid = customer.id
    with pytest.raises(IntegrityError), database.session() as s:
        _invoice(s, cid, "ready")
    with database.session() as s:  # a cancelled one may coexist
        _invoice(s, cid, "cancelled")


def test_decimal_columns_keep_every_digit(database: Database):
    with database.session() as s:
        customer = Node(kind="customer", name="c", path="/1/", tax_rate=Decimal("0.123456"))
        s.add(customer)
        s.flush()
        inv = _invoice(s, customer.id, "ready")
        inv.subtotal = Decimal("12345678901234567890.0123456789")
        inv_id = inv.id
    with database.session() as s:
        got = s.get(Invoice, inv_id)
        assert got is not None
        assert got.subtotal == Decimal("12345678901234567890.0123456789")
        assert isinstance(got.created_at, datetime)
        assert got.created_at.tzinfo is not None


def test_float_money_is_refused(database: Database):
    node = Node(kind="customer", name="c", path="/1/", tax_rate=0.2)  # type: ignore[arg-type]
    with database.sessions() as s:
        s.add(node)
        with pytest.raises(StatementError, match="never float"):
            s.flush()


def test_naive_datetime_is_refused(database: Database):
    node = Node(kind="customer", name="c", path="/1/", created_at=datetime(2026, 1, 1))
    with database.sessions() as s:
        s.add(node)
        with pytest.raises(StatementError, match="naive"):
            s.flush()
    assert datetime(2026, 1, 1, tzinfo=UTC)  # the aware form is what we store
