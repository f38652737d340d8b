"""Console: the Billing utilities page (operations, run queue & log) and record billing."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from rerate.api.deps import (
    BillingUtilitiesAdmin,
    SessionDep,
    Viewer,
    get_db,
)
from rerate.auth.permissions import Principal
from rerate.billing import eligibility, utilities
from rerate.billing.call_billing import call_billing
from rerate.jobs import views
from rerate.kit import bounds
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import (
    Conflict,
    Invalid,
    NotFound,
)
from rerate.kit.periods import Month
from rerate.models.base import utcnow
from rerate.models.enums import (
    REASON_LABELS,
    JobStatus,
    JobType,
    NodeKind,
    ReasonCode,
)
from rerate.tenancy.service import get_customer, list_nodes
from rerate.web.console import (
    BUA,
    PAGE_SIZE,
    PERIOD_RE,
    int_or_none,
    page_router,
    render,
    sentence,
)

router = page_router()

# Reasons in the order people look for them; "Other" last.
REASON_ORDER = [
    ReasonCode.CREDIT_ADJUSTMENT,
    ReasonCode.INCORRECT_CHARGES,
    ReasonCode.PRICE_BOOK_UPDATE,
    ReasonCode.CONTRACT_RULE_UPDATE,
    ReasonCode.CUSTOM_LINE_ITEM,
    ReasonCode.DATA_CORRECTION,
    ReasonCode.OTHER,
]
REASONS = [(r.value, REASON_LABELS[r]) for r in REASON_ORDER] + [
    (r.value, REASON_LABELS[r]) for r in ReasonCode if r not in REASON_ORDER
]

# --- Billing utilities: operations ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Operation:
    type: JobType
    title: str
    description: str
    note: str
    open_label: str
    submit_label: str
    explanation_required: bool  # mirrors the service's rule, which is what enforces it
    has_dry_run: bool


OPERATIONS: dict[JobType, Operation] = {
    JobType.RECALCULATION: Operation(
        JobType.RECALCULATION,
        "Data recalculation",
        "Reruns the billing pipeline for past periods with the currently active contract rules "
        "and price book, for all management accounts of the customer.",
        "This can take a while: two or more hours for large customers.",
        "Run recalculation",
        "Run data recalculation",
        False,
        True,
    ),
    JobType.INVOICE_REFRESH: Operation(
        JobType.INVOICE_REFRESH,
        "Invoice refresh",
        "Regenerates existing invoices from the latest billing data. An Issued invoice is "
        "cancelled, or credited by a credit note when it is paid or its contract says so; "
        "the refreshed version is added as Ready.",
        "Typically completes within minutes.",
        "Run refresh",
        "Run invoice refresh",
        True,
        False,
    ),
    JobType.CACHE_SYNC: Operation(
        JobType.CACHE_SYNC,
        "Cache sync",
        "Rebuilds the billing cache (the aggregates behind reports and grids) from the current "
        "billing runs, without re-rating any usage.",
        "Quick: nothing is re-rated.",
        "Run cache sync",
        "Run cache sync",
        False,
        False,
    ),
}


def _operation(op: JobType) -> Operation:
    """The billing-utilities operation `op`; a backfill has its own page
    (billing/backfill_pages.py), not a dialog here."""
    if op not in OPERATIONS:
        raise NotFound(f"no operation {op.value}")
    return OPERATIONS[op]


@dataclass(slots=True)
class OperationForm:
    customer_id: int | None = None
    periods: list[str] = field(default_factory=list)
    reason: str = ""
    explanation: str = ""
    dry_run: bool = False


def _periods_for(
    session: Any, principal: Principal, customer_id: int | None, op: JobType | None = None
) -> list[str] | None:
    """The closed periods a dialog offers; a refresh only those with something
    billable and an invoice to correct (docs/invoicing.md), as the API's
    `operation=invoice_refresh`."""
    if customer_id is None:
        return None
    customer = get_customer(session, principal, customer_id, BUA)
    contract = eligibility.active_contract(session, customer.id)
    if contract is None:
        return []
    months = eligibility.eligible_periods(contract)
    if op == JobType.INVOICE_REFRESH:
        months = eligibility.refresh_periods(session, contract)
    return [str(m) for m in months]


def _operation_form(
    request: Request,
    session: Any,
    principal: Principal,
    op: Operation,
    form: OperationForm,
    *,
    error: str | None = None,
    status_code: int = 200,
    template: str = "billing/_operation_form.html",
) -> HTMLResponse:
    customers = [node for node, _contract in eligibility.eligible_customers(session, principal)]
    return render(
        request,
        template,
        {
            "op": op,
            "form": form,
            "error": error,
            "customers": customers,
            "reasons": REASONS,
            "periods": _periods_for(session, principal, form.customer_id, op.type),
            "selected": form.periods,
            "refresh": op.type == JobType.INVOICE_REFRESH,
        },
        status_code=status_code,
    )


@router.get("/billing/utilities/operations/{op}")
def operation_dialog(
    op: JobType, request: Request, session: SessionDep, principal: BillingUtilitiesAdmin
) -> Response:
    """The dialog of one operation, loaded when its card's button is pressed."""
    if op not in OPERATIONS:
        raise NotFound(f"no operation {op.value}")
    return _operation_form(
        request,
        session,
        principal,
        _operation(op),
        OperationForm(),
        template="billing/_operation_dialog.html",
    )


@router.get("/billing/utilities/periods")
def operation_periods(
    request: Request,
    session: SessionDep,
    principal: BillingUtilitiesAdmin,
    customer_id: str = "",
    op: str = "",
) -> Response:
    """The eligible periods of the customer just selected in a dialog (of
    operation `op`)."""
    cid = int_or_none(customer_id)
    kind = JobType(op) if op in {t.value for t in JobType} else None
    return render(
        request,
        "billing/_periods.html",
        {
            "periods": _periods_for(session, principal, cid, kind),
            "selected": [],
            "refresh": kind == JobType.INVOICE_REFRESH,
        },
    )


def _submitted_message(op: Operation, jobs: list[Any], notice: str | None = None) -> str:
    own = [j for j in jobs if j.parent_id is None]
    cascade = len(jobs) - len(own)
    ids = ", ".join(f"#{j.id}" for j in own)
    noun = "job" if len(own) == 1 else "jobs"
    text = f"{op.title} queued: {noun} {ids}"
    if cascade:
        text += f" (+{cascade} cascade {'job' if cascade == 1 else 'jobs'})"
    if notice:
        text += f"; and {notice}"
    return text + "."


@router.post("/billing/utilities/operations/{op}")
def operation_submit(
    op: JobType,
    request: Request,
    session: SessionDep,
    principal: BillingUtilitiesAdmin,
    customer_id: Annotated[str, Form()] = "",
    periods: Annotated[list[str] | None, Form()] = None,
    reason: Annotated[str, Form()] = "",
    explanation: Annotated[str, Form()] = "",
    dry_run: Annotated[str, Form()] = "",
) -> Response:
    """Submit through `utilities.submit`; its 422/409 come back inline in the dialog."""
    operation = _operation(op)
    form = OperationForm(
        customer_id=int_or_none(customer_id),
        periods=list(periods or []),
        reason=reason,
        explanation=explanation,
        dry_run=dry_run.lower() in ("1", "on", "true", "yes"),
    )
    # Take the write lock up front (BEGIN IMMEDIATE on SQLite), like the API's
    # submit and cancel: upgrading the request's read transaction fails with
    # "database is locked" once a worker has committed since the read began.
    session.rollback()
    try:
        if form.customer_id is None:
            raise Invalid("select a customer")
        try:
            reason_code = ReasonCode(form.reason)
        except ValueError:
            raise Invalid("select a reason") from None
        # One submission, one transaction: on a 422/409 nothing is queued.
        # Committed when the block ends: visible to the log refresh this
        # answer triggers.
        with get_db(request).write_session() as write:
            set_session_actor(write, Actor(principal.user_id, principal.email))
            submission = utilities.submit(
                write,
                principal,
                op,
                customer_id=form.customer_id,
                periods=form.periods,
                reason=reason_code,
                explanation=form.explanation,
                dry_run=form.dry_run,
            )
            write.flush()
            message = _submitted_message(operation, submission.jobs, submission.notice)
    except (Invalid, Conflict) as exc:
        return _operation_form(
            request,
            session,
            principal,
            operation,
            form,
            error=sentence(exc.detail),
            status_code=exc.status_code,
        )
    trigger = {"rerate:jobs-submitted": {"message": message}}
    return Response(
        status_code=202,
        headers={"HX-Trigger": json.dumps(trigger), "HX-Reswap": "none"},
    )


# --- Billing utilities: the run queue & log --------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogFilters:
    type: JobType | None = None
    status: JobStatus | None = None
    customer_id: int | None = None
    period: str | None = None
    page: int = 1

    @classmethod
    def parse(cls, type_: str, status: str, customer_id: str, period: str, page: str) -> LogFilters:
        """Lenient: a filter that does not parse is no filter (forms send "" for "All")."""

        def enum(kind: type[JobType] | type[JobStatus], value: str) -> Any:
            try:
                return kind(value) if value else None
            except ValueError:
                return None

        pg = int_or_none(page)
        return cls(
            type=enum(JobType, type_),
            status=enum(JobStatus, status),
            customer_id=int_or_none(customer_id),
            period=period if PERIOD_RE.match(period or "") else None,
            page=max(1, pg) if pg else 1,
        )

    def params(self, page: int | None = None) -> dict[str, str]:
        out = {
            "type": self.type.value if self.type else "",
            "status": self.status.value if self.status else "",
            "customer_id": str(self.customer_id) if self.customer_id else "",
            "period": self.period or "",
            "page": str(page or self.page) if (page or self.page) > 1 else "",
        }
        return {k: v for k, v in out.items() if v}

    def query(self, page: int | None = None) -> str:
        return urlencode(self.params(page))

    @property
    def active(self) -> bool:
        return bool(self.type or self.status or self.customer_id or self.period)


def _count(session: Any, principal: Principal, status: JobStatus) -> int:
    return views.list_jobs(session, principal, status=status, limit=1)[1]


def _log(session: Any, principal: Principal, filters: LogFilters) -> dict[str, Any]:
    items, total, running = views.page(
        session,
        principal,
        type_=filters.type,
        status=filters.status,
        customer_id=filters.customer_id,
        period=filters.period,
        limit=PAGE_SIZE,
        offset=(filters.page - 1) * PAGE_SIZE,
    )
    if running:
        n_running, n_queued = (
            _count(session, principal, s) for s in (JobStatus.RUNNING, JobStatus.QUEUED)
        )
        parts = [f"{n} {label}" for n, label in ((n_running, "running"), (n_queued, "queued")) if n]
        summary = "Jobs in progress: " + ", ".join(parts) + "."
    else:
        summary = "No jobs queued or running."
    pages = max(1, math.ceil(total / PAGE_SIZE))
    first = (filters.page - 1) * PAGE_SIZE + 1 if items else 0
    return {
        "items": items,
        "total": total,
        "filters": filters,
        "any_running": running,
        "summary": summary,
        "page": filters.page,
        "pages": pages,
        "first": first,
        "last": first + len(items) - 1 if items else 0,
    }


def _log_filters_context(session: Any, principal: Principal) -> dict[str, Any]:
    return {
        "filter_customers": list_nodes(session, principal, kind=NodeKind.CUSTOMER, permission=BUA),
        "job_types": [(t.value, views.TYPE_LABELS[t]) for t in JobType],
        "job_statuses": [(s.value, s.value.capitalize()) for s in JobStatus],
    }


LogQuery = Annotated[str, Query(alias="type")]


@router.get("/billing/utilities")
def utilities_page(
    request: Request,
    session: SessionDep,
    principal: BillingUtilitiesAdmin,
    type_: LogQuery = "",
    status: str = "",
    customer_id: str = "",
    period: str = "",
    page: str = "",
) -> Response:
    filters = LogFilters.parse(type_, status, customer_id, period, page)
    return render(
        request,
        "billing/utilities.html",
        {
            "active": "utilities",
            "operations": list(OPERATIONS.values()),
            # "Bill every eligible customer" (billing/bulk_pages.py)
            "last_closed_month": str(Month.of(utcnow().date()).previous()),
            "bulk_reasons": [(r.value, REASON_LABELS[r]) for r in REASON_ORDER],
            "log": _log(session, principal, filters),
            **_log_filters_context(session, principal),
        },
    )


@router.get("/billing/utilities/log")
def utilities_log(
    request: Request,
    session: SessionDep,
    principal: BillingUtilitiesAdmin,
    type_: LogQuery = "",
    status: str = "",
    customer_id: str = "",
    period: str = "",
    page: str = "",
) -> Response:
    """The log fragment; it carries its own polling trigger only while a job is active."""
    filters = LogFilters.parse(type_, status, customer_id, period, page)
    headers = {}
    if request.headers.get("hx-trigger") != "job-log":  # filters or paging, not a poll
        query = filters.query()
        headers["HX-Replace-Url"] = "/billing/utilities" + (f"?{query}" if query else "")
    return render(
        request,
        "billing/_job_log.html",
        {"log": _log(session, principal, filters)},
        headers=headers,
    )


@router.get("/billing/records")
def record_billing_page(
    request: Request,
    session: SessionDep,
    principal: Viewer,
    record_id: str = "",
    account_id: str = "",
    usage_start: str = "",
) -> Response:
    """The "Billing" tab of a call or usage row, looked up by record id,
    account and start (the same service as GET /api/v1/billing/records/{id})."""
    details = error = None
    if record_id or account_id or usage_start:
        account = int_or_none(account_id)
        try:
            start = bounds.check_instant(datetime.fromisoformat(usage_start.strip()), "start")
        except ValueError:
            start = None
        if not record_id.strip() or account is None or start is None:
            error = "Enter the record id, the account id and the start with its UTC offset."
        else:
            try:
                details = call_billing(
                    session,
                    principal,
                    record_id=record_id.strip(),
                    account_id=account,
                    usage_start=start,
                )
            except (Invalid, NotFound) as exc:
                error = str(exc)
    return render(
        request,
        "billing/record_billing.html",
        {
            "active": "records",
            "record_id": record_id,
            "account_id": account_id,
            "usage_start": usage_start,
            "details": details,
            "error": error,
        },
    )
