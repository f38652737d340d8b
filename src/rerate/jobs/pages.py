"""Console: one job's page, its live panel and cancellation."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select

from rerate.api.deps import (
    BillingUtilitiesAdmin,
    SessionDep,
    get_db,
)
from rerate.api.fields import Id
from rerate.auth.permissions import Permission, Principal
from rerate.billing import utilities
from rerate.billing.backfill_endpoints import view as backfill_view
from rerate.billing.diff import diff_csv_for_job
from rerate.billing.pages import OPERATIONS
from rerate.jobs import queue, views
from rerate.kit import csvout
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import (
    Conflict,
    NotFound,
)
from rerate.models import Account, Backfill
from rerate.models.enums import (
    JobStatus,
    JobType,
)
from rerate.web.console import (
    page_router,
    render,
    sentence,
)

router = page_router()
DIFF_PREVIEW_ROWS = 50

# --- one job ---------------------------------------------------------------------------------


RESULT_FIELDS: list[tuple[str, str, str]] = [
    # key, label, kind (count | money | signed | bool | flag | text | invoices);
    # a flag is shown only when it is true
    ("rows_rerated", "Rows re-rated", "count"),
    ("unrated", "Rows without a price", "count"),
    ("total_before", "Total before", "money"),
    ("total_after", "Total after", "money"),
    ("delta", "Delta", "signed"),
    ("changed_items", "Changed items", "count"),
    ("published", "Published", "bool"),
    ("run_version", "Run version", "text"),
    ("invoices_cancelled", "Invoices cancelled", "invoices"),
    ("invoices_credited", "Invoices credited", "invoices"),
    ("credit_notes_created", "Credit notes issued", "invoices"),
    ("invoices_created", "Invoices created", "invoices"),
    ("superseded", "Superseded invoice", "invoices"),
    ("unchanged", "Unchanged", "flag"),
    ("cache_rows", "Cache rows rebuilt", "count"),
    # A backfill's counts; its reconciliation has a section of its own.
    ("periods", "Periods", "count"),
    ("changed", "Periods with a difference", "count"),
    ("periods_published", "Periods published", "count"),
    ("periods_computed", "Periods computed, not published", "count"),
    ("periods_unchanged", "Periods unchanged", "count"),
    ("periods_skipped", "Periods skipped", "count"),
    ("periods_failed", "Periods failed", "count"),
    # collect_usage (collection/tasks.py)
    ("region", "Region", "text"),
    ("days", "Days collected", "count"),
    ("rows_new", "New usage rows", "count"),
    ("rows_corrected", "Corrected usage rows", "count"),
    ("rows_unchanged", "Usage rows already stored", "count"),
    ("rows_rejected", "Rejected usage rows", "count"),
    ("note", "Note", "text"),
]


def _result_rows(result: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not result:
        return []
    rows = []
    for key, label, kind in RESULT_FIELDS:
        if key not in result or result[key] is None:
            continue
        value = result[key]
        if kind == "flag" and not value:
            continue
        if kind == "invoices":
            value = value if isinstance(value, list) else [value]
        rows.append({"key": key, "label": label, "kind": kind, "value": value})
    return rows


def _data_dir(request: Request) -> Path:
    return Path(request.app.state.settings.data_dir)


def _diff_preview(session: Any, job: Any, data_dir: Path) -> dict[str, Any] | None:
    if job.type != JobType.RECALCULATION.value or job.status != JobStatus.COMPLETE.value:
        return None
    try:
        text = diff_csv_for_job(session, job, data_dir)
    except NotFound:
        return None
    rows = list(csvout.read_dicts(io.StringIO(text)))
    total = next((r for r in rows if r.get("account_id") == "TOTAL"), None)
    body = [r for r in rows if r.get("account_id") != "TOTAL"]
    ids = {int(r["account_id"]) for r in body[:DIFF_PREVIEW_ROWS] if r["account_id"].isdigit()}
    refs = (
        dict(
            session.execute(
                select(Account.id, Account.external_ref).where(Account.id.in_(ids))
            ).all()
        )
        if ids
        else {}
    )
    for row in body[:DIFF_PREVIEW_ROWS]:
        aid = row["account_id"]
        row["account"] = refs.get(int(aid), aid) if aid.isdigit() else aid
    return {"rows": body[:DIFF_PREVIEW_ROWS], "count": len(body), "total": total}


def _backfill(session: Any, principal: Principal, job: Any) -> dict[str, Any] | None:
    """A backfill job's reconciliation, and whether it can be published now."""
    if job.type != JobType.BACKFILL.value:
        return None
    data = backfill_view(session, principal, job)
    bf = data["backfill"]
    published_by = session.scalar(select(Backfill.job_id).where(Backfill.reviewed_job_id == job.id))
    data["published_by"] = published_by
    data["can_publish"] = (
        job.dry_run
        and job.status == JobStatus.COMPLETE.value
        and published_by is None
        and principal.has(Permission.GENERATE_INVOICES)
        and any(i["status"] in ("computed", "unchanged") for i in data["items"])
    )
    data["range"] = f"[{bf['start']}, {bf['end']})"
    return data


def _related(session: Any, principal: Principal, ids: Iterable[int]) -> list[dict[str, Any]]:
    out = []
    for job_id in ids:
        try:
            out.append(views.get_job(session, principal, job_id)[1])
        except NotFound:
            out.append({"id": job_id, "hidden": True})
    return out


def _job_context(
    session: Any,
    principal: Principal,
    job_id: int,
    *,
    data_dir: Path,
    message: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    job, view = views.get_job(session, principal, job_id)
    parent = _related(session, principal, [view["parent_id"]])[0] if view["parent_id"] else None
    try:
        percent = int(Decimal(view["progress"]))
    except (InvalidOperation, ValueError):
        percent = 0
    return {
        "job": view,
        "type_title": OPERATIONS[JobType(view["type"])].title
        if JobType(view["type"]) in OPERATIONS
        else ("Usage collection" if view["type"] == "collect_usage" else view["type_label"]),
        "is_active": view["status"] in (JobStatus.QUEUED.value, JobStatus.RUNNING.value),
        "percent": max(0, min(100, percent)),
        "result_rows": _result_rows(view["result"]),
        "currency": (view["result"] or {}).get("currency", ""),
        "parent": parent,
        "children": _related(session, principal, view["children"]),
        "diff": _diff_preview(session, job, data_dir),
        "backfill": _backfill(session, principal, job),
        "message": message,
        "error": error,
    }


@router.get("/billing/jobs/{job_id}")
def job_page(
    job_id: Id, request: Request, session: SessionDep, principal: BillingUtilitiesAdmin
) -> Response:
    ctx = _job_context(session, principal, job_id, data_dir=_data_dir(request))
    return render(request, "jobs/job.html", {"active": "utilities", **ctx})


@router.get("/billing/jobs/{job_id}/panel")
def job_panel(
    job_id: Id, request: Request, session: SessionDep, principal: BillingUtilitiesAdmin
) -> Response:
    """The live part of the job page; it polls itself while the job is queued or running."""
    ctx = _job_context(session, principal, job_id, data_dir=_data_dir(request))
    return render(request, "jobs/_job_panel.html", ctx)


@router.post("/billing/jobs/{job_id}/cancel")
def job_cancel(
    job_id: Id, request: Request, session: SessionDep, principal: BillingUtilitiesAdmin
) -> Response:
    """Queued: cancelled at once; running: stops at its next heartbeat."""
    job, _ = views.get_job(session, principal, job_id)  # 404 outside the caller's subtree
    utilities.require_operation(session, principal, job.type, job.customer_id)
    session.rollback()  # take the write lock up front, like the API's cancel
    message = error = None
    status_code = 200
    try:
        with get_db(request).write_session() as write:
            set_session_actor(write, Actor(principal.user_id, principal.email))
            job = queue.cancel(write, job_id)
            message = (
                "Job cancelled."
                if job.status == JobStatus.CANCELLED.value
                else "Cancellation requested: the job stops at its next checkpoint."
            )
    except Conflict as exc:
        error, status_code = sentence(exc.detail), exc.status_code
    ctx = _job_context(
        session, principal, job_id, data_dir=_data_dir(request), message=message, error=error
    )
    return render(request, "jobs/_job_panel.html", ctx, status_code=status_code)
