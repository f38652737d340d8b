"""Console: the backfill form (platform roles) and publishing a reviewed backfill
from its job page; the job page itself shows the reconciliation (jobs/pages.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from rerate.api.deps import InvoiceGenerator, SessionDep, get_db
from rerate.api.fields import Id
from rerate.auth.permissions import Principal
from rerate.billing import backfill
from rerate.billing.eligibility import eligible_customers
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import Invalid, RerateError
from rerate.web.console import int_or_none, page_router, render, sentence

router = page_router()


def _form(
    request: Request,
    session: Any,
    principal: Principal,
    values: dict[str, Any],
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    customers = [node for node, _contract in eligible_customers(session, principal)]
    return render(
        request,
        "billing/backfill.html",
        {"active": "utilities", "customers": customers, "form": values, "error": error},
        status_code=status_code,
    )


@router.get("/billing/backfill")
def backfill_form(request: Request, session: SessionDep, principal: InvoiceGenerator) -> Response:
    values = {"start": "", "end": "", "customer_ids": [], "publish": False, "explanation": ""}
    return _form(request, session, principal, values)


def _parse_date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise Invalid(f"{name}: enter a date (YYYY-MM-DD)") from None


@router.post("/billing/backfill")
def backfill_submit(
    request: Request,
    session: SessionDep,
    principal: InvoiceGenerator,
    start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
    customer_ids: Annotated[list[str] | None, Form()] = None,
    publish: Annotated[str, Form()] = "",
    explanation: Annotated[str, Form()] = "",
) -> Response:
    """Queue the backfill and open its job page; a refusal comes back on the form."""
    chosen = [i for i in (int_or_none(c) for c in customer_ids or []) if i is not None]
    values = {
        "start": start,
        "end": end,
        "customer_ids": chosen,
        "publish": bool(publish),
        "explanation": explanation,
    }
    session.rollback()  # take the write lock up front, as the API does
    try:
        with get_db(request).write_session() as write:
            set_session_actor(write, Actor(principal.user_id, principal.email))
            sub = backfill.submit_backfill(
                write,
                principal,
                start=_parse_date(start, "start"),
                end=_parse_date(end, "end"),
                customer_ids=chosen or None,
                publish=bool(publish),
                explanation=explanation,
            )
            job_id = sub.job.id
    except RerateError as exc:
        return _form(
            request,
            session,
            principal,
            values,
            error=sentence(exc.detail),
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/billing/jobs/{job_id}", status_code=303)


@router.post("/billing/jobs/{job_id}/publish-backfill")
def publish_backfill(
    job_id: Id, request: Request, session: SessionDep, principal: InvoiceGenerator
) -> Response:
    """The job page's "Publish" of a reviewed dry run: a new job, whose page opens."""
    session.rollback()
    with get_db(request).write_session() as write:
        set_session_actor(write, Actor(principal.user_id, principal.email))
        sub = backfill.submit_publish_reviewed(write, principal, job_id)
        new_id = sub.job.id
    return RedirectResponse(f"/billing/jobs/{new_id}", status_code=303)
