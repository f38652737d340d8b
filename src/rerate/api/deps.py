"""FastAPI dependencies: the unit of work, the caller, and permission declarations.

Every route declares exactly one of `Require(permission)`, `Authenticated()`
or `Public()` in its dependencies; tests/api/test_route_permissions.py fails
when a route declares none, so nothing is reachable by accident.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from rerate.auth import service as auth
from rerate.auth.permissions import Permission, Principal
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.db import Database
from rerate.kit.errors import Forbidden, Unauthenticated
from rerate.kit.settings import Settings

SESSION_COOKIE = "rerate_session"


def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed at the edge when the handler succeeds.

    A request that may write (any method but GET, HEAD, OPTIONS) takes the
    write lock up front on SQLite (BEGIN IMMEDIATE): a deferred transaction
    that reads and then writes is refused with "database is locked" when
    another connection committed in between, whatever the busy timeout; an
    immediate one waits its turn. On PostgreSQL both are plain transactions.
    """
    db = get_db(request)
    opened = db.session() if request.method in _SAFE_METHODS else db.writing_session()
    with opened as session:
        yield session


# scope="function": the commit runs when the handler returns, *before* the
# response is sent. With FastAPI's default ("request") it ran after the
# answer had left, so a client could hold a 201 for a write that then rolled
# back (issue 11: two clients given different numbers for one invoice). A
# failed commit now raises into the error handlers and the client gets an
# error answer, never a success.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _principal(request: Request, session: Session) -> Principal:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        # Its own short transactions, before the request's session reads
        # anything: on SQLite, committing the last-use mark while the request's
        # read transaction is open would stop that transaction from writing.
        db = get_db(request)
        with db.session() as lookup:
            principal, due = auth.authenticate_api_key(lookup, header[7:].strip())
        if due is not None:
            with db.write_session() as mark:
                auth.note_api_key_use(mark, due)
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise Unauthenticated("log in, or send an API key as 'Authorization: Bearer ...'")
        principal = auth.authenticate_session(session, token)
    request.state.principal = principal
    return principal


def principal_of(request: Request) -> Principal:
    """The caller, outside a route's own session (router-level dependencies);
    cached on the request like `_principal`."""
    with get_db(request).session() as session:
        return _principal(request, session)


class Public:
    """Declares a route open to anyone (health, login)."""

    permission = None

    def __call__(self) -> None:
        return None


class Authenticated:
    """Declares a route open to any logged-in caller; objects are still scoped."""

    permission = None

    def __call__(self, request: Request, session: SessionDep) -> Principal:
        principal = _principal(request, session)
        set_session_actor(session, Actor(principal.user_id, principal.email))
        return principal


class Require:
    """Declares the permission a route needs; 403 when the caller holds it nowhere.

    Object-level checks (is *this* customer in the caller's subtree?) happen
    in the services, which answer 404 for objects outside it.
    """

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, request: Request, session: SessionDep) -> Principal:
        principal = _principal(request, session)
        if not principal.has(self.permission):
            raise Forbidden(f"your role does not grant {self.permission.value}")
        set_session_actor(session, Actor(principal.user_id, principal.email))
        return principal


# `principal: Viewer` in an endpoint's signature declares and injects at once.
Viewer = Annotated[Principal, Depends(Require(Permission.VIEW))]
InvoiceViewer = Annotated[Principal, Depends(Require(Permission.VIEW_INVOICES))]
UsageImporter = Annotated[Principal, Depends(Require(Permission.IMPORT_USAGE))]
BillingUtilitiesAdmin = Annotated[Principal, Depends(Require(Permission.BILLING_UTILITIES_ADMIN))]
InvoiceGenerator = Annotated[Principal, Depends(Require(Permission.GENERATE_INVOICES))]
SettingsManager = Annotated[Principal, Depends(Require(Permission.MANAGE_SETTINGS))]
CatalogManager = Annotated[Principal, Depends(Require(Permission.MANAGE_CATALOG))]
UserManager = Annotated[Principal, Depends(Require(Permission.MANAGE_USERS))]
AuthenticatedPrincipal = Annotated[Principal, Depends(Authenticated())]
