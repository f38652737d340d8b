"""POST /billing/recalculations: recalculate many customers (or every eligible
one) for one or more periods in one request (billing/bulk_submit.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from rerate.api.deps import BillingUtilitiesAdmin, SessionDep, get_db
from rerate.api.fields import Id, Instant, Period
from rerate.billing.bulk_submit import MAX_CUSTOMERS, submit_recalculations
from rerate.kit.audit import Actor, set_session_actor
from rerate.models.enums import ReasonCode

router = APIRouter(tags=["billing utilities"])


class BulkIn(BaseModel):
    customer_ids: list[Id] | None = Field(
        None,
        max_length=MAX_CUSTOMERS,
        description="The customers to recalculate; omit and set all_eligible instead to bill "
        "every eligible customer in your scope.",
        examples=[[4, 5, 6]],
    )
    all_eligible: bool = Field(
        False, description="Every customer with an active contract in your Recalculate scope."
    )
    periods: list[Period] = Field(min_length=1, max_length=36, examples=[["2026-08"]])
    reason: ReasonCode
    explanation: str = Field("", max_length=2000)
    dry_run: bool = False
    run_at: Instant | None = Field(
        None, description="Run later: the jobs wait in the queue until this instant."
    )


@router.post("/billing/recalculations", status_code=202)
def submit_bulk(
    body: BulkIn, request: Request, session: SessionDep, principal: BillingUtilitiesAdmin
) -> dict[str, Any]:
    """One job per (customer, period) in the run queue & log, under one request id;
    workers run them in batches. A named customer outside your scope is a 404 and
    an ineligible period a 422, and then nothing is queued; with `all_eligible`,
    refused customer-months are listed with the reason instead."""
    # Take the write lock up front, as the single submission does (endpoints.py).
    session.rollback()
    with get_db(request).write_session() as write:
        set_session_actor(write, Actor(principal.user_id, principal.email))
        sub = submit_recalculations(
            write,
            principal,
            periods=body.periods,
            reason=body.reason,
            customer_ids=body.customer_ids,
            all_eligible=body.all_eligible,
            explanation=body.explanation,
            dry_run=body.dry_run,
            run_after=body.run_at,
        )
        write.flush()
        return sub.as_dict()
