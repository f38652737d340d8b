"""The demo's invoices: none empty, none negative (issue 14 §2); paid,
overdue and open ones; one corrected by a credit note (issue 14 §4)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from rerate.demo.billing import SERVICE_CREDIT, DemoBilling, bill_demo
from rerate.demo.loader import load_demo
from rerate.invoicing import credit_notes, payments
from rerate.kit.db import Database
from rerate.models import Contract, Invoice, Node


@pytest.fixture(scope="module")
def demo(
    module_database: Database, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Database, DemoBilling]:
    """The demo loaded and billed once per dialect (three minutes a load on
    a busy machine); the tests only read it."""
    data_dir = tmp_path_factory.mktemp("demo")
    load_demo(module_database, data_dir, scale=0.01)
    return module_database, bill_demo(module_database, data_dir)


def test_the_demo_issues_no_negative_invoice(demo: tuple[Database, DemoBilling]) -> None:
    database, billed = demo
    assert billed.invoices_issued > 0
    with database.session() as s:
        invoices = s.scalars(select(Invoice).where(Invoice.type != "credit_note")).all()
        assert len(invoices) == billed.invoices_issued
        assert all(inv.subtotal >= 0 and inv.tax >= 0 and inv.total >= 0 for inv in invoices)
        # a month is invoiced only with something on it: usage or charges
        assert all(inv.lines for inv in invoices)
        assert sum((inv.total for inv in invoices), Decimal(0)) > 0


def test_the_demo_has_paid_overdue_and_open_invoices(demo: tuple[Database, DemoBilling]) -> None:
    database, billed = demo
    assert billed.invoices_paid > 0
    assert billed.invoices_overdue == 2  # one unpaid, one half paid
    with database.session() as s:
        invoices = s.scalars(select(Invoice).order_by(Invoice.number)).all()
        statuses = {inv.status for inv in invoices}
        assert {"issued", "paid", "credited"} <= statuses
        # The correction after issue (its credit note and the new invoice) is
        # made when the demo loads, not on the 1st.
        correction = {i.id for i in invoices if i.type == "credit_note" or i.replaces_id}
        for inv in invoices:
            if inv.id in correction:
                continue
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


def test_the_demo_has_an_invoice_corrected_by_a_credit_note(
    demo: tuple[Database, DemoBilling],
) -> None:
    database, billed = demo
    assert billed.credit_notes == 1
    with database.session() as s:
        [note] = s.scalars(select(Invoice).where(Invoice.type == "credit_note")).all()
        customer = s.get(Node, note.customer_id)
        assert customer is not None
        assert customer.name == "Wingtip Analytics Ltd"
        contract = s.scalars(
            select(Contract).where(Contract.customer_id == customer.id, Contract.active)
        ).one()
        assert contract.correction_policy == "credit_note"
        original = s.get(Invoice, note.credits_id)
        assert original is not None
        # The latest invoice, not yet due and unpaid: the policy credits it
        # (the replace policy would have cancelled it).
        assert (original.status, original.credited_by_id) == ("credited", note.id)
        settled = payments.settlements(s, [original.id])[original.id]
        assert (settled.paid, settled.credited) == (0, original.total)
        assert note.total == -original.total
        assert note.number is not None
        assert "-CN-" in note.number
        assert credit_notes.open_amount(s, note) == 0  # it settled what the invoice owed
        new = s.scalars(select(Invoice).where(Invoice.replaces_id == original.id)).one()
        assert new.status == "issued"
        assert new.number is not None
        assert new.period == original.period
        assert SERVICE_CREDIT[0] in [ln.description for ln in new.lines]
        assert new.subtotal == original.subtotal + SERVICE_CREDIT[1]
