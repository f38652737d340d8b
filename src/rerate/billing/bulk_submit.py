"""One submission for many customers: "recalculate these N customers" or
"bill every eligible customer" for one or more periods.

It queues one recalculation job per (customer, period), so the run queue &
log shows each with its own status and result, all under one request id;
workers then claim them in batches (billing/batch.py). The rules are those
of a single submission (billing/utilities.py `submit`):

* a named customer is looked up in the caller's scope with the Recalculate
  permission (404 outside it, 403 without the permission there), and every
  (customer, period) passes `check_period`; one refusal refuses the whole
  submission (the caller's transaction is not committed: nothing is queued);
  a period already queued or running for a named customer is a 409, and the
  other owners of an account that moved are recalculated too (cascade), as
  for one customer;
* `all_eligible` takes every customer with an active contract in the
  caller's Recalculate scope (deny by default: a caller without it gets
  none); a (customer, period) the eligibility gate refuses is listed with
  the reason instead of queued, and one with an active job is answered with
  that job (`status: "active"`), as billing generation does
  (billing/generation.py); every in-scope customer is included, so there is
  no cascade.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.billing import utilities
from rerate.billing.eligibility import check_period
from rerate.billing.generation import candidate_customers, plan_generation
from rerate.jobs import queue
from rerate.jobs.schedules import Target
from rerate.kit.errors import Conflict, Invalid
from rerate.kit.periods import Month
from rerate.models import Job
from rerate.models.base import utcnow
from rerate.models.enums import JobType, ReasonCode
from rerate.tenancy.service import get_customer

MAX_CUSTOMERS = 20_000  # one request; a platform bills its whole base in one


@dataclass
class BulkSubmission:
    request_id: str
    jobs: list[Job] = field(default_factory=list)
    # (customer, period) answered by a job that was already queued or running.
    active: list[Job] = field(default_factory=list)
    refused: list[Target] = field(default_factory=list)
    outside_scope: int = 0  # cascade jobs for customers the caller may not see

    def as_dict(self) -> dict[str, Any]:
        def job(j: Job, status: str) -> dict[str, Any]:
            return {
                "job_id": j.id,
                "customer_id": j.customer_id,
                "period": j.period,
                "status": status,
            }

        return {
            "request_id": self.request_id,
            "queued": len(self.jobs),
            "jobs": [job(j, "queued") for j in self.jobs] + [job(j, "active") for j in self.active],
            "refused": [
                {"customer_id": t.customer_id, "period": t.period, "reason": t.refused}
                for t in self.refused
            ],
            "cascades_outside_scope": self.outside_scope,
        }


def submit_recalculations(
    session: Session,
    principal: Principal,
    *,
    periods: list[str],
    reason: ReasonCode,
    customer_ids: list[int] | None = None,
    all_eligible: bool = False,
    explanation: str = "",
    dry_run: bool = False,
    run_after: datetime | None = None,
) -> BulkSubmission:
    """Queue the recalculations; the caller commits (nothing is queued when it raises)."""
    explanation = utilities.check_reason(JobType.RECALCULATION, reason, explanation)
    if all_eligible == (customer_ids is not None):
        raise Invalid("give either customer_ids or all_eligible, not both or neither")
    if not periods:
        raise Invalid("select at least one billing period")
    if len(set(periods)) != len(periods):
        raise Invalid("a billing period is selected twice")
    if run_after is not None and run_after.tzinfo is None:
        raise Invalid("run_at must carry a time zone (instants are stored in UTC)")
    try:
        months = sorted(Month.parse(p) for p in periods)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    now = utcnow()
    out = BulkSubmission(str(uuid.uuid4()))
    if customer_ids is not None:
        _named(
            session,
            principal,
            out,
            customer_ids,
            months,
            reason,
            explanation,
            dry_run,
            now,
            run_after,
        )
        return out
    ids = candidate_customers(session, principal, Permission.RECALCULATE)
    for target in plan_generation(session, months, ids, now=now):
        if target.refused:
            out.refused.append(target)
            continue
        lock_key = queue.lock_key_for(target.customer_id, target.period)
        active = queue.find_active(session, lock_key)
        if active is not None:
            out.active.append(active)
            continue
        try:
            out.jobs.append(
                _enqueue(
                    session,
                    principal,
                    out,
                    target.customer_id,
                    target.period,
                    reason,
                    explanation,
                    dry_run,
                    run_after,
                )
            )
        except Conflict:  # another caller queued it in between
            winner = queue.find_active(session, lock_key)
            if winner is None:
                raise
            out.active.append(winner)
    return out


def _named(
    session: Session,
    principal: Principal,
    out: BulkSubmission,
    customer_ids: list[int],
    months: list[Month],
    reason: ReasonCode,
    explanation: str,
    dry_run: bool,
    now: datetime,
    run_after: datetime | None,
) -> None:
    if not customer_ids:
        raise Invalid("select at least one customer")
    if len(customer_ids) > MAX_CUSTOMERS:
        raise Invalid(f"at most {MAX_CUSTOMERS} customers in one submission")
    if len(set(customer_ids)) != len(customer_ids):
        raise Invalid("a customer is selected twice")
    # Every customer is checked before anything is queued: one outside the
    # caller's scope refuses the submission (404, as for one customer).
    customers = [
        get_customer(session, principal, cid, Permission.RECALCULATE) for cid in customer_ids
    ]
    for customer in customers:
        for month in months:
            check_period(session, customer, str(month), JobType.RECALCULATION, now=now)
    named = frozenset(c.id for c in customers)
    for month in months:
        queued = [
            (
                customer,
                _enqueue(
                    session,
                    principal,
                    out,
                    customer.id,
                    str(month),
                    reason,
                    explanation,
                    dry_run,
                    run_after,
                ),
            )
            for customer in customers
        ]
        out.jobs.extend(job for _c, job in queued)
        if dry_run:
            continue
        cascaded: set[int] = set()
        for customer, job in queued:
            # Another owner is recalculated once, however many named
            # customers shared an account with it.
            for child, visible in utilities.cascade(
                session,
                principal,
                job,
                customer,
                month,
                out.request_id,
                run_after,
                skip=named | cascaded,
            ):
                cascaded.add(child.customer_id)
                if visible:
                    out.jobs.append(child)
                else:
                    out.outside_scope += 1


def _enqueue(
    session: Session,
    principal: Principal,
    out: BulkSubmission,
    customer_id: int,
    period: str,
    reason: ReasonCode,
    explanation: str,
    dry_run: bool,
    run_after: datetime | None,
) -> Job:
    return queue.enqueue(
        session,
        type=JobType.RECALCULATION,
        customer_id=customer_id,
        period=period,
        reason=reason,
        explanation=explanation,
        actor_id=principal.user_id,
        actor_label=principal.email,
        dry_run=dry_run,
        request_id=out.request_id,
        run_after=run_after,
    )
