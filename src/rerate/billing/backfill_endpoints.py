"""Backfill over HTTP: submit (dry run by default), read the reconciliation (JSON
and CSV), publish a reviewed dry run. Platform roles only (billing/backfill.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from rerate.api.deps import InvoiceGenerator, SessionDep, get_db
from rerate.api.errors import JSON_ERROR_RESPONSES
from rerate.api.fields import BillingDate, Id
from rerate.api.media import CSVResponse
from rerate.auth.permissions import Principal
from rerate.billing import backfill
from rerate.jobs import views
from rerate.kit.audit import Actor, set_session_actor
from rerate.models import Job

router = APIRouter(tags=["backfill"])


class BackfillIn(BaseModel):
    start: BillingDate = Field(description="First day of the range (included).")
    end: BillingDate = Field(
        description="The day after the range (excluded): [start, end). Every month the range "
        "touches is backfilled whole (a billing run is a customer's month)."
    )
    customer_ids: list[Id] | None = Field(
        None,
        max_length=10_000,
        description="The customers; omit for every customer with an active contract.",
    )
    publish: bool = Field(
        False,
        description="Publish each recomputed period (each in its own transaction). Default: a "
        "dry run that only computes and reconciles.",
    )
    explanation: str = Field("", max_length=2000)


class BackfillOut(BaseModel):
    job: dict[str, Any]
    backfill_id: int
    periods: int = Field(description="(customer, period) pairs the job computes.")
    skipped: int = Field(description="Pairs refused by the eligibility rules (listed with why).")


def view(session: Session, principal: Principal, job: Job) -> dict[str, Any]:
    """A backfill job, its request and its reconciliation."""
    bf = backfill.backfill_of(session, job)
    rows = backfill.items(session, bf.id)
    return {
        "job": views.get_job(session, principal, job.id)[1],
        "backfill": {
            "id": bf.id,
            "start": bf.start_date,
            "end": bf.end_date,
            "publish": bf.publish,
            "reviewed_job_id": bf.reviewed_job_id,
        },
        "items": rows,
        "totals": backfill.totals(rows),
    }


def _out(session: Session, principal: Principal, sub: backfill.Submitted) -> BackfillOut:
    return BackfillOut(
        job=views.get_job(session, principal, sub.job.id)[1],
        backfill_id=sub.backfill.id,
        periods=sub.items,
        skipped=sub.skipped,
    )


@router.post("/billing/backfill", status_code=202)
def submit_backfill(
    body: BackfillIn, request: Request, session: SessionDep, principal: InvoiceGenerator
) -> BackfillOut:
    """Queue a backfill job: each (customer, period) of the range computed with today's
    rules and reconciled against the published run. Nothing is published unless
    `publish` is true. 404 for a customer id outside the caller's scope."""
    # As the other job submissions: take the write lock up front (SQLite).
    session.rollback()
    with get_db(request).write_session() as write:
        set_session_actor(write, Actor(principal.user_id, principal.email))
        sub = backfill.submit_backfill(
            write,
            principal,
            start=body.start,
            end=body.end,
            customer_ids=body.customer_ids,
            publish=body.publish,
            explanation=body.explanation,
        )
        write.flush()
        return _out(write, principal, sub)


@router.get("/billing/backfill/{job_id}")
def get_backfill(job_id: Id, session: SessionDep, principal: InvoiceGenerator) -> dict[str, Any]:
    """The job, the range, and per customer and period: the previously published
    total, the backfilled total and the difference (money as strings)."""
    job = backfill.visible_backfill_job(session, principal, job_id)
    return view(session, principal, job)


@router.get(
    "/billing/backfill/{job_id}/reconciliation.csv",
    response_class=CSVResponse,
    responses=JSON_ERROR_RESPONSES,
)
def reconciliation_csv(job_id: Id, session: SessionDep, principal: InvoiceGenerator) -> Response:
    """The reconciliation as CSV, one row per (customer, period)."""
    job = backfill.visible_backfill_job(session, principal, job_id)
    body = backfill.reconciliation_csv(session, backfill.backfill_of(session, job).id)
    return Response(
        body,
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="backfill-{job.id}-reconciliation.csv"'
        },
    )


@router.post("/billing/backfill/{job_id}/publish", status_code=202)
def publish_reviewed(
    job_id: Id, request: Request, session: SessionDep, principal: InvoiceGenerator
) -> BackfillOut:
    """Publish a completed dry run: a new job publishes each reviewed run whose inputs
    are unchanged since it was computed, and computes again (then publishes) the others."""
    session.rollback()
    with get_db(request).write_session() as write:
        set_session_actor(write, Actor(principal.user_id, principal.email))
        sub = backfill.submit_publish_reviewed(write, principal, job_id)
        write.flush()
        return _out(write, principal, sub)
