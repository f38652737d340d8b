"""Generate a customer's monthly invoice from its current run (and refresh it)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from rerate.billing.aggregates import invoice_groups
from rerate.billing.eligibility import active_contract
from rerate.billing.runs import current_run, read_daily, read_period_lines
from rerate.invoicing import service
from rerate.kit import crash
from rerate.kit.errors import Conflict, Invalid
from rerate.kit.periods import Month
from rerate.models import Invoice, Node


@dataclass(frozen=True, slots=True)
class Outcome:
    invoice: Invoice
    previous: Invoice | None
    cancelled: list[int]


def generate_for(
    session: Session, customer: Node, period: str, *, job_id: int | None = None
) -> Outcome:
    """Build a new invoice version from the current run; link it per the refresh rules."""
    Month.parse(period)
    contract = active_contract(session, customer.id)
    if contract is None:
        raise Invalid(f"{customer.name} has no active contract")
    run = current_run(session, customer.id, period)
    if run is None:
        raise Conflict(
            f"{customer.name} has no published billing run for {period}; run a recalculation first"
        )
    previous = service.live_invoice(session, customer.id, period, for_update=True, with_lines=False)
    lines = [
        service.LineInput(kind=kind, description=label, quantity=qty, unit=unit, amount=amount)
        for kind, label, unit, qty, amount in invoice_groups(
            read_daily(run), read_period_lines(run)
        )
    ]
    cancelled: list[int] = []
    if previous is not None:
        cancelled = service.retire(previous)
        session.flush()
        crash.point("refresh.after_cancel")
    invoice = service.build_invoice(
        session,
        customer=customer,
        contract=contract,
        period=period,
        lines=lines,
        run_ids=[run.id],
        job_id=job_id,
    )
    if previous is not None:
        service.link(previous, invoice)
        session.flush()
    return Outcome(invoice=invoice, previous=previous, cancelled=cancelled)
