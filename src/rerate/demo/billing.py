"""Bill the demo: recalculate every closed month as jobs, then invoice and issue.

It goes through the same path a reseller uses (jobs in the run queue & log,
the worker's handlers, publish, invoices), so the demo's log and invoices look
like a real history and an invoice refresh has Issued invoices to cancel.

Last, one correction after issue (`_correct_by_credit_note`): the customer
whose contract corrects by credit note gets a service credit on its latest
invoice, recalculated and refreshed as jobs, so the console shows a credit
note, the Credited invoice it reverses and the new invoice that follows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from time import perf_counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rerate.billing.batch import DEFAULT_BATCH_SIZE
from rerate.billing.eligibility import Ineligible, eligible_periods
from rerate.billing.tasks import batch_handlers, handlers
from rerate.demo import quarterly as demo_quarterly
from rerate.invoicing import payments
from rerate.invoicing import service as invoices
from rerate.invoicing.credits import NegativeInvoice
from rerate.invoicing.generate import generate_for
from rerate.jobs import queue
from rerate.jobs.worker import Worker
from rerate.kit.audit import SYSTEM, set_session_actor
from rerate.kit.db import Database
from rerate.kit.money import round_money
from rerate.kit.periods import Month
from rerate.models import Contract, CustomLineItem, Invoice, Job, Node
from rerate.models.enums import (
    CorrectionPolicy,
    InvoiceStatus,
    InvoiceType,
    JobStatus,
    JobType,
    ReasonCode,
)

# The correction made after issue: a service credit on the latest invoice of
# the customer whose contract corrects by credit note.
SERVICE_CREDIT = ("Service credit: database outage on the 12th", Decimal("-150.00"))


@dataclass(frozen=True, slots=True)
class DemoBilling:
    jobs: int
    failed: int
    invoices_issued: int
    invoices_skipped: int = 0  # months with nothing billable (no invoice)
    invoices_paid: int = 0
    invoices_overdue: int = 0
    credit_notes: int = 0
    seconds_jobs: float = 0.0  # the recalculation jobs, queued to the last one done
    seconds_invoices: float = 0.0  # invoicing, issuing and settling after them


def bill_demo(
    db: Database,
    data_dir: Path,
    *,
    progress: Callable[[str], None] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> DemoBilling:
    """`batch_size` 1 runs the jobs one at a time (the benchmark's baseline)."""
    started = perf_counter()
    request_id = str(uuid.uuid4())
    with db.session() as session:
        set_session_actor(session, SYSTEM, "initial billing of the demo")
        pairs = [
            (contract.customer_id, str(month))
            for contract in session.scalars(select(Contract).where(Contract.active.is_(True)))
            for month in eligible_periods(contract)
        ]
        for customer_id, period in sorted(pairs, key=lambda p: (p[1], p[0])):
            queue.enqueue(
                session,
                type=JobType.RECALCULATION,
                customer_id=customer_id,
                period=period,
                reason=ReasonCode.OTHER,
                explanation="initial billing of the demo",
                actor_id=None,
                actor_label="system",
                request_id=request_id,
            )
    # The batch path a `rerate worker` takes: the demo's customer-months of a
    # period are rated and published in batches (billing/batch.py).
    worker = Worker(
        db,
        handlers=handlers(data_dir),
        batch_handlers=batch_handlers(data_dir),
        batch_size=batch_size,
        worker_id="demo-loader",
        expand=None,
    )
    while worker.run_once():
        if progress:
            with db.session() as session:
                done = session.scalar(
                    select(func.count()).where(
                        Job.request_id == request_id, Job.status != JobStatus.QUEUED.value
                    )
                )
            progress(f"billed {done} of {len(pairs)} customer-months")
    jobs_done = perf_counter()
    issued = 0
    skipped = 0
    with db.session() as session:
        set_session_actor(session, SYSTEM, "initial invoicing of the demo")
        jobs = list(session.scalars(select(Job).where(Job.request_id == request_id)))
        failed = sum(1 for j in jobs if j.status != JobStatus.COMPLETE.value)
        # The quarterly tenant gets its quarter's invoice below, never monthly ones.
        quarterly_ids = demo_quarterly.quarterly_customers(session)
        for job in sorted(jobs, key=lambda j: (j.period, j.customer_id)):
            if job.status != JobStatus.COMPLETE.value or job.customer_id in quarterly_ids:
                continue
            customer = session.get(Node, job.customer_id)
            assert customer is not None
            try:
                # A savepoint per invoice: a month with nothing billable, or
                # whose charges are negative (a credit note's job), is skipped
                # and leaves nothing half-made.
                with session.begin_nested():
                    outcome = generate_for(session, customer, job.period)
                    invoices.issue(session, outcome.invoice, at=_issue_time(job.period))
            except (Ineligible, NegativeInvoice):
                skipped += 1
                continue
            issued += 1
        today = demo_quarterly.demo_today(session)
        if today is not None:
            issued += len(demo_quarterly.invoice_current_quarter(session, today))
        paid, overdue = _settle(session, datetime.now(UTC).date())
    corrected = _correct_by_credit_note(db, worker, request_id)
    return DemoBilling(
        jobs=len(jobs) + 2 * corrected,
        failed=failed,
        invoices_issued=issued + corrected,
        invoices_skipped=skipped,
        invoices_paid=paid,
        invoices_overdue=overdue,
        credit_notes=corrected,
        seconds_jobs=round(jobs_done - started, 2),
        seconds_invoices=round(perf_counter() - jobs_done, 2),
    )


def _correct_by_credit_note(db: Database, worker: Worker, request_id: str) -> int:
    """A service credit granted after the latest invoice of the first customer
    whose contract has `correction_policy` credit_note (Wingtip) went out:
    recalculated and refreshed as jobs, as a Billing Utilities Admin would.
    The refresh reverses the Issued invoice with a credit note (it becomes
    Credited; the credit note settles what it owed) and makes a new invoice,
    issued here. Returns 1, or 0 when there was nothing to correct."""
    with db.session() as session:
        set_session_actor(session, SYSTEM, "demo: a service credit after issue")
        contract = session.scalar(
            select(Contract)
            .where(
                Contract.active.is_(True),
                Contract.correction_policy == CorrectionPolicy.CREDIT_NOTE.value,
            )
            .order_by(Contract.customer_id)
            .limit(1)
        )
        if contract is None:
            return 0
        latest = session.scalar(
            select(Invoice)
            .where(
                Invoice.customer_id == contract.customer_id,
                Invoice.type == InvoiceType.MONTHLY.value,
                Invoice.status == InvoiceStatus.ISSUED.value,
            )
            .order_by(Invoice.period.desc())
            .limit(1)
        )
        if latest is None or latest.total + SERVICE_CREDIT[1] < 0:
            return 0
        customer_id, period = latest.customer_id, latest.period
        month = Month.parse(period)
        text, amount = SERVICE_CREDIT
        session.add(
            CustomLineItem(
                customer_id=customer_id,
                description=text,
                amount=amount,
                currency=latest.currency,
                one_off_date=date(month.year, month.month, 12),
            )
        )
    for type_, reason, explanation in (
        (JobType.RECALCULATION, ReasonCode.CUSTOM_LINE_ITEM, "service credit after issue"),
        (JobType.INVOICE_REFRESH, ReasonCode.CREDIT_ADJUSTMENT, "service credit after issue"),
    ):
        with db.session() as session:
            queue.enqueue(
                session,
                type=type_,
                customer_id=customer_id,
                period=period,
                reason=reason,
                explanation=explanation,
                actor_id=None,
                actor_label="system",
                request_id=request_id,
            )
        while worker.run_once():
            pass
    with db.session() as session:
        set_session_actor(session, SYSTEM, "demo: a service credit after issue")
        new = session.scalar(
            select(Invoice).where(
                Invoice.customer_id == customer_id,
                Invoice.period == period,
                Invoice.type == InvoiceType.MONTHLY.value,
                Invoice.status == InvoiceStatus.READY.value,
            )
        )
        if new is None:  # the refresh failed: its job says why in the log
            return 0
        invoices.issue(session, new)
    return 1


def _issue_time(period: str) -> datetime:
    """A month's invoice goes out on the first morning of the next month (as
    a finance team would send it), so the history has due dates that passed."""
    nxt = Month.parse(period).next()
    at = datetime.combine(date(nxt.year, nxt.month, 1), time(9), tzinfo=UTC)
    return min(at, datetime.now(UTC))


def _settle(session: Session, today: date) -> tuple[int, int]:
    """Customers pay what fell due, a few days early, with two exceptions that
    show the other states: the first customer's latest invoice past its due
    date stays unpaid (Overdue) and the second customer paid half of its own
    (Issued, partly paid, Overdue). Invoices not due yet stay Issued."""
    due: dict[int, list[Invoice]] = {}
    for inv in session.scalars(
        select(Invoice)
        .where(Invoice.status == InvoiceStatus.ISSUED.value)
        .order_by(Invoice.customer_id, Invoice.period)
    ):
        # A 0.00 invoice owes nothing: never overdue, nothing to pay.
        if inv.due_date is not None and inv.due_date < today and inv.total > 0:
            due.setdefault(inv.customer_id, []).append(inv)
    paid = overdue = 0
    for rank, (_customer, items) in enumerate(sorted(due.items())):
        for inv in items:
            latest = inv is items[-1]
            if latest and rank == 0:
                overdue += 1
                continue
            amount = inv.total
            if latest and rank == 1:
                amount = round_money(inv.total / 2, inv.currency)
                overdue += 1
            assert inv.due_date is not None
            on = max(inv.due_date - timedelta(days=3), (inv.issued_at or datetime.now(UTC)).date())
            payments.record_payment(
                session,
                inv.id,
                amount=amount,
                paid_on=min(on, today),
                reference=f"BANK-{inv.number}",
                user_id=None,
            )
            paid += amount == inv.total
    return paid, overdue
