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

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.accounts.service import ownerships_overlapping
from rerate.auth.permissions import Permission, Principal
from rerate.billing import utilities
from rerate.billing.eligibility import Known, check_period, known_for
from rerate.billing.generation import candidate_customers, plan_generation
from rerate.jobs import queue
from rerate.jobs.schedules import Target
from rerate.kit.errors import Invalid
from rerate.kit.periods import Month
from rerate.models import AccountOwnership, Job, Node
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
    queue_args: dict[str, Any] = {
        "type": JobType.RECALCULATION,
        "reason": reason,
        "explanation": explanation,
        "actor_id": principal.user_id,
        "actor_label": principal.email,
        "dry_run": dry_run,
        "request_id": out.request_id,
        "run_after": run_after,
    }
    if customer_ids is not None:
        _named(session, principal, out, customer_ids, months, now, queue_args)
        return out
    ids = candidate_customers(session, principal, Permission.RECALCULATE)
    wanted: list[tuple[int, str]] = []
    for target in plan_generation(session, months, ids, now=now):
        if target.refused:
            out.refused.append(target)
        else:
            wanted.append((target.customer_id, target.period))
    active = queue.active_jobs(session, [queue.lock_key_for(c, p) for c, p in wanted])
    out.active.extend(active.values())
    todo = [(c, p) for c, p in wanted if queue.lock_key_for(c, p) not in active]
    out.jobs.extend(queue.enqueue_many(session, todo, **queue_args))
    return out


def _named(
    session: Session,
    principal: Principal,
    out: BulkSubmission,
    customer_ids: list[int],
    months: list[Month],
    now: datetime,
    queue_args: dict[str, Any],
) -> None:
    if not customer_ids:
        raise Invalid("select at least one customer")
    if len(customer_ids) > MAX_CUSTOMERS:
        raise Invalid(f"at most {MAX_CUSTOMERS} customers in one submission")
    if len(set(customer_ids)) != len(customer_ids):
        raise Invalid("a customer is selected twice")
    # The nodes are read a chunk at a time; `get_customer` then finds each in
    # the session and applies the single submission's rule to it: one outside
    # the caller's scope refuses the submission (404, as for one customer).
    for chunk in (customer_ids[i : i + 500] for i in range(0, len(customer_ids), 500)):
        list(session.scalars(select(Node).where(Node.id.in_(chunk))))
    customers = [
        get_customer(session, principal, cid, Permission.RECALCULATE) for cid in customer_ids
    ]
    known = known_for(session, customer_ids, now)
    for customer in customers:
        for month in months:
            check_period(
                session,
                customer,
                str(month),
                JobType.RECALCULATION,
                now=now,
                known=known[customer.id],
            )
    named = frozenset(c.id for c in customers)
    by_id = {c.id: c for c in customers}
    for month in months:
        jobs = queue.enqueue_many(session, [(c.id, str(month)) for c in customers], **queue_args)
        out.jobs.extend(jobs)
        if queue_args["dry_run"]:
            continue
        cascaded: set[int] = set()
        sharing = _sharing(session, customers, known, month)
        for job in jobs:
            if job.customer_id not in sharing:
                continue
            # Another owner is recalculated once, however many named
            # customers shared an account with it.
            for child, visible in utilities.cascade(
                session,
                principal,
                job,
                by_id[job.customer_id],
                month,
                out.request_id,
                queue_args["run_after"],
                skip=named | cascaded,
            ):
                cascaded.add(child.customer_id)
                if visible:
                    out.jobs.append(child)
                else:
                    out.outside_scope += 1


def _sharing(
    session: Session, customers: list[Node], known: dict[int, Known], month: Month
) -> set[int]:
    """The customers that owned, during `month`, an account someone else also
    owned then: the only ones a cascade can start from (two queries for all,
    instead of `cascade_customers`' two per customer). A superset is fine:
    `utilities.cascade` then decides exactly, for these few."""
    windows = {}
    for c in customers:
        contract = known[c.id].contract
        windows[c.id] = month.in_zone(contract.billing_tz if contract else "UTC")
    if not windows:
        return set()
    start = min(w.start_utc for w in windows.values())
    end = max(w.end_utc for w in windows.values())
    ids = sorted(windows)
    mine: dict[int, set[int]] = {}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        for o in session.scalars(
            select(AccountOwnership).where(
                AccountOwnership.customer_id.in_(chunk),
                AccountOwnership.valid_from < end,
                AccountOwnership.valid_to.is_(None) | (AccountOwnership.valid_to > start),
            )
        ):
            w = windows[o.customer_id]
            if o.valid_from < w.end_utc and (o.valid_to is None or o.valid_to > w.start_utc):
                mine.setdefault(o.customer_id, set()).add(o.account_id)
    accounts = sorted({a for owned in mine.values() for a in owned})
    owners: dict[int, set[int]] = {}
    for chunk in (accounts[i : i + 500] for i in range(0, len(accounts), 500)):
        for o in ownerships_overlapping(session, start, end, account_ids=chunk):
            owners.setdefault(o.account_id, set()).add(o.customer_id)
    return {c for c, owned in mine.items() if any(len(owners.get(a, ())) > 1 for a in owned)}
