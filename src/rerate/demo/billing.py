"""Bill the demo: recalculate every closed month as jobs, then invoice and issue.

It goes through the same path a reseller uses (jobs in the run queue & log,
the worker's handlers, publish, invoices), so the demo's log and invoices look
like a real history and an invoice refresh has Issued invoices to cancel.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from rerate.billing.eligibility import Ineligible, eligible_periods
from rerate.billing.tasks import handlers
from rerate.invoicing import service as invoices
from rerate.invoicing.credits import NegativeInvoice
from rerate.invoicing.generate import generate_for
from rerate.jobs import queue
from rerate.jobs.worker import Worker
from rerate.kit.audit import SYSTEM, set_session_actor
from rerate.kit.db import Database
from rerate.models import Contract, Job, Node
from rerate.models.enums import JobStatus, JobType, ReasonCode


@dataclass(frozen=True, slots=True)
class DemoBilling:
    jobs: int
    failed: int
    invoices_issued: int
    invoices_skipped: int = 0  # months with nothing billable (no invoice)


def bill_demo(
    db: Database, data_dir: Path, *, progress: Callable[[str], None] | None = None
) -> DemoBilling:
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
    worker = Worker(db, handlers=handlers(data_dir), worker_id="demo-loader", expand=None)
    done = 0
    while worker.run_once():
        done += 1
        if progress:
            progress(f"billed {done} of {len(pairs)} customer-months")
    issued = 0
    skipped = 0
    with db.session() as session:
        set_session_actor(session, SYSTEM, "initial invoicing of the demo")
        jobs = list(session.scalars(select(Job).where(Job.request_id == request_id)))
        failed = sum(1 for j in jobs if j.status != JobStatus.COMPLETE.value)
        for job in sorted(jobs, key=lambda j: (j.period, j.customer_id)):
            if job.status != JobStatus.COMPLETE.value:
                continue
            customer = session.get(Node, job.customer_id)
            assert customer is not None
            try:
                # A savepoint per invoice: a month with nothing billable, or
                # whose charges are negative (a credit note's job), is skipped
                # and leaves nothing half-made.
                with session.begin_nested():
                    outcome = generate_for(session, customer, job.period)
                    invoices.issue(session, outcome.invoice)
            except (Ineligible, NegativeInvoice):
                skipped += 1
                continue
            issued += 1
    return DemoBilling(
        jobs=len(jobs), failed=failed, invoices_issued=issued, invoices_skipped=skipped
    )
