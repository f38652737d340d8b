"""Console: regions, their collection source (never its secret), recent
collection runs, and the "Update region" action, which queues the same
`collect_usage` job as the API and the daily schedule."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from rerate.api.deps import SessionDep, Viewer, get_db
from rerate.auth.permissions import Permission, Principal
from rerate.collection import service
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import Invalid, RerateError
from rerate.models.base import utcnow
from rerate.web.console import page_router, render

router = page_router()


@router.get("/regions")
def regions_page(request: Request, session: SessionDep, principal: Viewer) -> Response:
    views = [service.region_view(r) for r in service.list_regions(session, principal)]
    return render(request, "collection/regions.html", {"active": "regions", "regions": views})


def _region_context(
    session: Session, principal: Principal, region_id: int, **extra: Any
) -> dict[str, Any]:
    record = service.get_region(session, principal, region_id)
    schedule = service.schedule_of(session, record.source) if record.source else None
    runs = service.runs_of(session, record.source.id) if record.source else []
    yesterday = utcnow().date() - timedelta(days=1)
    return {
        "active": "regions",
        "region": service.region_view(record),
        "schedule": schedule,
        "runs": runs,
        "can_collect": principal.has(Permission.MANAGE_REGIONS) and record.source is not None,
        "form": {
            "start": yesterday.isoformat(),
            "end": (yesterday + timedelta(days=1)).isoformat(),
        },
        "error": None,
        **extra,
    }


@router.get("/regions/{region_id}")
def region_page(
    region_id: int, request: Request, session: SessionDep, principal: Viewer
) -> Response:
    return render(request, "collection/region.html", _region_context(session, principal, region_id))


def _day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{field}: choose a date", field=field) from None


@router.post("/regions/{region_id}/collect")
async def update_region(
    region_id: int, request: Request, session: SessionDep, principal: Viewer
) -> Response:
    """The "Update region" action: collect one date range now."""
    form = await request.form()
    values = {k: str(form.get(k, "")) for k in ("start", "end")}
    try:
        start, end = _day(values["start"], "start"), _day(values["end"], "end")
        session.rollback()
        with get_db(request).write_session() as write:
            set_session_actor(write, Actor(principal.user_id, principal.email))
            job = service.request_collection(
                write, principal, region_id, start=start, end=end, actor_label=principal.email
            )
            job_id = job.id
    except RerateError as exc:
        if exc.status_code in (403, 404):
            raise
        ctx = _region_context(session, principal, region_id, error=exc.detail, form=values)
        return render(request, "collection/region.html", ctx, status_code=exc.status_code)
    return RedirectResponse(f"/billing/jobs/{job_id}", status_code=303)
