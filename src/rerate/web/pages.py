"""The web console: server-rendered Jinja2 pages made live with HTMX.

Thin shells over the services the JSON API calls (eligibility, utilities.submit,
jobs.views, the invoicing endpoints' visibility rules): the pages parse form
input, call a service and render. Every route declares its permission like the
API's routes do; none appears in the OpenAPI schema.

`WebRoute` turns the API's errors into HTML: unauthenticated requests go to
`/login?next=...` (an `HX-Redirect` for HTMX requests), 403 and 404 render an
error page. State-changing requests from another origin are refused (the
session cookie is SameSite=Lax as well).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

import jinja2
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from rerate.api.client import client_address
from rerate.api.csrf import SAFE_METHODS, same_origin
from rerate.api.deps import (
    SESSION_COOKIE,
    AuthenticatedPrincipal,
    BillingUtilitiesAdmin,
    InvoiceGenerator,
    InvoiceViewer,
    Public,
    Require,
    SessionDep,
    Viewer,
    forget_session,
    get_db,
    get_settings_dep,
)
from rerate.api.fields import Id
from rerate.auth import service as auth
from rerate.auth.login import log_in
from rerate.auth.permissions import Permission, Principal
from rerate.auth.throttle import ThrottlePolicy
from rerate.billing import eligibility, utilities
from rerate.billing.call_billing import call_billing
from rerate.billing.diff import diff_csv_for_job
from rerate.invoicing import endpoints as invoicing_api
from rerate.invoicing import service as invoicing
from rerate.jobs import queue, views
from rerate.kit import bounds, csvout
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.db import is_busy
from rerate.kit.errors import (
    Conflict,
    DatabaseBusy,
    Forbidden,
    Invalid,
    NotFound,
    RerateError,
    TooManyAttempts,
    Unauthenticated,
)
from rerate.kit.redact import without_paths
from rerate.kit.settings import Settings
from rerate.models import Account
from rerate.models.enums import (
    REASON_LABELS,
    InvoiceStatus,
    JobStatus,
    JobType,
    NodeKind,
    ReasonCode,
)
from rerate.settings import service as settings_service
from rerate.tenancy.service import get_customer, get_node, list_nodes

WEB_DIR = Path(__file__).resolve().parent
BUA = Permission.BILLING_UTILITIES
PAGE_SIZE = 20
INVOICE_PAGE_SIZE = 50
DIFF_PREVIEW_ROWS = 50
POLL_EVERY = "2s"
_PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

# htmx reads its configuration from this meta tag: no eval, no inline <style>
# (the CSP, rerate.api.headers.PAGE_CSP, forbids both), and swap 409/422
# answers: they carry the form re-rendered with its inline error.
HTMX_CONFIG = json.dumps(
    {
        "allowEval": False,
        "includeIndicatorStyles": False,
        "selfRequestsOnly": True,
        "responseHandling": [
            {"code": "204", "swap": False},
            {"code": "[23]..", "swap": True},
            {"code": "409", "swap": True, "error": False},
            {"code": "422", "swap": True, "error": False},
            {"code": "[45]..", "swap": False, "error": True},
            {"code": "...", "swap": False},
        ],
    },
    separators=(",", ":"),
)

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


# --- static files and templates -------------------------------------------------------------


def static_files() -> StaticFiles:
    """The console's CSS and JavaScript (htmx vendored), served from the package."""
    return StaticFiles(packages=[("rerate.web", "static")])


def _fingerprints() -> dict[str, str]:
    static = WEB_DIR / "static"
    return {
        p.relative_to(static).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()[:10]
        for p in static.rglob("*")
        if p.is_file()
    }


_STATIC_VERSIONS = _fingerprints()


def static_url(name: str) -> str:
    """`/static/<name>?v=<content hash>`: cacheable, and new after every change."""
    return f"/static/{name}?v={_STATIC_VERSIONS.get(name, '0')}"


def _utc(value: datetime | None, seconds: bool = True) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _amount(value: object, min_places: int = 2) -> str:
    """A money or quantity string from a service ("1234.5000") for people: thousands
    separators, trailing zeros dropped down to `min_places`, nothing rounded away."""
    number = _decimal(value)
    if number is None:
        return "—" if value is None or value == "" else str(value)
    exponent = number.normalize().as_tuple().exponent
    places = max(min_places, -exponent) if isinstance(exponent, int) else min_places
    return f"{number:,.{places}f}"


def _quantity(value: object) -> str:
    return _amount(value, 0)


def _signed(value: object) -> str:
    number = _decimal(value)
    return f"+{_amount(value)}" if number is not None and number > 0 else _amount(value)


def _sign_class(value: object) -> str:
    number = _decimal(value)
    if number is None:
        return ""
    return "pos" if number > 0 else ("neg" if number < 0 else "zero")


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(WEB_DIR / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(
    utc=_utc, amount=_amount, quantity=_quantity, signed=_signed, sign_class=_sign_class
)
_env.globals.update(static=static_url, htmx_config=HTMX_CONFIG, poll_every=POLL_EVERY)
templates = Jinja2Templates(env=_env)


@dataclass(frozen=True, slots=True)
class Can:
    """What the navigation offers; the routes check permissions on their own."""

    billing_utilities: bool = False
    invoices: bool = False
    generate_invoices: bool = False
    view: bool = False

    @classmethod
    def of(cls, principal: Principal | None) -> Can:
        if principal is None:
            return cls()
        return cls(
            billing_utilities=principal.has(BUA),
            invoices=principal.has(Permission.VIEW_INVOICES),
            generate_invoices=principal.has(Permission.GENERATE_INVOICES),
            view=principal.has(Permission.VIEW),
        )


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    principal: Principal | None = getattr(request.state, "principal", None)
    ctx: dict[str, Any] = {"me": principal, "can": Can.of(principal), "active": ""}
    ctx.update(context or {})
    return templates.TemplateResponse(
        request, name, ctx, status_code=status_code, headers=dict(headers or {})
    )


# --- the route class: errors as HTML, same-origin writes ------------------------------------


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def safe_next(value: str | None) -> str:
    """A local path to go back to after login; anything else becomes "/"."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def _login_redirect(request: Request) -> Response:
    if is_htmx(request):
        current = urlsplit(request.headers.get("hx-current-url", ""))
        here = current.path + (f"?{current.query}" if current.query else "")
        target = f"/login?next={quote(safe_next(here))}"
        response: Response = Response(status_code=401, headers={"HX-Redirect": target})
    else:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = RedirectResponse(f"/login?next={quote(safe_next(here))}", status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE)  # expired or revoked: stop sending it
    return response


_ERROR_TITLES = {
    400: "Bad request",
    403: "You don't have access to this page",
    404: "Page not found",
    503: "Busy, please try again",
}


def error_page(request: Request, status_code: int, detail: str) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {
            "status_code": status_code,
            "title": _ERROR_TITLES.get(status_code, "Error"),
            "detail": without_paths(detail),
        },
        status_code=status_code,
    )


def _busy_page(request: Request) -> HTMLResponse:
    response = error_page(
        request,
        503,
        "The database is busy right now and could not take your request; nothing was changed. "
        "Please try again in a moment.",
    )
    response.headers["Retry-After"] = str(DatabaseBusy().retry_after_s)
    return response


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def permission_label(permission: Permission) -> str:
    if permission == Permission.BILLING_UTILITIES:
        # The seeds name the role that grants it; people look for that name.
        return "Billing Utilities (role Billing Utilities Admin)"
    return permission.value.replace("_", " ").title()


class WebRoute(APIRoute):
    """An APIRoute whose errors are pages, not JSON envelopes."""

    def _forbidden_detail(self, exc: Forbidden) -> str:
        stack = list(self.dependant.dependencies)
        while stack:
            dep = stack.pop()
            if isinstance(dep.call, Require) and dep.call.permission is not None:
                label = permission_label(dep.call.permission)
                return f"This page needs the {label} permission, which your role does not include."
            stack.extend(dep.dependencies)
        return _sentence(exc.detail)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            response: Response
            if request.method not in SAFE_METHODS and not same_origin(request):
                response = error_page(request, 403, "Cross-site requests are refused.")
            else:
                try:
                    response = await handler(request)
                except Unauthenticated:
                    response = _login_redirect(request)
                except Forbidden as exc:
                    response = error_page(request, 403, self._forbidden_detail(exc))
                except NotFound as exc:
                    response = error_page(request, 404, _sentence(exc.detail))
                except RequestValidationError:
                    response = error_page(request, 404, "There is nothing at this address.")
                except (DatabaseBusy, OperationalError, PoolTimeout) as exc:
                    if not isinstance(exc, DatabaseBusy) and not is_busy(exc):
                        raise
                    response = _busy_page(request)
            if response.media_type == "text/html" or "text/html" in response.headers.get(
                "content-type", ""
            ):
                response.headers.setdefault("Cache-Control", "no-store")
            return response

        return route


router = APIRouter(route_class=WebRoute, include_in_schema=False)


# --- login, logout, home ---------------------------------------------------------------------


@router.get("/login", dependencies=[Depends(Public())])
def login_form(request: Request, next_: Annotated[str, Query(alias="next")] = "/") -> Response:
    return render(request, "login.html", {"next": safe_next(next_), "email": "", "error": None})


@router.post("/login", dependencies=[Depends(Public())])
def login_submit(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings_dep)],
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    target = safe_next(next_)
    try:
        # Commits on its own (the session row must exist before the browser
        # follows the redirect; a failure must be counted although it fails).
        _user, token = log_in(
            get_db(request),
            email,
            password,
            client=client_address(request),
            max_age_s=settings.session_max_age_s,
            policy=ThrottlePolicy.from_settings(settings),
        )
    except (Unauthenticated, TooManyAttempts) as exc:
        headers = (
            {"Retry-After": str(exc.extra["retry_after_s"])}
            if isinstance(exc, TooManyAttempts)
            else None
        )
        return render(
            request,
            "login.html",
            {"next": target, "email": email, "error": _sentence(exc.detail)},
            status_code=exc.status_code,
            headers=headers,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_max_age_s,
        httponly=True,
        samesite="lax",
        secure=settings.env == "production",
    )
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, _principal: AuthenticatedPrincipal) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth.logout(session, token, client=client_address(request))
        session.commit()
        forget_session(request, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def home(request: Request, principal: AuthenticatedPrincipal) -> Response:
    if principal.has(BUA):
        return RedirectResponse("/billing/utilities", status_code=303)
    if principal.has(Permission.VIEW_INVOICES):
        return RedirectResponse("/invoices", status_code=303)
    return render(request, "home.html")


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
        "Generates new invoices from the latest billing data. An Issued invoice is cancelled "
        "and its refreshed version is added as Ready.",
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


@dataclass(slots=True)
class OperationForm:
    customer_id: int | None = None
    periods: list[str] = field(default_factory=list)
    reason: str = ""
    explanation: str = ""
    dry_run: bool = False


def _periods_for(session: Any, principal: Principal, customer_id: int | None) -> list[str] | None:
    if customer_id is None:
        return None
    customer = get_customer(session, principal, customer_id, BUA)
    contract = eligibility.active_contract(session, customer.id)
    return [str(m) for m in eligibility.eligible_periods(contract)] if contract else []


def _operation_form(
    request: Request,
    session: Any,
    principal: Principal,
    op: Operation,
    form: OperationForm,
    *,
    error: str | None = None,
    status_code: int = 200,
    template: str = "_operation_form.html",
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
            "periods": _periods_for(session, principal, form.customer_id),
            "selected": form.periods,
        },
        status_code=status_code,
    )


@router.get("/billing/utilities/operations/{op}")
def operation_dialog(
    op: JobType, request: Request, session: SessionDep, principal: BillingUtilitiesAdmin
) -> Response:
    """The dialog of one operation, loaded when its card's button is pressed."""
    return _operation_form(
        request,
        session,
        principal,
        OPERATIONS[op],
        OperationForm(),
        template="_operation_dialog.html",
    )


@router.get("/billing/utilities/periods")
def operation_periods(
    request: Request,
    session: SessionDep,
    principal: BillingUtilitiesAdmin,
    customer_id: str = "",
) -> Response:
    """The eligible periods of the customer just selected in a dialog."""
    cid = _int_or_none(customer_id)
    return render(
        request,
        "_periods.html",
        {"periods": _periods_for(session, principal, cid), "selected": []},
    )


def _int_or_none(value: str | None) -> int | None:
    """A form's id or page number; anything else (also past the id columns'
    range, which the database would refuse with an error) is none."""
    value = (value or "").strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 10:
        return None
    number = int(value)
    return number if number <= bounds.MAX_ID else None


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
    operation = OPERATIONS[op]
    form = OperationForm(
        customer_id=_int_or_none(customer_id),
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
            error=_sentence(exc.detail),
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

        pg = _int_or_none(page)
        return cls(
            type=enum(JobType, type_),
            status=enum(JobStatus, status),
            customer_id=_int_or_none(customer_id),
            period=period if _PERIOD_RE.match(period or "") else None,
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
    items, total = views.list_jobs(
        session,
        principal,
        type_=filters.type,
        status=filters.status,
        customer_id=filters.customer_id,
        period=filters.period,
        limit=PAGE_SIZE,
        offset=(filters.page - 1) * PAGE_SIZE,
    )
    running = views.any_running(session, principal)
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
        "utilities.html",
        {
            "active": "utilities",
            "operations": list(OPERATIONS.values()),
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
        request, "_job_log.html", {"log": _log(session, principal, filters)}, headers=headers
    )


# --- one job ---------------------------------------------------------------------------------


RESULT_FIELDS: list[tuple[str, str, str]] = [
    # key, label, kind (count | money | signed | bool | text | invoices)
    ("rows_rerated", "Rows re-rated", "count"),
    ("unrated", "Rows without a price", "count"),
    ("total_before", "Total before", "money"),
    ("total_after", "Total after", "money"),
    ("delta", "Delta", "signed"),
    ("changed_items", "Changed items", "count"),
    ("published", "Published", "bool"),
    ("run_version", "Run version", "text"),
    ("invoices_cancelled", "Invoices cancelled", "invoices"),
    ("invoices_created", "Invoices created", "invoices"),
    ("superseded", "Superseded invoice", "invoices"),
    ("cache_rows", "Cache rows rebuilt", "count"),
]


def _result_rows(result: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not result:
        return []
    rows = []
    for key, label, kind in RESULT_FIELDS:
        if key not in result or result[key] is None:
            continue
        value = result[key]
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
        "type_title": OPERATIONS[JobType(view["type"])].title,
        "is_active": view["status"] in (JobStatus.QUEUED.value, JobStatus.RUNNING.value),
        "percent": max(0, min(100, percent)),
        "result_rows": _result_rows(view["result"]),
        "currency": (view["result"] or {}).get("currency", ""),
        "parent": parent,
        "children": _related(session, principal, view["children"]),
        "diff": _diff_preview(session, job, data_dir),
        "message": message,
        "error": error,
    }


@router.get("/billing/jobs/{job_id}")
def job_page(
    job_id: Id, request: Request, session: SessionDep, principal: BillingUtilitiesAdmin
) -> Response:
    ctx = _job_context(session, principal, job_id, data_dir=_data_dir(request))
    return render(request, "job.html", {"active": "utilities", **ctx})


@router.get("/billing/jobs/{job_id}/panel")
def job_panel(
    job_id: Id, request: Request, session: SessionDep, principal: BillingUtilitiesAdmin
) -> Response:
    """The live part of the job page; it polls itself while the job is queued or running."""
    ctx = _job_context(session, principal, job_id, data_dir=_data_dir(request))
    return render(request, "_job_panel.html", ctx)


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
        error, status_code = _sentence(exc.detail), exc.status_code
    ctx = _job_context(
        session, principal, job_id, data_dir=_data_dir(request), message=message, error=error
    )
    return render(request, "_job_panel.html", ctx, status_code=status_code)


# --- invoices --------------------------------------------------------------------------------


def _invoice_rows(items: list[dict[str, Any]], names: Mapping[int, str]) -> list[dict[str, Any]]:
    by_id = {inv["id"]: inv for inv in items}
    rows = []
    for inv in items:

        def ref(other_id: int | None) -> dict[str, Any] | None:
            if other_id is None:
                return None
            other = by_id.get(other_id)
            label = f"#{other_id}" + (f" ({other['number']})" if other and other["number"] else "")
            return {"id": other_id, "label": label, "on_page": other is not None}

        rows.append(
            {
                **inv,
                "customer_name": names.get(inv["customer_id"], f"#{inv['customer_id']}"),
                "status_label": inv["status"].capitalize(),
                "replaces_ref": ref(inv["replaces"]),
                "replaced_by_ref": ref(inv["replaced_by"]),
                "can_issue": inv["status"] == InvoiceStatus.READY.value,
            }
        )
    return rows


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
        account = _int_or_none(account_id)
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
        "record_billing.html",
        {
            "active": "records",
            "record_id": record_id,
            "account_id": account_id,
            "usage_start": usage_start,
            "details": details,
            "error": error,
        },
    )


@router.get("/settings")
def settings_page(
    request: Request, session: SessionDep, principal: Viewer, node_id: str = ""
) -> Response:
    """The settings in force on a node: each value, where it comes from (default,
    global, or the node whose override applies) and whether it is a policy."""
    nodes = list_nodes(session, principal)
    chosen = _int_or_none(node_id)
    if chosen is None and not principal.is_platform() and principal.grants:
        chosen = principal.grants[0].node_id  # one's own node, not the global values
    node = get_node(session, principal, chosen, Permission.VIEW) if chosen else None
    rows = [
        {
            "key": e.key.value,
            "value": e.value,
            "source": e.source.label,
            "source_level": e.source.level,
            "rule": (
                f"{e.rule.owner.value.title()} policy"
                if e.rule.policy
                else f"Set by the {e.rule.owner.value}; any node may override"
            ),
            "ignored": e.ignored_overrides,
        }
        for e in settings_service.effective_settings(session, node)
    ]
    return render(
        request,
        "settings.html",
        {"active": "settings", "nodes": nodes, "node": node, "rows": rows},
    )


@router.get("/invoices")
def invoices_page(
    request: Request,
    session: SessionDep,
    principal: InvoiceViewer,
    customer_id: str = "",
    period: str = "",
    page: str = "",
    issued: str = "",
) -> Response:
    """Invoices per customer and period, with the links between versions."""
    cid = _int_or_none(customer_id)
    per = period if _PERIOD_RE.match(period or "") else None
    pg = max(1, _int_or_none(page) or 1)
    customers = list_nodes(
        session, principal, kind=NodeKind.CUSTOMER, permission=Permission.VIEW_INVOICES
    )
    data = invoicing_api.list_invoices(
        session=session,
        principal=principal,
        customer_id=cid,
        period=per,
        limit=INVOICE_PAGE_SIZE,
        offset=(pg - 1) * INVOICE_PAGE_SIZE,
    )
    names = {c.id: c.name for c in customers}
    total = int(data["total"])
    message = None
    issued_id = _int_or_none(issued)
    if issued_id is not None:
        issued_inv = next((i for i in data["items"] if i["id"] == issued_id), None)
        if issued_inv is not None and issued_inv["number"]:
            message = f"Invoice #{issued_id} issued as {issued_inv['number']}."
    base = {k: v for k, v in (("customer_id", str(cid or "")), ("period", per or "")) if v}
    return render(
        request,
        "invoices.html",
        {
            "active": "invoices",
            "customers": customers,
            "customer_id": cid,
            "period": per or "",
            "invoices": _invoice_rows(data["items"], names),
            "total": total,
            "page": pg,
            "pages": max(1, math.ceil(total / INVOICE_PAGE_SIZE)),
            "base_query": urlencode(base),
            "message": message,
            "error": None,
        },
    )


@router.post("/invoices/{invoice_id}/issue")
def invoice_issue(
    invoice_id: Id,
    request: Request,
    session: SessionDep,
    principal: InvoiceGenerator,
) -> Response:
    inv, _customer = invoicing_api._get(session, principal, invoice_id)
    back = urlencode({"customer_id": inv.customer_id, "period": inv.period})
    try:
        invoicing.issue(session, inv)
    except RerateError as exc:
        session.rollback()
        return error_page(request, exc.status_code, exc.detail)
    session.commit()
    return RedirectResponse(
        f"/invoices?{back}&issued={invoice_id}#invoice-{invoice_id}", status_code=303
    )
