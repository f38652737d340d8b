"""The basis and the commission, exactly: docs/commissions.md's worked example
(a credit note, a cancellation, a rule that starts mid-month, HALF_UP at the
minor unit), and properties of the one rounding boundary."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from rerate.commissions import service
from rerate.kit.db import Database
from rerate.kit.money import round_money
from rerate.kit.periods import Month
from rerate.models import CommissionRule, Node
from tests.commissions.docs import build_example
from tests.world import World


def _lines(database: Database, world: World, node: str, period: str) -> tuple:
    with database.session() as s:
        found = s.get(Node, world.nodes[node].id)
        assert found is not None
        st_ = service.compute(s, found, Month.parse(period))
        lines = [
            (
                ln.customer,
                ln.service,
                str(ln.basis),
                str(ln.rate) if ln.rate else None,
                str(ln.commission),
            )
            for ln in st_.lines
        ]
        totals = [(t.currency, str(t.basis), str(t.commission)) for t in st_.totals()]
        return lines, totals, st_.documents


def test_partner_october_by_hand(database: Database, world: World):
    build_example(database, world)
    lines, totals, documents = _lines(database, world, "partner_a1", "2026-10")
    assert lines == [
        # Issued 1 Oct, before the Compute rule (from 2 Oct): the overall 5 %.
        ("Cust A1x", "Compute", "123.45", "0.050000", "6.17"),  # 6.1725 -> 6.17
        # The credit note of 20 Oct reverses September's 50.00 at the Compute rule.
        ("Cust A1x", "Compute", "-50.00", "0.100000", "-5.00"),
        ("Cust A1x", "Storage", "9.95", "0.050000", "0.50"),  # 10.05 - 0.10; 0.4975 -> 0.50
        ("Cust A1x", "Support", "20.00", "0.050000", "1.00"),
        ("Cust A1y", "Calls", "33.33", "0.050000", "1.67"),  # 1.6665 -> 1.67 (HALF_UP)
        # Issued at 00:00 on 2 Oct (the rule's first day, included) and the
        # September invoice cancelled on 15 Oct: 200.00 - 40.00.
        ("Cust A1y", "Compute", "160.00", "0.100000", "16.00"),
    ]
    assert totals == [("EUR", "296.73", "20.34")]
    assert documents == 4  # the draft of 999.99 counts nowhere


def test_partner_september_and_the_summary(database: Database, world: World):
    build_example(database, world)
    lines, totals, _ = _lines(database, world, "partner_a1", "2026-09")
    assert lines == [
        ("Cust A1x", "Compute", "50.00", "0.050000", "2.50"),
        ("Cust A1x", "Storage", "0.10", "0.050000", "0.01"),  # 0.005 -> 0.01 (HALF_UP)
        ("Cust A1y", "Compute", "40.00", "0.050000", "2.00"),
    ]
    assert totals == [("EUR", "90.10", "4.51")]
    with database.session() as s:
        node = s.get(Node, world.nodes["partner_a1"].id)
        assert node is not None
        summary = service.summarise(s, node, [Month(2026, 9), Month(2026, 10)])
    (eur,) = summary.currencies
    assert (eur.basis, eur.commission) == (Decimal("386.83"), Decimal("24.85"))
    assert [(p.key, str(p.basis), str(p.commission)) for p in eur.by_month] == [
        ("2026-09", "90.10", "4.51"),
        ("2026-10", "296.73", "20.34"),
    ]
    by_customer = {p.label: (str(p.basis), str(p.commission)) for p in eur.by_customer}
    assert by_customer == {"Cust A1x": ("153.50", "5.18"), "Cust A1y": ("233.33", "19.67")}
    by_service = {p.label: (str(p.basis), str(p.commission)) for p in eur.by_service}
    assert by_service == {
        "Compute": ("323.45", "21.67"),
        "Storage": ("10.05", "0.51"),
        "Support": ("20.00", "1.00"),
        "Calls": ("33.33", "1.67"),
    }


def test_distributor_earns_on_all_its_partners_customers(database: Database, world: World):
    build_example(database, world)
    lines, totals, documents = _lines(database, world, "dist_a", "2026-10")
    assert [(c, s, b, r, m) for c, s, b, r, m in lines] == [
        ("Cust A1x", "Compute", "73.45", "0.020000", "1.47"),  # 1.469
        ("Cust A1x", "Storage", "9.95", "0.020000", "0.20"),  # 0.199
        ("Cust A1x", "Support", "20.00", "0.020000", "0.40"),
        ("Cust A1y", "Calls", "33.33", "0.020000", "0.67"),  # 0.6666
        ("Cust A1y", "Compute", "160.00", "0.020000", "3.20"),
        ("Cust A2x", "Compute", "100.00", "0.020000", "2.00"),
    ]
    assert totals == [("EUR", "396.73", "7.94")]
    assert documents == 5


def test_lines_without_a_rule_show_at_zero(database: Database, world: World):
    build_example(database, world)
    lines, totals, _ = _lines(database, world, "partner_a2", "2026-10")
    assert lines == [("Cust A2x", "Compute", "100.00", None, "0.00")]
    assert totals == [("EUR", "100.00", "0.00")]


# --- the rounding boundary, as properties -----------------------------------------------------

cents = st.integers(min_value=-10_000_000, max_value=10_000_000).map(lambda c: Decimal(c) / 100)
rates = st.integers(min_value=1, max_value=999_999).map(lambda r: Decimal(r) / 1_000_000)


def _rule(rate: Decimal) -> CommissionRule:
    return CommissionRule(id=1, node_id=1, service="", rate=rate, valid_from=date(2026, 1, 1))


def _item(amount: Decimal, doc: int) -> service.BasisItem:
    return service.BasisItem(1, "Compute", "EUR", date(2026, 10, 5), amount, doc)


@settings(max_examples=200, deadline=None)
@given(amounts=st.lists(cents, min_size=1, max_size=8), rate=rates)
def test_one_rounding_per_statement_line(amounts: list[Decimal], rate: Decimal):
    items = [_item(a, i) for i, a in enumerate(amounts)]
    (line,) = service.statement_lines(items, [_rule(rate)], {1: "C"})
    assert line.basis == sum(amounts, Decimal(0))
    assert line.commission == round_money(sum(amounts, Decimal(0)) * rate, "EUR")
    assert line.commission == line.commission.quantize(Decimal("0.01"))


@settings(max_examples=200, deadline=None)
@given(amounts=st.lists(cents, min_size=1, max_size=8), rate=rates)
def test_a_full_credit_note_cancels_the_commission_to_the_cent(
    amounts: list[Decimal], rate: Decimal
):
    invoice = [_item(a, 1) for a in amounts]
    note = [_item(-a, 2) for a in amounts]
    (line,) = service.statement_lines([*invoice, *note], [_rule(rate)], {1: "C"})
    assert (line.basis, line.commission) == (Decimal(0), Decimal(0))
    # In separate months the two statements still cancel: HALF_UP is symmetric.
    (a,) = service.statement_lines(invoice, [_rule(rate)], {1: "C"})
    (b,) = service.statement_lines(note, [_rule(rate)], {1: "C"})
    assert a.commission + b.commission == 0
