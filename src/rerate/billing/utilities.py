"""Submitting billing-utility jobs: recalculation, invoice refresh, cache sync.

One job per selected (customer, period); jobs submitted together share a
request id. The whole submission is one transaction: if any period is not
eligible (`eligibility.check_period`, the rules every path shares) or
conflicts with a running job, nothing is queued.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from rerate.accounts.service import ownerships_overlapping
from rerate.auth.permissions import OPERATION_PERMISSIONS, Permission, Principal
from rerate.billing.eligibility import Ineligible, active_contract, check_period
from rerate.jobs import queue
from rerate.kit.errors import Invalid, NotFound
from rerate.kit.periods import Month
from rerate.models import Job, Node
from rerate.models.base import utcnow
from rerate.models.enums import JobType, ReasonCode
from rerate.tenancy.service import get_customer

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
"""Who a cascade outside the submitter's scope runs as (it has no user)."""


@dataclass(frozen=True, slots=True)
class Submission:
    """The queued jobs the submitter may see, and how many cascade jobs were
    queued for customers outside its scope (never named to it)."""

    request_id: str
    jobs: list[Job]
    outside_scope: int = 0

    @property
    def notice(self) -> str | None:
        if not self.outside_scope:
            return None
        plural = "job" if self.outside_scope == 1 else "jobs"
        return f"{self.outside_scope} cascade {plural} outside your scope"


def check_reason(type_: JobType, reason: ReasonCode, explanation: str) -> str:
    explanation = explanation.strip()
    if reason == ReasonCode.OTHER and type_ == JobType.INVOICE_REFRESH and not explanation:
        raise Invalid("an invoice refresh with reason Other needs an explanation")
    if len(explanation) > 2000:
        raise Invalid("the explanation is limited to 2000 characters")
    return explanation


def submit(
    session: Session,
    principal: Principal,
    type_: JobType,
    *,
    customer_id: int,
    periods: list[str],
    reason: ReasonCode,
    explanation: str = "",
    dry_run: bool = False,
    run_after: datetime | None = None,
) -> Submission:
    # 404 outside the caller's subtree, 403 without this operation's permission there
    customer = get_customer(session, principal, customer_id, OPERATION_PERMISSIONS[type_])
    explanation = check_reason(type_, reason, explanation)
    if dry_run and type_ != JobType.RECALCULATION:
        raise Invalid("only a recalculation has a dry run")
    if not periods:
        raise Invalid("select at least one billing period")
    if len(set(periods)) != len(periods):
        raise Invalid("a billing period is selected twice")
    now = utcnow()
    if run_after is not None and run_after.tzinfo is None:
        raise Invalid("run_at must carry a time zone (instants are stored in UTC)")
    months = [check_period(session, customer, p, type_, now=now) for p in periods]
    request_id = str(uuid.uuid4())
    jobs: list[Job] = []
    hidden = 0
    for month in sorted(months):
        job = queue.enqueue(
            session,
            type=type_,
            customer_id=customer.id,
            period=str(month),
            reason=reason,
            explanation=explanation,
            actor_id=principal.user_id,
            actor_label=principal.email,
            dry_run=dry_run,
            request_id=request_id,
            run_after=run_after,
        )
        jobs.append(job)
        if type_ == JobType.RECALCULATION and not dry_run:
            for child, visible in cascade(
                session, principal, job, customer, month, request_id, run_after
            ):
                if visible:
                    jobs.append(child)
                else:
                    hidden += 1
    return Submission(request_id=request_id, jobs=jobs, outside_scope=hidden)


def cascade_customers(session: Session, customer: Node, month: Month, tz: str) -> list[int]:
    """Other customers that owned, during `month`, an account `customer` owned then.

    Their runs for the month depend on where the ownership boundary lies, so
    they are recalculated too (the VoIP seed's cascade on peer/company moves).
    """
    period = month.in_zone(tz)
    mine = ownerships_overlapping(
        session, period.start_utc, period.end_utc, customer_id=customer.id
    )
    account_ids = sorted({o.account_id for o in mine})
    if not account_ids:
        return []
    others = ownerships_overlapping(
        session, period.start_utc, period.end_utc, account_ids=account_ids
    )
    return sorted({o.customer_id for o in others if o.customer_id != customer.id})


def cascade(
    session: Session,
    principal: Principal,
    parent: Job,
    customer: Node,
    month: Month,
    request_id: str,
    run_after: datetime | None,
    *,
    skip: frozenset[int] = frozenset(),
) -> list[tuple[Job, bool]]:
    """Queue the other owners' recalculations; each with whether the submitter
    may see it. A cascade into another tenant's customer is not refused (the
    submitter's own period must still run, and the other bill depends on the
    same ownership boundary): it runs as the system actor, and the submitter
    learns only that it exists."""
    contract = active_contract(session, customer.id)
    tz = contract.billing_tz if contract else "UTC"
    children = []
    for other_id in cascade_customers(session, customer, month, tz):
        if other_id in skip:  # already in the submission (billing/bulk_submit.py)
            continue
        other = session.get(Node, other_id)
        if other is None:
            continue
        try:
            # The same gate as a direct submission: a cascade never recalculates
            # a month that customer could not have recalculated itself.
            check_period(session, other, str(month), JobType.RECALCULATION)
        except Ineligible as exc:
            log.info("job %s: no cascade to customer %s: %s", parent.id, other_id, exc.detail)
            continue
        visible = principal.has(Permission.RECALCULATE, other.path)
        child = queue.enqueue(
            session,
            type=JobType.RECALCULATION,
            customer_id=other_id,
            period=str(month),
            reason=ReasonCode(parent.reason),
            actor_id=principal.user_id if visible else None,
            actor_label=principal.email if visible else SYSTEM_ACTOR,
            request_id=request_id,
            parent_id=parent.id,
            run_after=run_after,
            explanation=f"cascade from job {parent.id}: an account moved between customers "
            f"during {month}",
        )
        children.append((child, visible))
    return children


def require_operation(
    session: Session, principal: Principal, job_type: str, customer_id: int
) -> None:
    """Acting on a job (cancel) needs the permission of its operation on its customer."""
    if JobType(job_type) == JobType.BACKFILL:  # its "customer" is the platform node
        node = session.get(Node, customer_id)
        if node is None:
            raise NotFound("not found")
        principal.require(Permission.GENERATE_INVOICES, node.path)
        return
    permission = OPERATION_PERMISSIONS.get(JobType(job_type), Permission.BILLING_UTILITIES)
    get_customer(session, principal, customer_id, permission)
