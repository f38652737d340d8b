"""Billing generation: daily billing rows for every eligible customer of a
range of months, as recalculation jobs.

`generate_monthly_billing_records(period_start, period_end)` is the entry
point the seed's compatibility procedure (GenerateMonthlyBillingRecords)
names: the API's `GET /billing/generate/{yyyy-MM}` and
`POST /billing/generate/range`, the CLI's `rerate billing generate` and the
every-customer recalculation schedules (billing/tasks.py `expand_schedule`,
through `plan_generation`) all go through it. It wraps daily generation: a
billing run of (customer, month) *is* the daily rows of that month
(billing/runs.py), so generating a month queues the recalculation job that
computes and publishes that run; the job system runs it (and logs it) like
any other.

Semantics:

* The range is half-open, `[period_start, period_end)`: `period_end` is the
  day after the last day. Every calendar month holding a day of it is
  generated whole (a run covers a month; a daily row is never billed apart
  from its month).
* Eligibility is the billing utilities' one gate (`eligibility.check_period`):
  an active contract with a linked account, a closed month (in the
  customer's billing time zone) inside the coverage. A customer-month that
  fails it is listed with the reason, not queued.
* Idempotent: a (customer, month) that already has a queued or running job
  gets no second one; that job is answered instead (`status: "active"`).
  Generating a month again after its job ran queues a new recalculation,
  which publishes nothing new when nothing changed (equal fingerprints keep
  the current run: billing/runs.py `record_run`).
* No cascade to other owners of a moved account: the customers generated are
  chosen by scope, and the others' runs are reported stale if the boundary
  moved (billing/stale.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.billing.daily_rows import MAX_RANGE_DAYS, check_range, months_touched
from rerate.billing.eligibility import EARLIEST_PERIOD, Ineligible, check_period, known_for
from rerate.jobs import queue
from rerate.jobs.schedules import Target
from rerate.kit.errors import Conflict, Invalid
from rerate.kit.periods import Month
from rerate.models import Contract, Node
from rerate.models.base import utcnow
from rerate.models.enums import JobType, NodeKind, ReasonCode
from rerate.tenancy.service import in_scope

GENERATION_REASON = ReasonCode.OTHER
"""Generation is not a correction of a known cause; the explanation says what it is."""


@dataclass(frozen=True, slots=True)
class GeneratedJob:
    customer_id: int
    period: str
    job_id: int
    status: str  # "queued" (by this call) or "active" (already queued or running)
    type: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "period": self.period,
            "job_id": self.job_id,
            "status": self.status,
            "type": self.type,
        }


@dataclass(frozen=True, slots=True)
class Generation:
    request_id: str
    period_start: date
    period_end: date
    months: list[str]
    jobs: list[GeneratedJob] = field(default_factory=list)
    refused: list[Target] = field(default_factory=list)

    @property
    def job_ids(self) -> list[int]:
        return [j.job_id for j in self.jobs]

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "months": self.months,
            "job_ids": self.job_ids,
            "jobs": [j.as_dict() for j in self.jobs],
            "refused": [
                {"customer_id": t.customer_id, "period": t.period, "reason": t.refused}
                for t in self.refused
            ],
        }


def candidate_customers(
    session: Session,
    principal: Principal | None,
    permission: Permission = Permission.RECALCULATE,
) -> list[int]:
    """Customers with an active contract: all of them (`principal` None, the
    scheduled and system flows), or those in the caller's `permission` scope."""
    stmt = (
        select(Node.id)
        .join(Contract, (Contract.customer_id == Node.id) & Contract.active.is_(True))
        .where(Node.kind == NodeKind.CUSTOMER.value)
    )
    if principal is not None:
        stmt = stmt.where(in_scope(principal.scope_paths(permission)))
    return sorted(set(session.scalars(stmt)))


def plan_generation(
    session: Session, months: Sequence[Month], customer_ids: Sequence[int], *, now: datetime
) -> list[Target]:
    """(customer, month) targets, each checked by the eligibility gate at `now`;
    a refused one carries the reason."""
    targets: list[Target] = []
    ids = list(customer_ids)
    customers: dict[int, Node] = {}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        customers.update((n.id, n) for n in session.scalars(select(Node).where(Node.id.in_(chunk))))
    # Contracts and linked accounts read once for all (a schedule or "all
    # eligible" checks every customer of a platform).
    known = known_for(session, ids, now)
    for month in months:
        for customer_id in customer_ids:
            customer = customers.get(customer_id)
            if customer is None:
                targets.append(
                    Target(
                        customer_id, str(month), refused=f"customer {customer_id} no longer exists"
                    )
                )
                continue
            try:
                check_period(
                    session,
                    customer,
                    str(month),
                    JobType.RECALCULATION,
                    now=now,
                    known=known[customer_id],
                )
            except Ineligible as exc:
                targets.append(Target(customer_id, str(month), refused=exc.detail))
                continue
            targets.append(Target(customer_id, str(month)))
    return targets


def check_months(period_start: date, period_end: date, now: datetime) -> list[Month]:
    """The months to generate; 422 naming the parameter for a range that
    cannot hold a billable month (reversed, too long, too early, not begun)."""
    check_range(period_start, period_end, max_days=MAX_RANGE_DAYS)
    months = months_touched(period_start, period_end)
    if months[0] < EARLIEST_PERIOD:
        raise Invalid(
            f"{months[0]} is before {EARLIEST_PERIOD}, the earliest period rerate bills",
            field="start",
        )
    today = now.astimezone(UTC).date()
    if months[0].first_day > today:
        raise Invalid(
            f"{months[0]} has not begun: only closed months can be generated", field="start"
        )
    return months


def generate_monthly_billing_records(
    session: Session,
    period_start: date,
    period_end: date,
    *,
    principal: Principal | None = None,
    permission: Permission = Permission.RECALCULATE,
    actor_label: str | None = None,
    explanation: str = "",
    now: datetime | None = None,
) -> Generation:
    """Queue the generation of the daily billing rows of every month touching
    `[period_start, period_end)` for each eligible customer (in `principal`'s
    `permission` scope; every customer when `principal` is None). The caller
    commits (the jobs are queued with its transaction)."""
    now = now or utcnow()
    months = check_months(period_start, period_end, now)
    customer_ids = candidate_customers(session, principal, permission)
    request_id = str(uuid.uuid4())
    label = actor_label or (principal.email if principal is not None else "system")
    text = (
        explanation
        or f"billing generation for {period_start.isoformat()} to {period_end.isoformat()} "
        "(half-open)"
    )
    generation = Generation(request_id, period_start, period_end, [str(m) for m in months])
    for target in plan_generation(session, months, customer_ids, now=now):
        if target.refused:
            generation.refused.append(target)
            continue
        generation.jobs.append(_queue_once(session, target, principal, label, text, request_id))
    return generation


def _queue_once(
    session: Session,
    target: Target,
    principal: Principal | None,
    label: str,
    explanation: str,
    request_id: str,
) -> GeneratedJob:
    lock_key = queue.lock_key_for(target.customer_id, target.period)
    active = queue.find_active(session, lock_key)
    if active is None:
        try:
            job = queue.enqueue(
                session,
                type=JobType.RECALCULATION,
                customer_id=target.customer_id,
                period=target.period,
                reason=GENERATION_REASON,
                explanation=explanation,
                actor_id=principal.user_id if principal is not None else None,
                actor_label=label[:320],
                request_id=request_id,
            )
            return GeneratedJob(target.customer_id, target.period, job.id, "queued", job.type)
        except Conflict:
            active = queue.find_active(session, lock_key)  # another caller won the race
            if active is None:
                raise
    return GeneratedJob(target.customer_id, target.period, active.id, "active", active.type)
