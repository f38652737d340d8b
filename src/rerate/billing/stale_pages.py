"""Console: the "N periods out of date" panel of the Billing utilities page.

The panel loads after the page (computing staleness reads every current run's
inputs, which the page itself should not wait for) and reloads whenever jobs
are submitted. "Recalculate these" submits through the same service as
`POST /api/v1/billing-utilities/stale/recalculations`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from rerate.api.deps import BillingUtilitiesAdmin, SessionDep, get_db
from rerate.auth.permissions import Permission, Principal
from rerate.billing import stale
from rerate.billing.stale_endpoints import Recalculator
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import Conflict, Invalid
from rerate.web.console import page_router, render, sentence

router = page_router()


def _panel(
    request: Request,
    session: Any,
    principal: Principal,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    items = stale.stale_periods(session, principal, request.app.state.settings.data_dir)
    return render(
        request,
        "billing/_stale_panel.html",
        {
            "items": items,
            "error": error,
            "can_recalculate": principal.has(Permission.RECALCULATE),
        },
        status_code=status_code,
    )


@router.get("/billing/utilities/stale")
def stale_panel(
    request: Request, session: SessionDep, principal: BillingUtilitiesAdmin
) -> Response:
    return _panel(request, session, principal)


@router.post("/billing/utilities/stale/recalculations")
def stale_recalculate(
    request: Request,
    session: SessionDep,
    principal: Recalculator,
    dry_run: Annotated[str, Form()] = "",
) -> Response:
    """Queue every listed period's recalculation; the log and this panel then
    reload (`rerate:jobs-submitted`)."""
    session.rollback()  # the write lock up front, as every submission takes it
    try:
        with get_db(request).write_session() as write:
            set_session_actor(write, Actor(principal.user_id, principal.email))
            result = stale.recalculate_stale(
                write,
                principal,
                request.app.state.settings.data_dir,
                dry_run=dry_run.lower() in ("1", "on", "true", "yes"),
            )
            write.flush()
            ids = [j.id for s in result.submissions for j in s.jobs]
    except (Invalid, Conflict) as exc:
        return _panel(
            request, session, principal, error=sentence(exc.detail), status_code=exc.status_code
        )
    kind = "Dry runs" if dry_run else "Recalculations"
    message = (
        f"{kind} queued for {len(result.stale)} period(s): jobs "
        + ", ".join(f"#{i}" for i in ids)
        + "."
        if ids
        else "Nothing is out of date."
    )
    trigger = {"rerate:jobs-submitted": {"message": message}}
    return Response(
        status_code=202, headers={"HX-Trigger": json.dumps(trigger), "HX-Reswap": "none"}
    )
