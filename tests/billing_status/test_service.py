"""The billing status on a hand-built world: exact Decimal amounts per tenant,
subscription, currency and window, scope per role, and the visibility settings."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rerate.auth.service import principal_for
from rerate.billing_status import service
from rerate.invoicing.visibility import InvoicesHidden
from rerate.kit.db import Database
from rerate.kit.errors import NotFound
from rerate.kit.periods import Month
from rerate.models import Setting
from tests.billing_status.status_world import MONTH, TODAY, build_status_world
from tests.world import World

D = Decimal
Z = D(0)


def _status(database: Database, world: World, who: str, customer: str | None = None):
    with database.session() as session:
        principal = principal_for(session, world.users[who], via="cli")
        cid = world.nodes[customer].id if customer else None
        return service.billing_status(
            session, principal, Month.parse(MONTH), customer_id=cid, today=lambda _c: TODAY
        )


def _amounts(rows, currency):
    row = next(r for r in rows if r.currency == currency)
    return {k: tuple(a.as_dict().values()) for k, a in row.windows.items()}


@pytest.fixture
def status_world(database: Database, world: World):
    with database.session() as session:
        return build_status_world(session, world)


def test_the_windows_around_a_month():
    got = {w.key: (w.first, w.last) for w in service.windows_for(Month(2026, 5))}
    assert got == {
        "last_month": ("2026-04", "2026-04"),
        "last_quarter": ("2026-01", "2026-03"),
        "month": ("2026-05", "2026-05"),
        "quarter_to_date": ("2026-04", "2026-05"),
    }
    jan = {w.key: (w.first, w.last) for w in service.windows_for(Month(2026, 1))}
    assert jan["last_month"] == ("2025-12", "2025-12")
    assert jan["last_quarter"] == ("2025-10", "2025-12")
    assert jan["quarter_to_date"] == ("2026-01", "2026-01")
    first = {w.key: (w.first, w.last) for w in service.windows_for(Month(1900, 1))}
    assert first["last_quarter"] == ("1899-10", "1899-12")  # no period there, no error


@given(st.integers(1900, 9998), st.integers(1, 12))
def test_windows_hold_the_month_and_follow_each_other(year: int, month: int):
    m = Month(year, month)
    w = {x.key: x for x in service.windows_for(m)}
    this = str(m)
    assert w["month"].first == w["month"].last == this
    assert w["quarter_to_date"].first <= this == w["quarter_to_date"].last
    quarter_start = Month.parse(w["quarter_to_date"].first)
    assert (quarter_start.month - 1) % 3 == 0
    assert quarter_start.year == year
    # Last quarter ends the month before this quarter starts, three months long.
    lq_first, lq_last = (
        int(p[:4]) * 12 + int(p[5:]) - 1 for p in (w["last_quarter"].first, w["last_quarter"].last)
    )
    assert lq_last - lq_first == 2
    assert lq_last + 1 == quarter_start.year * 12 + quarter_start.month - 1
    assert lq_first % 3 == 0
    prev = int(w["last_month"].first[:4]) * 12 + int(w["last_month"].first[5:]) - 1
    assert prev + 1 == year * 12 + month - 1
    assert w["last_month"].first == w["last_month"].last


def test_a_partner_sees_its_customers_amounts_exactly(database, world, status_world):
    status = _status(database, world, "partner_admin")
    assert [t.name for t in status.tenants] == ["Cust A1x", "Cust A1y"]
    a1x, a1y = status.tenants
    #                    overdue      issued       uninvoiced   paid
    assert _amounts(a1x.rows, "EUR") == {
        "last_month": (Z, D("86.80"), Z, D("10.00")),
        "last_quarter": (D("200.00"), Z, D("50.00"), D("163.00")),
        "month": (Z, Z, D("30.00"), Z),
        "quarter_to_date": (Z, D("86.80"), D("30.00"), D("10.00")),
    }
    assert [r.currency for r in a1x.rows] == ["EUR"]
    # USD is its own row; the cancelled May invoice leaves May uninvoiced.
    assert _amounts(a1y.rows, "USD") == {
        "last_month": (Z, Z, D("10.00"), Z),
        "last_quarter": (Z, Z, Z, Z),
        "month": (Z, Z, D("5.00"), Z),
        "quarter_to_date": (Z, Z, D("15.00"), Z),
    }
    subs = {s.external_ref: s for s in a1x.subscriptions}
    assert set(subs) == {"sub-1", "sub-2"}
    # Exact: the service never rounds (the API and the console do, at the minor unit).
    assert _amounts(subs["sub-1"].rows, "EUR") == {
        "last_month": (Z, Z, Z, Z),
        "last_quarter": (D("150.00"), Z, D("50.00"), Z),
        "month": (Z, Z, D("29.996"), Z),
        "quarter_to_date": (Z, Z, D("29.996"), Z),
    }
    # The stale cache row of an older March run (999.00) is not counted.
    assert _amounts(subs["sub-2"].rows, "EUR") == {
        "last_month": (Z, D("80.00"), Z, Z),
        "last_quarter": (D("50.00"), Z, Z, Z),
        "month": (Z, Z, Z, Z),
        "quarter_to_date": (Z, D("80.00"), Z, Z),
    }
    assert a1y.subscriptions == []
    # Totals: per currency, never added across currencies.
    assert [r.currency for r in status.totals] == ["EUR", "USD"]
    assert _amounts(status.totals, "EUR") == _amounts(a1x.rows, "EUR")
    assert _amounts(status.totals, "USD") == _amounts(a1y.rows, "USD")


def test_scope_per_role(database, world, status_world):
    dist = _status(database, world, "distributor")
    assert [t.name for t in dist.tenants] == ["Cust A1x", "Cust A1y", "Cust A2x"]
    # Cust A2x's invoice is due today: issued, not overdue yet.
    assert _amounts(dist.totals, "EUR")["month"] == (Z, D("7.00"), D("30.00"), Z)
    customer = _status(database, world, "customer_user")
    assert [t.name for t in customer.tenants] == ["Cust A1x"]
    admin = _status(database, world, "platform_admin")
    assert [t.name for t in admin.tenants] == ["Cust A1x", "Cust A1y", "Cust A2x", "Cust B1x"]
    assert _amounts(admin.totals, "EUR")["month"] == (Z, D("7.00"), D("1029.00"), Z)
    one = _status(database, world, "distributor", "cust_a2x")
    assert [t.name for t in one.tenants] == ["Cust A2x"]
    with pytest.raises(NotFound):
        _status(database, world, "partner_admin", "cust_a2x")  # another partner's
    with pytest.raises(NotFound):
        _status(database, world, "distributor", "cust_b1x")  # another distributor's


def test_the_day_decides_overdue(database, world, status_world):
    with database.session() as session:
        principal = principal_for(session, world.users["distributor"], via="cli")
        later = service.billing_status(
            session,
            principal,
            Month.parse(MONTH),
            customer_id=world.nodes["cust_a2x"].id,
            today=lambda _c: TODAY.replace(day=11),
        )
    assert _amounts(later.tenants[0].rows, "EUR")["month"] == (D("7.00"), Z, Z, Z)


def test_visibility_settings_decide(database, world, status_world):
    with database.session() as session:
        session.add(Setting(node_id=None, key="InvoicesVisibleToPartners", value="false"))
    with pytest.raises(InvoicesHidden):
        _status(database, world, "partner_admin")
    with pytest.raises(InvoicesHidden):
        _status(database, world, "partner_user", "cust_a1x")
    # The distributor still sees everything below it; platform roles always.
    assert len(_status(database, world, "distributor").tenants) == 3
    assert len(_status(database, world, "platform_service").tenants) == 4
    with database.session() as session:
        session.add(Setting(node_id=None, key="InvoicesVisibleToTenants", value="false"))
    with pytest.raises(InvoicesHidden):
        _status(database, world, "customer_user")


def test_an_empty_world_has_no_rows(database, world):
    status = _status(database, world, "partner_admin")
    assert [t.rows for t in status.tenants] == [[], []]
    assert status.totals == []


def test_a_quarterly_invoice_invoices_its_three_months(database, world, status_world):
    """A quarterly invoice names its quarter (2026-Q2): its money counts in the
    quarter's first month and none of its months stays uninvoiced."""
    from datetime import date

    from tests.billing_status.status_world import _invoice

    with database.session() as session:
        a1y = session.get(type(world.nodes["cust_a1y"]), world.nodes["cust_a1y"].id)
        _invoice(session, a1y, "2026-Q2", "issued", "45.00", "USD", due=date(2026, 6, 30),
                 type_="quarterly")  # fmt: skip
    status = _status(database, world, "partner_admin", "cust_a1y")
    (a1y_status,) = status.tenants
    assert _amounts(a1y_status.rows, "USD") == {
        "last_month": (Z, D("45.00"), Z, Z),
        "last_quarter": (Z, Z, Z, Z),
        "month": (Z, Z, Z, Z),
        "quarter_to_date": (Z, D("45.00"), Z, Z),
    }


def test_covered_months_and_quarters():
    assert service.covered_months("2026-05") == ["2026-05"]
    assert service.covered_months("2026-Q4") == ["2026-10", "2026-11", "2026-12"]
    assert service._quarters("2025-12", "2026-04") == ["2025-Q4", "2026-Q1", "2026-Q2"]
