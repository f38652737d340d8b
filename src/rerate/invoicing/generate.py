"""Generate a customer's monthly invoice from its current run (and refresh it)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.billing.aggregates import invoice_groups
from rerate.billing.eligibility import (
    Operation,
    active_contract,
    check_monthly_cadence,
    check_period,
)
from rerate.billing.runs import current_run, read_daily, read_period_lines
from rerate.invoicing import credit_notes, service
from rerate.kit import crash
from rerate.kit.errors import Conflict, Invalid
from rerate.models import Invoice, Node
from rerate.models.enums import InvoiceStatus


@dataclass(frozen=True, slots=True)
class Outcome:
    invoice: Invoice
    previous: Invoice | None
    cancelled: list[int]
    reused: bool = False
    # A refresh whose regenerated invoice equals the live one: nothing changed,
    # `invoice` is the live one (still Issued, Paid or Ready).
    unchanged: bool = False
    # The credit note that reversed `previous` (correction policy credit_note,
    # or a Paid / part-paid invoice); `previous` is then Credited.
    credit_note: Invoice | None = None


def lock_customer(session: Session, customer: Node) -> None:
    """Serialise invoice generation per customer: the customer's row is the
    mutex (`FOR UPDATE`; SQLite serialises writers). Without it two callers
    both found no live invoice and both inserted one (a unique violation, a
    500), or deadlocked on PostgreSQL retiring each other's versions."""
    session.execute(select(Node.id).where(Node.id == customer.id).with_for_update())


def generate_for(
    session: Session,
    customer: Node,
    period: str,
    *,
    job_id: int | None = None,
    reuse_unchanged: bool = False,
    refresh: bool = False,
    reason: str = "invoice regenerated",
) -> Outcome:
    """Build a new invoice version from the current run; link it per the refresh rules.

    `reuse_unchanged`: when the live invoice is a Ready one built from the
    same run, answer it instead of a new version (a client that generates
    twice, or ten clients at once, get one invoice).

    The period must be eligible (`check_period`): the open month, a future one,
    one before 2000 or one with nothing billable (`has_billable`) is never
    invoiced, whoever asks (API, console, refresh job).

    A regenerated invoice equal to the live one (same lines, same totals) is
    not stored: the live one stays (`unchanged`). Charges that are negative
    by themselves raise `NegativeInvoice`.

    An issued live invoice is corrected per the contract's policy
    (`service.needs_credit_note`): cancelled, or credited in full by a credit
    note (`reason` is the credit note's). `refresh=True` (an invoice refresh)
    corrects an existing invoice and never makes a period's first one: that
    is invoice generation's (platform roles).
    """
    month = check_period(session, customer, period, Operation.INVOICE_GENERATION)
    lock_customer(session, customer)
    contract = active_contract(session, customer.id)
    if contract is None:  # check_period has just seen it; a guard for the type checker
        raise Invalid(f"{customer.name} has no active contract")
    if not refresh:  # a quarterly customer's months are the quarterly invoice's
        check_monthly_cadence(session, customer, contract, month)
    run = current_run(session, customer.id, period)
    if run is None:
        raise Conflict(
            f"{customer.name} has no published billing run for {period}; run a recalculation first"
        )
    previous = service.live_invoice(session, customer.id, period, for_update=True, with_lines=False)
    if refresh and previous is None:
        raise Conflict(
            f"{customer.name} has no invoice for {period} to refresh; a period's first invoice "
            "is made by invoice generation"
        )
    if (
        reuse_unchanged
        and previous is not None
        and previous.status == InvoiceStatus.READY.value
        and json.loads(previous.run_ids) == [run.id]
    ):
        return Outcome(invoice=previous, previous=None, cancelled=[], reused=True)
    lines = [
        service.LineInput(kind=kind, description=label, quantity=qty, unit=unit, amount=amount)
        for kind, label, unit, qty, amount in invoice_groups(
            read_daily(run), read_period_lines(run)
        )
    ]
    # Composed before anything is retired: a negative invoice (NegativeInvoice)
    # or an unchanged one leaves the live version exactly as it was.
    composed = service.compose(
        session,
        customer=customer,
        contract=contract,
        period=period,
        lines=lines,
        exclude_invoice_id=previous.id if previous is not None else None,
    )
    if previous is not None and service.same_content(previous, composed):
        return Outcome(invoice=previous, previous=None, cancelled=[], unchanged=True)
    cancelled: list[int] = []
    note: Invoice | None = None
    if previous is not None and service.needs_credit_note(session, previous, contract):
        note = credit_notes.credit_in_full(session, previous, reason=reason, job_id=job_id)
        crash.point("refresh.after_cancel")
    elif previous is not None:
        cancelled = service.retire(previous)
        session.flush()
        crash.point("refresh.after_cancel")
    invoice = service.build_invoice(
        session,
        customer=customer,
        contract=contract,
        period=period,
        composed=composed,
        run_ids=[run.id],
        job_id=job_id,
    )
    if previous is not None:
        service.link(previous, invoice)
        session.flush()
    return Outcome(invoice=invoice, previous=previous, cancelled=cancelled, credit_note=note)
