"""Stale periods over HTTP: which billed periods a change made wrong, and
one call that submits their recalculations."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from rerate.api.deps import BillingUtilitiesAdmin, Require, SessionDep, get_db
from rerate.api.fields import Id, Offset, Period
from rerate.auth.permissions import Permission, Principal
from rerate.billing import stale
from rerate.jobs import views
from rerate.kit.audit import Actor, set_session_actor

router = APIRouter(tags=["billing utilities"])
Recalculator = Annotated[Principal, Depends(Require(Permission.RECALCULATE))]


def _data_dir(request: Request) -> Any:
    return request.app.state.settings.data_dir


def _matches(item: stale.StalePeriod, q: str) -> bool:
    needle = q.strip().casefold()
    return (
        needle in item.customer_name.casefold()
        or needle in item.period
        or any(needle in r.text.casefold() for r in item.reasons)
    )


@router.get("/billing-utilities/stale")
def list_stale(
    request: Request,
    session: SessionDep,
    principal: BillingUtilitiesAdmin,
    customer_id: Id | None = None,
    q: str | None = Query(None, max_length=200, description="Customer name, period or reason."),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> dict[str, Any]:
    """Billed, closed periods that a change since made out of date, with the
    reasons in plain words and the changes (audit entries, usage imports)
    that caused them; by customer name, newest period first."""
    items = stale.stale_periods(session, principal, _data_dir(request), customer_id=customer_id)
    if q:
        items = [i for i in items if _matches(i, q)]
    page = items[offset : offset + limit]
    return {
        "items": [i.as_dict() for i in page],
        "total": len(items),
        "limit": limit,
        "offset": offset,
    }


class Pair(BaseModel):
    customer_id: Id
    period: Period


class StaleRecalcIn(BaseModel):
    customer_id: Id | None = Field(
        None, description="Only this customer's stale periods (default: every one you see)."
    )
    periods: list[Pair] | None = Field(
        None,
        max_length=500,
        description="Only these (customer, period) pairs; each must be stale.",
    )
    dry_run: bool = Field(False, description="Compute and diff only; publish nothing.")


class StaleRecalcOut(BaseModel):
    request_ids: list[str]
    jobs: list[dict[str, Any]]
    periods: int = Field(description="How many stale periods the jobs recalculate.")
    cascades_outside_scope: int = 0


@router.post("/billing-utilities/stale/recalculations", status_code=202)
def recalculate_stale(
    body: StaleRecalcIn, request: Request, session: SessionDep, principal: Recalculator
) -> StaleRecalcOut:
    """Submit the recalculations of the stale periods: one submission per
    customer with its periods, the reason their staleness maps to and an
    explanation naming it. All or nothing."""
    # The write lock up front, as every billing-utilities submission takes it
    # (see billing/endpoints.py _submit).
    session.rollback()
    with get_db(request).write_session() as write:
        set_session_actor(write, Actor(principal.user_id, principal.email))
        result = stale.recalculate_stale(
            write,
            principal,
            _data_dir(request),
            customer_id=body.customer_id,
            pairs=[(p.customer_id, p.period) for p in body.periods]
            if body.periods is not None
            else None,
            dry_run=body.dry_run,
        )
        write.flush()
        return StaleRecalcOut(
            request_ids=[s.request_id for s in result.submissions],
            jobs=[
                views.get_job(write, principal, j.id)[1] for s in result.submissions for j in s.jobs
            ],
            periods=len(result.stale),
            cascades_outside_scope=sum(s.outside_scope for s in result.submissions),
        )
