"""The demo's quarterly tenant (issue 15): its contract is invoiced
quarterly, the quarter holding the demo's `today` has one issued quarterly
invoice with its projection stored, and no month of it has a monthly invoice
— whichever month of the quarter `today` falls in."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from rerate.demo.billing import bill_demo
from rerate.demo.loader import load_demo
from rerate.demo.window import add_months, month_start
from rerate.invoicing import quarterly
from rerate.kit.db import Database
from rerate.kit.money import RoundingMode, round_money
from rerate.kit.periods import Month
from rerate.models import Contract, Invoice, Node

SCALE = 0.002


def _past_days() -> list[date]:
    """The 10th of each of the three months before this one: one in each
    position of its quarter (first, second, third month), and all in the past
    so the basis months have closed."""
    this_month = month_start(datetime.now(UTC).date())
    return [add_months(this_month, -k).replace(day=10) for k in (1, 2, 3)]


@pytest.mark.parametrize("today", _past_days(), ids=lambda d: f"month{(d.month - 1) % 3 + 1}")
def test_the_demo_has_a_quarterly_tenant_invoiced_for_the_current_quarter(
    database: Database, tmp_path: Path, today: date
) -> None:
    load_demo(database, tmp_path / "data", scale=SCALE, today=today)
    billed = bill_demo(database, tmp_path / "data")
    quarter = quarterly.Quarter.of(Month(today.year, today.month))
    with database.session() as s:
        customer = s.scalars(select(Node).where(Node.name == "Proseware Media")).one()
        contract = s.scalars(
            select(Contract).where(Contract.customer_id == customer.id, Contract.active)
        ).one()
        assert contract.invoice_type == "quarterly"

        invoices = s.scalars(
            select(Invoice).where(Invoice.customer_id == customer.id).order_by(Invoice.id)
        ).all()
        previous = str(quarter.previous())
        first_month = (today.month - 1) % 3 == 0
        # Quarterly only: no monthly invoice at all, so none in the quarter's
        # months. In a quarter's first month the previous quarter, all billed,
        # was invoiced too and trued up.
        assert [(i.type, i.period) for i in invoices] == [
            *([("quarterly", previous), ("true_up", previous)] if first_month else []),
            ("quarterly", str(quarter)),
        ]
        inv = invoices[-1]
        # Issued, and paid like the others once due (`_settle`).
        assert inv.status in ("issued", "paid")
        assert inv.number is not None
        first = quarter.months()[0]
        assert inv.issued_at == datetime(first.year, first.month, 1, 9, tzinfo=UTC)

        # The projection is stored: the three months before the quarter,
        # 0.00 for those before the contract's coverage.
        basis = quarterly.basis_of(inv)
        assert [p for p, _a in basis] == [str(m) for m in quarter.previous().months()]
        started = Month.of(contract.coverage_start)
        assert started == Month.of(add_months(today, -3))
        for period, amount in basis:
            if Month.parse(period) < started:
                assert amount == 0
        assert all(a >= 0 for _p, a in basis)
        assert sum((a for _p, a in basis), Decimal(0)) > 0
        projected = quarterly.project(
            [a for _p, a in basis], contract.currency, RoundingMode(contract.rounding_mode)
        )
        assert inv.projection_method == quarterly.METHOD
        assert inv.projected_amount == projected.quarter
        covered = [Month.parse(p) >= started for p, _a in basis]
        if all(covered):  # today in the quarter's first month: the plain projection
            assert (inv.override_amount, inv.override_reason) == (None, None)
            assert inv.subtotal == projected.quarter
        else:  # a ramp-up: projected from the covered months only, and said so
            assert inv.override_reason is not None
            assert inv.override_reason.startswith("ramp-up:")
            covered_amounts = [a for (_p, a), c in zip(basis, covered, strict=True) if c]
            monthly = round_money(
                sum(covered_amounts, Decimal(0)) / len(covered_amounts),
                contract.currency,
                RoundingMode(contract.rounding_mode),
            )
            assert inv.override_amount == monthly * 3
            assert inv.override_amount > projected.quarter
            assert inv.subtotal == inv.override_amount
            assert inv.override_reason in " ".join(ln.description for ln in inv.lines)
        assert quarterly.charged(inv) == inv.subtotal
        if first_month:
            before, true_up = invoices[0], invoices[1]
            assert before.status in ("issued", "paid")
            assert true_up.status in ("issued", "paid")
            assert before.override_amount is not None
            assert before.override_reason is not None
            assert (before.trued_up_by_id, true_up.true_up_of_id) == (true_up.id, before.id)
            # its actuals are this quarter's basis: projection + difference = actual
            assert quarterly.actuals_of(before) == basis
            assert before.true_up_actual == sum((a for _p, a in basis), Decimal(0))
            assert true_up.subtotal == before.true_up_actual - before.override_amount > 0
            assert true_up.issued_at == inv.issued_at

        # Every non-credit-note invoice the demo made was counted as issued.
        others = s.scalars(select(Invoice).where(Invoice.type != "credit_note")).all()
        assert len(others) == billed.invoices_issued
        assert billed.failed == 0
