"""A hand-built billing world for the billing status tests: runs, cache rows,
invoices in every state and payments, written as rows (no rating), so every
expected amount below is known exactly.

Selected month 2026-05; the windows are last month 2026-04, last quarter
2026-01..2026-03, month 2026-05 and quarter to date 2026-04..2026-05.
Overdue is judged on TODAY."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from rerate.models import Account, BillingCacheRow, BillingRun, CurrentRun, Invoice, Node, Payment
from tests.world import World

MONTH = "2026-05"
TODAY = date(2026, 5, 10)
D = Decimal


@dataclass
class StatusWorld:
    world: World
    accounts: dict[str, int] = field(default_factory=dict)
    invoices: dict[str, int] = field(default_factory=dict)
    payments: dict[str, int] = field(default_factory=dict)


def _run(
    session: Session,
    customer: Node,
    period: str,
    net: str,
    currency: str = "EUR",
    *,
    current: bool = True,
    version: int = 1,
) -> BillingRun:
    run = BillingRun(
        customer_id=customer.id,
        period=period,
        version=version,
        status="published" if current else "superseded",
        path=f"/nowhere/{customer.id}/{period}/{version}",
        fingerprint=f"{customer.id}-{period}-{version}",
        currency=currency,
        net_total=D(net),
        list_total=D(net),
    )
    session.add(run)
    session.flush()
    if current:
        session.add(CurrentRun(customer_id=customer.id, period=period, run_id=run.id))
    return run


def _cache(session: Session, run: BillingRun, account: int, net: str) -> None:
    session.add(
        BillingCacheRow(
            customer_id=run.customer_id,
            account_id=account,
            period=run.period,
            run_id=run.id,
            currency=run.currency,
            quantity=D(1),
            list_amount=D(net),
            net_amount=D(net),
            row_count=1,
        )
    )


_numbers = iter(range(1, 1000))


def _invoice(
    session: Session,
    customer: Node,
    period: str,
    status: str,
    total: str,
    currency: str = "EUR",
    *,
    due: date | None = None,
    type_: str = "monthly",
) -> Invoice:
    sent = status not in ("draft", "ready", "superseded")
    inv = Invoice(
        customer_id=customer.id,
        period=period,
        type=type_,
        status=status,
        version=1,
        series="CN" if type_ == "credit_note" else "INV",
        number=f"T-{next(_numbers):06d}" if sent else None,
        currency=currency,
        subtotal=D(total),
        tax_rate=D(0),
        tax=D(0),
        total=D(total),
        due_date=due,
    )
    session.add(inv)
    session.flush()
    return inv


def _pay(session: Session, inv: Invoice, amount: str, *, note: Invoice | None = None) -> int:
    payment = Payment(
        invoice_id=inv.id,
        customer_id=inv.customer_id,
        amount=D(amount),
        currency=inv.currency,
        paid_on=date(2026, 5, 1),
        reference="test",
        credit_note_id=note.id if note is not None else None,
    )
    session.add(payment)
    session.flush()
    return payment.id


def build_status_world(session: Session, world: World) -> StatusWorld:
    n = world.nodes
    sw = StatusWorld(world)
    a1x, a1y, a2x, b1x = n["cust_a1x"], n["cust_a1y"], n["cust_a2x"], n["cust_b1x"]
    for ref, owner in (("sub-1", "partner_a1"), ("sub-2", "partner_a1")):
        acc = Account(kind="subscription", external_ref=ref, owner_node_id=n[owner].id, name=ref)
        session.add(acc)
        session.flush()
        sw.accounts[ref] = acc.id
    s1, s2 = sw.accounts["sub-1"], sw.accounts["sub-2"]

    # Cust A1x, EUR.
    _run(session, a1x, "2025-12", "1000.00")  # before every window
    _run(session, a1x, "2026-06", "2000.00")  # after the selected month
    # 2026-01: paid in full.
    _run(session, a1x, "2026-01", "100.00")
    jan = _invoice(session, a1x, "2026-01", "paid", "121.00", due=date(2026, 2, 28))
    _pay(session, jan, "121.00")
    # 2026-02: issued, part-paid, past due: 42.00 paid, 200.00 overdue.
    feb_run = _run(session, a1x, "2026-02", "200.00")
    _cache(session, feb_run, s1, "150.00")
    _cache(session, feb_run, s2, "50.00")
    feb = _invoice(session, a1x, "2026-02", "issued", "242.00", due=date(2026, 3, 15))
    sw.payments["money"] = _pay(session, feb, "42.00")
    sw.invoices["overdue"] = feb.id
    # 2026-03: a Ready invoice (generated, not sent): uninvoiced, the run's 50.00.
    mar_run = _run(session, a1x, "2026-03", "50.00")
    _cache(session, mar_run, s1, "50.00")
    sw.invoices["ready"] = _invoice(session, a1x, "2026-03", "ready", "60.50").id
    # A stale cache row of an older run of March: not billing.
    old = _run(session, a1x, "2026-03", "999.00", current=False, version=0)
    _cache(session, old, s2, "999.00")
    # 2026-04: issued, not yet due; a credit note of 10.00 applied to it.
    apr_run = _run(session, a1x, "2026-04", "80.00")
    _cache(session, apr_run, s2, "80.00")
    apr = _invoice(session, a1x, "2026-04", "issued", "96.80", due=date(2026, 5, 30))
    note = _invoice(session, a1x, "2026-04", "issued", "-10.00", type_="credit_note")
    sw.payments["credit_note"] = _pay(session, apr, "10.00", note=note)
    sw.invoices["issued"] = apr.id
    sw.invoices["credit_note"] = note.id
    # 2026-05: billed, no invoice yet.
    may_run = _run(session, a1x, "2026-05", "30.00")
    # Full scale, as rating leaves it: shown rounded at the minor unit (30.00).
    _cache(session, may_run, s1, "29.996")

    # Cust A1y, USD: April uninvoiced; May's invoice was cancelled (uninvoiced again).
    _run(session, a1y, "2026-04", "10.00", "USD")
    _run(session, a1y, "2026-05", "5.00", "USD")
    _invoice(session, a1y, "2026-05", "cancelled", "5.00", "USD")

    # Cust A2x (Partner A2, Dist A), EUR: May overdue... not yet: due today.
    _run(session, a2x, "2026-05", "7.00")
    _invoice(session, a2x, "2026-05", "issued", "7.00", due=TODAY)

    # Cust B1x (Dist B), EUR: outside Dist A and Partner A1.
    _run(session, b1x, "2026-05", "999.00")
    session.flush()
    return sw
