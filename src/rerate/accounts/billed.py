"""Which already billed (customer, period) pairs an ownership change touches.

A period is billed when it has a published run (`current_runs`). It is
affected when its month, in the billing time zone of the customer's active
contract (UTC without one), intersects the interval whose owner changed: those
are the periods to recalculate for the change to reach the bills.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.kit.periods import Month
from rerate.models import Contract, CurrentRun, Node


@dataclass(frozen=True, slots=True, order=True)
class BilledPeriod:
    customer_id: int
    period: str
    customer: str


def billed_periods(
    session: Session, customer_ids: Iterable[int], start: datetime, end: datetime | None
) -> list[BilledPeriod]:
    """Published (customer, period) pairs of `customer_ids` whose month meets
    `[start, end)` (`end` None: open), sorted by customer then period."""
    ids = sorted(set(customer_ids))
    if not ids:
        return []
    zones = dict(
        session.execute(
            select(Contract.customer_id, Contract.billing_tz).where(
                Contract.customer_id.in_(ids), Contract.active.is_(True)
            )
        ).all()
    )
    names = dict(session.execute(select(Node.id, Node.name).where(Node.id.in_(ids))).all())
    out = []
    runs = session.execute(
        select(CurrentRun.customer_id, CurrentRun.period).where(CurrentRun.customer_id.in_(ids))
    )
    for customer_id, period in runs:
        month = Month.parse(period).in_zone(zones.get(customer_id) or "UTC")
        if month.end_utc > start and (end is None or month.start_utc < end):
            out.append(BilledPeriod(customer_id, period, names.get(customer_id, "")))
    return sorted(out)
