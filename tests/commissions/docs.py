"""Invoices and credit notes written straight into the database for the
commission tests: the figures of docs/commissions.md's worked example.

Each document is inserted Ready with its lines, then moved to Issued (and
Credited / Cancelled) the way the database guards allow: an issued
document's lines can no longer be written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from rerate.auth.permissions import Principal
from rerate.auth.service import principal_for
from rerate.commissions import service
from rerate.kit.db import Database
from rerate.models import Invoice, InvoiceLine
from tests.world import World

_numbers = iter(range(1, 10_000))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def document(
    s: Session,
    customer_id: int,
    period: str,
    lines: list[tuple[str, str, str]],  # (kind, description, amount)
    *,
    issued: str | None,
    tax: str = "0",
    type_: str = "monthly",
    status: str = "issued",
    cancelled: str | None = None,
) -> Invoice:
    subtotal = sum((Decimal(a) for _, _, a in lines), Decimal(0))
    inv = Invoice(
        customer_id=customer_id,
        period=period,
        type=type_,
        status="ready",
        series="T",
        currency="EUR",
        subtotal=subtotal,
        tax_rate=Decimal("0.2"),
        tax=Decimal(tax),
        total=subtotal + Decimal(tax),
    )
    s.add(inv)
    s.flush()
    for pos, (kind, description, amount) in enumerate([*lines, ("tax", "Tax 20 %", tax)], start=1):
        s.add(
            InvoiceLine(
                invoice_id=inv.id,
                position=pos,
                kind=kind,
                description=description,
                quantity=Decimal(1),
                unit="",
                amount=Decimal(amount),
            )
        )
    s.flush()
    if issued is not None:
        inv.status = "issued"
        inv.issued_at = at(issued)
        inv.number = f"T-{next(_numbers):06d}"
        s.flush()
        if status == "cancelled":
            inv.status = "cancelled"
            inv.cancelled_at = at(cancelled or issued)
        elif status == "credited":
            inv.status = "credited"
        s.flush()
    return inv


def build_example(database: Database, world: World) -> dict[str, int]:
    """docs/commissions.md, "Worked example": rules and documents."""
    n = world.nodes
    a1x, a1y, a2x = n["cust_a1x"].id, n["cust_a1y"].id, n["cust_a2x"].id
    with database.session() as s:
        admin = principal_for(s, world.users["platform_admin"], via="cli")
        ids = {
            "a1_all": service.create_rule(
                s,
                admin,
                node_id=n["partner_a1"].id,
                rate=Decimal("0.05"),
                valid_from=date(2026, 1, 1),
            ).id,
            "a1_compute": service.create_rule(
                s,
                admin,
                node_id=n["partner_a1"].id,
                rate=Decimal("0.10"),
                service="Compute",
                valid_from=date(2026, 10, 2),
            ).id,
            "dist_all": service.create_rule(
                s, admin, node_id=n["dist_a"].id, rate=Decimal("0.02"), valid_from=date(2026, 1, 1)
            ).id,
        }
        # September: A1x's August invoice and A1y's, both issued in September.
        document(
            s,
            a1x,
            "2026-08",
            [("usage", "Compute - vm.small", "50.00"), ("usage", "Storage - disk", "0.10")],
            issued="2026-09-05T08:00:00",
            tax="10.02",
            status="credited",
        )
        document(
            s,
            a1y,
            "2026-08",
            [("usage", "Compute - vm.large", "40.00")],
            issued="2026-09-10T08:00:00",
            tax="8.00",
            status="cancelled",
            cancelled="2026-10-15T09:00:00",
        )
        # October.
        document(
            s,
            a1x,
            "2026-09",
            [
                ("usage", "Compute - vm.small", "123.45"),
                ("usage", "Storage - disk", "10.05"),
                ("support", "Support fee", "20.00"),
            ],
            issued="2026-10-01T08:00:00",
            tax="30.70",
        )
        document(
            s,
            a1y,
            "2026-09",
            [("usage", "Compute - vm.large", "200.00"), ("usage", "Calls to France", "33.33")],
            issued="2026-10-02T00:00:00",
            tax="46.67",
        )
        document(
            s,
            a1x,
            "2026-08",
            [("usage", "Compute - vm.small", "-50.00"), ("usage", "Storage - disk", "-0.10")],
            issued="2026-10-20T10:00:00",
            tax="-10.02",
            type_="credit_note",
        )
        document(
            s,
            a2x,
            "2026-09",
            [("usage", "Compute - vm.small", "100.00")],
            issued="2026-10-03T08:00:00",
        )
        # Never issued: counts nowhere.
        document(s, a1x, "2026-10", [("usage", "Compute - vm.small", "999.99")], issued=None)
    return ids


def principal(database: Database, world: World, who: str) -> Principal:
    with database.session() as s:
        return principal_for(s, world.users[who], via="cli")
