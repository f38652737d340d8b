"""The web console's shared parts: templates, rendering, the route class.

Server-rendered Jinja2 pages made live with HTMX; each domain's pages live in
its own `pages.py` (billing, jobs, invoicing, settings, ...) and use `page_router()`.

Thin shells over the services the JSON API calls (eligibility, utilities.submit,
jobs.views, the invoicing endpoints' visibility rules): the pages parse form
input, call a service and render. Every route declares its permission like the
API's routes do; none appears in the OpenAPI schema.

`WebRoute` turns the API's errors into HTML: unauthenticated requests go to
`/login?next=...` (an `HX-Redirect` for HTMX requests), 403 and 404 render an
error page. State-changing requests from another origin are refused (the
session cookie is SameSite=Lax as well)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from rerate.api.csrf import SAFE_METHODS, same_origin
from rerate.api.deps import (
    SESSION_COOKIE,
    Require,
)
from rerate.auth.permissions import Permission, Principal
from rerate.kit import bounds, present
from rerate.kit.db import is_busy
from rerate.kit.errors import (
    DatabaseBusy,
    Forbidden,
    NotFound,
    Unauthenticated,
)
from rerate.kit.money import UnknownCurrency
from rerate.kit.redact import without_paths

WEB_DIR = Path(__file__).resolve().parent
BUA = Permission.BILLING_UTILITIES
PAGE_SIZE = 20
POLL_EVERY = "2s"
PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

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


def _money(value: object, currency: str) -> str:
    """An invoice amount ("128.8500000000" or Decimal) for people, at the
    currency's minor unit (`kit.present`): "43,616.95", "1,500" for JPY."""
    number = _decimal(value)
    if number is None:
        return "—" if value is None or value == "" else str(value)
    try:
        return present.money_text(number, currency)
    except present.NotRounded:
        # Never hide a digit on a page: an amount the boundary did not round
        # (none should reach here) is shown as it is.
        return present.amount_text(number, currency)
    except UnknownCurrency:
        return _amount(number)


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
    utc=_utc,
    amount=_amount,
    money=_money,
    quantity=_quantity,
    signed=_signed,
    sign_class=_sign_class,
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
    import_usage: bool = False
    commissions: bool = False

    @classmethod
    def of(cls, principal: Principal | None, *, invoices_visible: bool = True) -> Can:
        """`invoices_visible`: whether the invoice visibility settings show the
        caller invoices anywhere (`_invoices_visible`); the Invoices and
        Billing status links follow them, as the routes do."""
        if principal is None:
            return cls()
        return cls(
            billing_utilities=principal.has(BUA),
            invoices=principal.has(Permission.VIEW_INVOICES) and invoices_visible,
            generate_invoices=principal.has(Permission.GENERATE_INVOICES),
            view=principal.has(Permission.VIEW),
            import_usage=principal.has(Permission.IMPORT_USAGE),
            commissions=principal.has(Permission.VIEW_COMMISSIONS),
        )


def _invoices_visible(request: Request, principal: Principal | None) -> bool:
    """Do the invoice visibility settings show this caller invoices anywhere?
    Read in a short session of its own: `render` has no access to the route's,
    and the answer is cached on the request (a page may render twice)."""
    if principal is None or principal.is_platform() or not principal.has(Permission.VIEW_INVOICES):
        return True  # platform roles always see invoices; without the permission, moot
    known = getattr(request.state, "invoices_visible", None)
    if known is None:
        from rerate.invoicing.visibility import sees_any

        try:
            with request.app.state.db.session() as session:
                known = sees_any(session, principal)
        except (OperationalError, PoolTimeout):
            # The busy page renders through here too: it must not fail again
            # on the database. Deny by default: the links go, the routes decide.
            return False
        request.state.invoices_visible = known
    return bool(known)


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    principal: Principal | None = getattr(request.state, "principal", None)
    can = Can.of(principal, invoices_visible=_invoices_visible(request, principal))
    ctx: dict[str, Any] = {"me": principal, "can": can, "active": ""}
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


def sentence(text: str) -> str:
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
        from rerate.invoicing.visibility import InvoicesHidden

        if isinstance(exc, InvoicesHidden):  # a policy, not a permission: say which
            return sentence(exc.detail)
        stack = list(self.dependant.dependencies)
        while stack:
            dep = stack.pop()
            if isinstance(dep.call, Require) and dep.call.permission is not None:
                label = permission_label(dep.call.permission)
                return f"This page needs the {label} permission, which your role does not include."
            stack.extend(dep.dependencies)
        return sentence(exc.detail)

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
                    response = error_page(request, 404, sentence(exc.detail))
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


def page_router() -> APIRouter:
    """The router every domain's pages.py uses: errors as pages, not in OpenAPI."""
    return APIRouter(route_class=WebRoute, include_in_schema=False)


def int_or_none(value: str | None) -> int | None:
    """A form's id or page number; anything else (also past the id columns'
    range, which the database would refuse with an error) is none."""
    value = (value or "").strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 10:
        return None
    number = int(value)
    return number if number <= bounds.MAX_ID else None
