"""The demo's invoices: none empty, none negative (issue 14 §2)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from rerate.demo.billing import bill_demo
from rerate.demo.loader import load_demo
from rerate.invoicing import payments
from rerate.kit.db import Database
from rerate.models import Invoice


def test_the_demo_issues_no_negative_invoice(database: Database, tmp_path: Path) -> None:
    load_demo(database, tmp_path, scale=0.01)
    billed = bill_demo(database, tmp_path)
    assert billed.invoices_issued > 0
    with database.session() as s:
        invoices = s.scalars(select(Invoice)).all()
        assert len(invoices) == billed.invoices_issued
        assert all(inv.subtotal >= 0 and inv.tax >= 0 and inv.total >= 0 for inv in invoices)
        # a month is invoiced only with something on it: usage or charges
        assert all(inv.lines for inv in invoices)
        assert sum((inv.total for inv in invoices), Decimal(0)) > 0


def test_the_demo_has_paid_overdue_and_open_invoices(database: Database, tmp_path: Path) -> None:
    load_demo(database, tmp_path, scale=0.01)
    billed = bill_demo(database, tmp_path)
    assert billed.invoices_paid > 0
    assert billed.invoices_overdue == 2  # one unpaid, one half paid
    with database.session() as s:
        invoices = s.scalars(select(Invoice).order_by(Invoice.number)).all()
        statuses = {inv.status for inv in invoices}
        assert {"issued", "paid"} <= statuses
        for inv in invoices:
            # each month's invoice went out on the 1st of the next month
            assert inv.issued_at is not None
            assert inv.issued_at.day == 1
            assert inv.due_date is not None
            assert inv.due_date > inv.issued_at.date()
            if inv.status == "paid":
                assert payments.paid_amount(s, inv.id) == inv.total
                assert payments.outstanding(s, inv) == 0
        overdue = [
            inv
            for inv in invoices
            if inv.status == "issued"
            and inv.due_date is not None
            and inv.due_date < date.today()
            and payments.outstanding(s, inv) > 0
        ]
        assert len(overdue) == 2
        half = [inv for inv in overdue if payments.paid_amount(s, inv.id) > 0]
        assert len(half) == 1
        assert payments.outstanding(s, half[0]) == half[0].total - payments.paid_amount(
            s, half[0].id
        )
