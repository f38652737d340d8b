"""The demo's invoices: none empty, none negative (issue 14 §2)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from rerate.demo.billing import bill_demo
from rerate.demo.loader import load_demo
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
