"""The demo's commission rules (docs/commissions.md): the distributor earns on
every customer below it, each reseller on its own, and one rule changes
during the demo window, so the console's charts and statements show real,
effective-dated figures after `make run`."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from rerate.auth.permissions import Principal
from rerate.commissions import service
from rerate.demo import catalog as cat
from rerate.demo.window import DemoWindow
from rerate.models import Node

REASON = "demo: channel agreement"


def add_commission_rules(
    session: Session, principal: Principal, nodes: dict[str, Node], window: DemoWindow
) -> int:
    """Create the rules; answers how many. Rules start with the demo's first
    month, so every issued invoice of the demo earns a commission."""
    start = window.first_day
    # The reseller's Compute rate goes up from the last closed month on.
    raised = window.closed_months[-1]
    rules = [
        (cat.DISTRIBUTOR, "", Decimal("0.02"), start, None),
        (cat.ACME, "", Decimal("0.05"), start, None),
        (cat.ACME, "Compute", Decimal("0.06"), start, raised),
        (cat.ACME, "Compute", Decimal("0.08"), raised, None),
        (cat.BLUE, "Calls", Decimal("0.03"), start, None),
    ]
    for name, svc, rate, valid_from, valid_to in rules:
        service.create_rule(
            session,
            principal,
            node_id=nodes[name].id,
            service=svc,
            rate=rate,
            valid_from=valid_from,
            valid_to=valid_to,
            reason=REASON,
        )
    return len(rules)
