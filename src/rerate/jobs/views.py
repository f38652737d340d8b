"""Reading the run queue & log: list, filter, page, one job; always scoped."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.kit.errors import NotFound
from rerate.kit.present import amount_plain
from rerate.kit.redact import scrub, without_paths
from rerate.models import Job, Node
from rerate.models.base import utcnow
from rerate.models.enums import REASON_LABELS, JobStatus, JobType, ReasonCode
from rerate.tenancy.service import in_scope

# A `Job`, or a row of `_VIEW_COLUMNS` (same attribute names); rows of varying
# width have no precise static type, hence Any.
JobFields = Any

TYPE_LABELS = {
    JobType.RECALCULATION: "Recalc.",
    JobType.INVOICE_REFRESH: "Refresh",
    JobType.CACHE_SYNC: "Cache sync",
    JobType.BACKFILL: "Backfill",
    JobType.COLLECT_USAGE: "Collection",
}


def duration_seconds(job: JobFields, now: datetime | None = None) -> int | None:
    """How long the job ran, or has been running (live)."""
    if job.started_at is None:
        return None
    end = job.finished_at or now or utcnow()
    return max(0, int((end - job.started_at).total_seconds()))


def format_duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else (f"{m}m {s:02d}s" if m else f"{s}s")


# Rounded money fields of job results (billing/tasks.py writes them at the
# minor unit; results stored before that carried the column's 10 places).
_MONEY_KEYS = frozenset({"total_before", "total_after", "delta"})


def _public_result(result: Any) -> Any:
    """A job's result as callers see it: no server paths (results stored before
    `diff_file` carried an absolute `diff_path`), money at the minor unit."""
    if not isinstance(result, dict):
        return result
    public = {k: v for k, v in result.items() if not k.endswith("_path")}
    currency = public.get("currency")
    for key in _MONEY_KEYS & public.keys():
        public[key] = _money(public[key], currency)
    return scrub(public)


def _money(value: Any, currency: Any) -> Any:
    """A stored result's money string at the minor unit (never rounded: digits
    beyond it, which a rounded total has none of, are kept)."""
    if not isinstance(value, str) or not isinstance(currency, str):
        return value
    try:
        return amount_plain(Decimal(value), currency)
    except (ArithmeticError, ValueError):  # not a number, or an unknown currency
        return value


@lru_cache(maxsize=4096)
def _public_result_of(stored: str) -> Any:
    """`_public_result` of a stored result text, decoded once per distinct text.

    Why: the run queue is polled by every open page and by machines, and a
    page of 50 jobs decoded and scrubbed 50 result documents per request (half
    of the list's time). A finished job's result never changes, so its text is
    a sound key. Callers must not mutate what this returns (it is shared)."""
    return _public_result(json.loads(stored))


# The columns `job_view` reads: lists select these as plain rows, which cost a
# fraction of loading ORM objects (the run queue is polled by every open page
# and by machines).
_VIEW_COLUMNS = (
    Job.id,
    Job.request_id,
    Job.type,
    Job.status,
    Job.customer_id,
    Job.period,
    Job.reason,
    Job.explanation,
    Job.dry_run,
    Job.actor_label,
    Job.created_at,
    Job.run_after,
    Job.started_at,
    Job.finished_at,
    Job.error,
    Job.progress,
    Job.progress_note,
    Job.result,
    Job.parent_id,
    Job.attempts,
)


def job_view(
    job: JobFields, customer_name: str, children: list[int] | None = None
) -> dict[str, Any]:
    """A job as the API shows it, from the model or from a row of `_VIEW_COLUMNS`."""
    result = _public_result_of(job.result) if job.result else None
    seconds = duration_seconds(job)
    return {
        "id": job.id,
        "request_id": job.request_id,
        "type": job.type,
        "type_label": TYPE_LABELS[JobType(job.type)],
        "status": job.status,
        "status_label": job.status.capitalize(),
        "customer_id": job.customer_id,
        "customer_name": customer_name,
        "period": job.period,
        "reason": job.reason,
        "reason_label": REASON_LABELS[ReasonCode(job.reason)],
        "explanation": job.explanation,
        "dry_run": job.dry_run,
        "actor": job.actor_label,
        "created_at": job.created_at,
        "run_after": job.run_after,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "duration_seconds": seconds,
        "duration": format_duration(seconds),
        "error": without_paths(job.error) if job.error else job.error,
        "progress": format(job.progress, "f") if isinstance(job.progress, Decimal) else "0",
        "progress_note": job.progress_note,
        "result": result,
        "parent_id": job.parent_id,
        "children": children or [],
        "attempts": job.attempts,
    }


def _scoped(principal: Principal):  # type: ignore[no-untyped-def]
    return (
        select(Job, Node.name)
        .join(Node, Node.id == Job.customer_id)
        .where(in_scope(principal.scope_paths(Permission.BILLING_UTILITIES)))
    )


def _in_scope(principal: Principal) -> Any:
    return in_scope(principal.scope_paths(Permission.BILLING_UTILITIES))


def list_jobs(
    session: Session,
    principal: Principal,
    *,
    type_: JobType | None = None,
    status: JobStatus | None = None,
    customer_id: int | None = None,
    period: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Newest first by start time; queued jobs, not started yet, come first."""
    items, total, _running = page(
        session,
        principal,
        type_=type_,
        status=status,
        customer_id=customer_id,
        period=period,
        limit=limit,
        offset=offset,
    )
    return items, total


def page(
    session: Session,
    principal: Principal,
    *,
    type_: JobType | None = None,
    status: JobStatus | None = None,
    customer_id: int | None = None,
    period: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int, bool]:
    """`list_jobs` and `any_running` in two queries instead of three: the
    count of the filtered jobs and whether any job in scope is queued or
    running come from one pass over the caller's jobs (the run queue & log
    asks both on every refresh)."""
    scope = _in_scope(principal)
    filters: list[ColumnElement[bool]] = []
    if type_ is not None:
        filters.append(Job.type == type_.value)
    if status is not None:
        filters.append(Job.status == status.value)
    if customer_id is not None:
        filters.append(Job.customer_id == customer_id)
    if period is not None:
        filters.append(Job.period == period)
    active = Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value])
    counted = func.count().filter(and_(*filters)) if filters else func.count()
    total, running = session.execute(
        select(counted, func.count().filter(active))
        .select_from(Job)
        .join(Node, Node.id == Job.customer_id)
        .where(scope)
    ).one()
    where = [scope, *filters]
    rows = session.execute(
        select(*_VIEW_COLUMNS, Node.name.label("customer_name"))
        .join(Node, Node.id == Job.customer_id)
        .where(*where)
        .order_by(
            # Queued jobs (not started yet) first; then by start time, newest
            # first; a job cancelled before it started sorts by its creation.
            (Job.status == JobStatus.QUEUED.value).desc(),
            func.coalesce(Job.started_at, Job.created_at).desc(),
            Job.id.desc(),
        )
        .limit(limit)
        .offset(offset)
    ).all()
    return [job_view(row, row.customer_name) for row in rows], total or 0, bool(running)


def get_job(session: Session, principal: Principal, job_id: int) -> tuple[Job, dict[str, Any]]:
    row = session.execute(_scoped(principal).where(Job.id == job_id)).first()
    if row is None:
        raise NotFound(f"job {job_id} not found")
    job, name = row
    children = list(session.scalars(select(Job.id).where(Job.parent_id == job.id).order_by(Job.id)))
    return job, job_view(job, name, children)


def any_running(session: Session, principal: Principal) -> bool:
    stmt = (
        select(Job.id)
        .join(Node, Node.id == Job.customer_id)
        .where(
            _in_scope(principal),
            Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
        )
    )
    return session.execute(stmt.limit(1)).first() is not None
