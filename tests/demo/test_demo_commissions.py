"""The demo's commission rules earn real commissions once it is billed (issue 15 §7)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from rerate.commissions import service
from rerate.demo import catalog as cat
from rerate.demo.billing import bill_demo
from rerate.demo.loader import load_demo
from rerate.kit.db import Database
from rerate.kit.periods import Month
from rerate.models import CommissionRule, Node


def test_the_demo_pays_commissions(database: Database, tmp_path: Path) -> None:
    summary = load_demo(database, tmp_path, scale=0.01)
    bill_demo(database, tmp_path)
    months = [Month.parse(m) for m in (*summary.closed_months, summary.current_month)]
    with database.session() as s:
        assert len(s.scalars(select(CommissionRule)).all()) == 5
        nodes = {n.name: n for n in s.scalars(select(Node))}
        dist = service.summarise(s, nodes[cat.DISTRIBUTOR], months)
        acme = service.summarise(s, nodes[cat.ACME], months)
        blue = service.summarise(s, nodes[cat.BLUE], months)
        for each in (dist, acme, blue):
            assert each.currencies, each.node.name
            assert all(c.commission > 0 for c in each.currencies), each.node.name
        # The distributor earns on both resellers' customers and on its own
        # direct customer: its basis is theirs together.
        for c in dist.currencies:
            parts = [x for s_ in (acme, blue) for x in s_.currencies if x.currency == c.currency]
            direct = [p.basis for p in c.by_customer if p.label == "Northwind Internal IT"]
            assert c.basis == sum((x.basis for x in parts), Decimal(0)) + sum(direct, Decimal(0))
        # Acme's Compute rate changes within the window: both rates appear.
        rates = {
            ln.rate
            for m in months
            for ln in service.compute(s, nodes[cat.ACME], m).lines
            if ln.service == "Compute"
        }
        assert {Decimal("0.06"), Decimal("0.08")} <= rates
