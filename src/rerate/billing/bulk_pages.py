"""Console: "Bill every eligible customer" on the Billing utilities page, one
submission for a period (billing/bulk_submit.py); the jobs appear in the run
queue & log, one per customer, and the workers run them in batches."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import Response

from rerate.api.deps import BillingUtilitiesAdmin, SessionDep, get_db
from rerate.billing.bulk_submit import submit_recalculations
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import Conflict, Invalid
from rerate.models.enums import ReasonCode
from rerate.web.console import page_router, render, sentence

router = page_router()


@router.post("/billing/utilities/bill-all")
def bill_all(
    request: Request,
    session: SessionDep,
    principal: BillingUtilitiesAdmin,
    period: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Queue a recalculation of `period` for every eligible customer in scope."""
    session.rollback()  # the write lock up front, as every submission does
    try:
        try:
            reason_code = ReasonCode(reason or ReasonCode.OTHER.value)
        except ValueError:
            raise Invalid("select a reason") from None
        with get_db(request).write_session() as write:
            set_session_actor(write, Actor(principal.user_id, principal.email))
            sub = submit_recalculations(
                write,
                principal,
                periods=[period.strip()],
                reason=reason_code,
                all_eligible=True,
                explanation=f"bill every eligible customer for {period.strip()}",
            )
            write.flush()
    except (Invalid, Conflict) as exc:
        return render(
            request,
            "billing/_bulk_result.html",
            {"error": sentence(exc.detail)},
            status_code=exc.status_code,
        )
    message = f"Recalculation queued for {len(sub.jobs)} customers"
    if sub.active:
        message += f" ({len(sub.active)} already queued or running)"
    if sub.refused:
        message += f"; {len(sub.refused)} not eligible"
    message += "."
    return render(
        request,
        "billing/_bulk_result.html",
        {"error": None, "message": message, "refused": sub.refused[:20]},
        status_code=202,
        headers={"HX-Trigger": json.dumps({"rerate:jobs-submitted": {"message": message}})},
    )
