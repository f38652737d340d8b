"""Login, logout and the home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from rerate.api.client import client_address
from rerate.api.deps import (
    SESSION_COOKIE,
    AuthenticatedPrincipal,
    Public,
    SessionDep,
    forget_session,
    get_db,
    get_settings_dep,
)
from rerate.auth import service as auth
from rerate.auth.login import log_in
from rerate.auth.permissions import Permission
from rerate.auth.throttle import ThrottlePolicy
from rerate.kit.errors import (
    TooManyAttempts,
    Unauthenticated,
)
from rerate.kit.settings import Settings
from rerate.web.console import (
    BUA,
    page_router,
    render,
    safe_next,
    sentence,
)

router = page_router()

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
            {"next": target, "email": email, "error": sentence(exc.detail)},
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
