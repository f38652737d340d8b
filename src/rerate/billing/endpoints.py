"""Billing utilities and the run queue & log over HTTP."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from rerate.api.deps import BillingUtilitiesAdmin, SessionDep, Viewer, get_db
from rerate.api.errors import JSON_ERROR_RESPONSES
from rerate.api.fields import Id, Instant, Offset, Period
from rerate.api.media import CSVResponse
from rerate.auth.permissions import OPERATION_PERMISSIONS, Permission
from rerate.billing import eligibility, utilities
from rerate.billing.call_billing import call_billing
from rerate.billing.diff import diff_csv_for_job
from rerate.jobs import queue, schedules, views
from rerate.jobs.schedules import PERIOD_RULE_PATTERN
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import Forbidden, Invalid, NotFound
from rerate.kit.periods import Month
from rerate.models import JobSchedule, Node, ScheduleOccurrence
from rerate.models.enums import JobStatus, JobType, ReasonCode
from rerate.tenancy.service import get_customer, in_scope

router = APIRouter(tags=["billing utilities"])
BUA = Permission.BILLING_UTILITIES


class SubmitIn(BaseModel):
    customer_id: Id
    periods: list[Period] = Field(min_length=1, max_length=36, examples=[["2026-08"]])
    reason: ReasonCode
    explanation: str = Field("", max_length=2000)
    dry_run: bool = False
    run_at: Instant | None = Field(
        None, description="Run later: the jobs wait in the queue until this instant."
    )


class SubmitOut(BaseModel):
    request_id: str
    jobs: list[dict[str, Any]]
    cascades_outside_scope: int = Field(
        0, description="Cascade jobs queued for customers outside your scope (not listed)."
    )
    notice: str | None = Field(None, examples=["1 cascade job outside your scope"])


def _submit(
    request: Request, session: SessionDep, principal: Any, type_: JobType, body: SubmitIn
) -> SubmitOut:
    # Submitting races the workers, which commit claims, heartbeats and results
    # all the time: take the write lock up front (BEGIN IMMEDIATE on SQLite)
    # instead of upgrading the request's read transaction, which SQLite refuses
    # with "database is locked" once another connection has committed since
    # the read began (as cancel_job does).
    session.rollback()
    with get_db(request).write_session() as write:
        set_session_actor(write, Actor(principal.user_id, principal.email))
        sub = utilities.submit(
            write,
            principal,
            type_,
            customer_id=body.customer_id,
            periods=body.periods,
            reason=body.reason,
            explanation=body.explanation,
            dry_run=body.dry_run,
            run_after=body.run_at,
        )
        write.flush()
        return SubmitOut(
            request_id=sub.request_id,
            jobs=[views.get_job(write, principal, j.id)[1] for j in sub.jobs],
            cascades_outside_scope=sub.outside_scope,
            notice=sub.notice,
        )


@router.get("/billing-utilities/customers")
def eligible_customers(session: SessionDep, principal: BillingUtilitiesAdmin) -> dict[str, Any]:
    """Customers with an active contract and a linked account affected by it."""
    items = [
        {"id": node.id, "name": node.name, "currency": c.currency, "billing_tz": c.billing_tz}
        for node, c in eligibility.eligible_customers(session, principal)
    ]
    return {"items": items, "total": len(items)}


@router.get("/billing-utilities/customers/{customer_id}/periods")
def eligible_periods(
    customer_id: Id,
    session: SessionDep,
    principal: BillingUtilitiesAdmin,
    operation: Annotated[
        JobType | None,
        Query(
            description="invoice_refresh: only the periods with something billable "
            "and an invoice to correct (docs/invoicing.md), the ones a refresh is offered for."
        ),
    ] = None,
) -> dict[str, Any]:
    """Closed periods inside the customer's contract coverage, newest first."""
    customer = get_customer(session, principal, customer_id, BUA)
    contract = eligibility.active_contract(session, customer.id)
    months = eligibility.eligible_periods(contract) if contract else []
    if contract is not None and operation == JobType.INVOICE_REFRESH:
        months = eligibility.refresh_periods(session, contract)
    items = [str(m) for m in months]
    return {"items": items, "total": len(items)}


@router.post("/billing-utilities/recalculations", status_code=202)
def submit_recalculation(
    body: SubmitIn, request: Request, session: SessionDep, principal: BillingUtilitiesAdmin
) -> SubmitOut:
    return _submit(request, session, principal, JobType.RECALCULATION, body)


@router.post("/billing-utilities/invoice-refreshes", status_code=202)
def submit_refresh(
    body: SubmitIn, request: Request, session: SessionDep, principal: BillingUtilitiesAdmin
) -> SubmitOut:
    return _submit(request, session, principal, JobType.INVOICE_REFRESH, body)


@router.post("/billing-utilities/cache-syncs", status_code=202)
def submit_cache_sync(
    body: SubmitIn, request: Request, session: SessionDep, principal: BillingUtilitiesAdmin
) -> SubmitOut:
    return _submit(request, session, principal, JobType.CACHE_SYNC, body)


@router.get("/jobs")
def list_jobs(
    session: SessionDep,
    principal: BillingUtilitiesAdmin,
    type: JobType | None = None,
    status: JobStatus | None = None,
    customer_id: Id | None = None,
    period: Period | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> dict[str, Any]:
    """The run queue & log: newest first by start time, only inside the caller's subtree."""
    items, total, any_running = views.page(
        session,
        principal,
        type_=type,
        status=status,
        customer_id=customer_id,
        period=period,
        limit=limit,
        offset=offset,
    )
    return {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "any_running": any_running,
    }


@router.get("/jobs/{job_id}")
def get_job(job_id: Id, session: SessionDep, principal: BillingUtilitiesAdmin) -> dict[str, Any]:
    return views.get_job(session, principal, job_id)[1]


@router.post("/jobs/{job_id}/cancel")
def cancel_job(
    job_id: Id, request: Request, session: SessionDep, principal: BillingUtilitiesAdmin
) -> dict[str, Any]:
    """A queued job is cancelled at once; a running one stops at its next heartbeat."""
    job, _ = views.get_job(session, principal, job_id)  # 404 outside the subtree
    utilities.require_operation(session, principal, job.type, job.customer_id)
    # Cancelling races the worker for the job row: take the write lock up
    # front (BEGIN IMMEDIATE on SQLite) instead of upgrading a read transaction.
    session.rollback()
    with get_db(request).write_session() as write:
        set_session_actor(write, Actor(principal.user_id, principal.email))
        queue.cancel(write, job_id)
    return views.get_job(session, principal, job_id)[1]


@router.get("/jobs/{job_id}/diff.csv", response_class=CSVResponse, responses=JSON_ERROR_RESPONSES)
def job_diff(
    job_id: Id, request: Request, session: SessionDep, principal: BillingUtilitiesAdmin
) -> Response:
    """Per account and SKU or destination: old and new quantity and amount."""
    job, _ = views.get_job(session, principal, job_id)
    body = diff_csv_for_job(session, job, request.app.state.settings.data_dir)
    return Response(
        body,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="job-{job.id}-diff.csv"'},
    )


class ScheduleIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    type: JobType
    customer_id: Id | None = Field(
        None, description="Omit for every eligible customer (platform roles only)."
    )
    cron: str = Field(
        "", max_length=100, examples=["0 2 * * *"], description="5-field cron, in UTC."
    )
    run_at: Instant | None = None
    period_rule: str = Field(
        "last_closed_month",
        pattern=PERIOD_RULE_PATTERN,
        description="last_closed_month or YYYY-MM",
    )
    reason: ReasonCode
    explanation: str = Field("", max_length=2000)


def _schedule_view(s: JobSchedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "type": s.type,
        "customer_id": s.customer_id,
        "cron": s.cron,
        "period_rule": s.period_rule,
        "reason": s.reason,
        "explanation": s.explanation,
        "enabled": s.enabled,
        "next_run_at": s.next_run_at,
        "last_run_at": s.last_run_at,
    }


@router.post("/schedules", status_code=201)
def create_schedule(
    body: ScheduleIn, session: SessionDep, principal: BillingUtilitiesAdmin
) -> dict[str, Any]:
    """Run later (`run_at`) or on a cron schedule, e.g. "recalculate the last
    closed month every night": `{"cron": "0 2 * * *", "period_rule": "last_closed_month"}`.
    Each occurrence runs once, however many workers see it due."""
    if body.type == JobType.BACKFILL:
        raise Invalid("type: a backfill is not scheduled; submit it with POST /billing/backfill")
    if body.type not in OPERATION_PERMISSIONS:
        raise Invalid(f"type: {body.type.value} is scheduled per region (rerate regions)")
    customer = None
    if body.customer_id is None:
        if not principal.is_platform():
            raise Forbidden("a schedule for every customer is for platform roles")
    else:
        customer = get_customer(
            session, principal, body.customer_id, OPERATION_PERMISSIONS[body.type]
        )
        if eligibility.active_contract(session, customer.id) is None:
            raise Invalid(f"{customer.name} has no active contract")
    explanation = utilities.check_reason(body.type, body.reason, body.explanation)
    schedule = schedules.create_schedule(
        session,
        name=body.name,
        type=body.type,
        cron=body.cron,
        run_at=body.run_at,
        customer_id=body.customer_id,
        period_rule=body.period_rule,
        reason=body.reason,
        explanation=explanation,
        actor_id=principal.user_id,
    )
    _check_fixed_period(session, schedule, customer)
    return _schedule_view(schedule)


def _check_fixed_period(session: SessionDep, schedule: JobSchedule, customer: Node | None) -> None:
    """Refuse now a fixed period its first occurrence would be refused for (it
    would be again at every later one): too early, or still open or future when
    the schedule first fires. Each occurrence is checked again when it fires."""
    if schedule.period_rule == schedules.LAST_CLOSED_MONTH or schedule.next_run_at is None:
        return
    month = Month.parse(schedule.period_rule)
    if customer is not None:
        eligibility.check_period(
            session,
            customer,
            str(month),
            JobType(schedule.type),
            now=schedule.next_run_at,
            invoice_needed=False,
        )
    elif month < eligibility.EARLIEST_PERIOD:
        raise eligibility.Ineligible(
            f"{month} is before {eligibility.EARLIEST_PERIOD}, the earliest period rerate bills"
        )


@router.get("/schedules/{schedule_id}/occurrences")
def list_occurrences(
    schedule_id: Id,
    session: SessionDep,
    principal: BillingUtilitiesAdmin,
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    """What each occurrence did, newest first: jobs queued, and each target that got
    no job (`refused` by the eligibility rules, or `skipped`: a job was active) with why."""
    schedule = _visible_schedule(session, principal, schedule_id)
    rows = session.scalars(
        select(ScheduleOccurrence)
        .where(ScheduleOccurrence.schedule_id == schedule.id)
        .order_by(ScheduleOccurrence.occurrence_at.desc(), ScheduleOccurrence.id.desc())
        .limit(limit)
    )
    items = [
        {
            "occurrence_at": o.occurrence_at,
            "request_id": o.request_id,
            "outcome": o.outcome,
            "jobs_queued": o.jobs_queued,
            "detail": json.loads(o.detail or "[]"),
        }
        for o in rows
    ]
    return {"items": items, "total": len(items)}


def _visible_schedule(session: SessionDep, principal: Any, schedule_id: int) -> JobSchedule:
    """404 for a schedule outside the caller's subtree (every-customer ones: platform only)."""
    schedule = session.get(JobSchedule, schedule_id)
    if schedule is None:
        raise NotFound("not found")
    if schedule.customer_id is None:
        if not principal.is_platform():
            raise NotFound("not found")
    else:
        get_customer(session, principal, schedule.customer_id, BUA)
    return schedule


@router.get("/schedules")
def list_schedules(session: SessionDep, principal: BillingUtilitiesAdmin) -> dict[str, Any]:
    stmt = select(JobSchedule).outerjoin(Node, Node.id == JobSchedule.customer_id)
    scope = in_scope(principal.scope_paths(BUA))
    stmt = (
        stmt.where(scope | JobSchedule.customer_id.is_(None))
        if principal.is_platform()
        else (stmt.where(scope))
    )
    items = [_schedule_view(s) for s in session.scalars(stmt.order_by(JobSchedule.id))]
    return {"items": items, "total": len(items)}


@router.delete("/schedules/{schedule_id}")
def disable_schedule(
    schedule_id: Id, session: SessionDep, principal: BillingUtilitiesAdmin
) -> dict[str, Any]:
    schedule = _visible_schedule(session, principal, schedule_id)
    schedule.enabled = False
    return _schedule_view(schedule)


@router.get("/billing/records/{record_id}")
def record_billing(
    record_id: str,
    session: SessionDep,
    principal: Viewer,
    account_id: Annotated[Id, Query(description="the row's account")],
    usage_start: Annotated[Instant, Query(description="the row's start, with its UTC offset")],
) -> dict[str, Any]:
    """The "Billing" tab of a call (or of a cloud usage row): how the published
    run rated it -- status, band, billed seconds, quantity, list and net amount,
    the tariff or price entry and the price-book version that priced it."""
    return call_billing(
        session, principal, record_id=record_id, account_id=account_id, usage_start=usage_start
    )
