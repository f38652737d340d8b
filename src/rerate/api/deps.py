"""FastAPI dependencies: the unit of work, the caller, and permission declarations.

Every route declares exactly one of `Require(permission)`, `Authenticated()`
or `Public()` in its dependencies; tests/api/test_route_permissions.py fails
when a route declares none, so nothing is reachable by accident.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from rerate.api.gate import SessionGate
from rerate.auth import service as auth
from rerate.auth.cache import PrincipalCache
from rerate.auth.permissions import Permission, Principal
from rerate.auth.secrets import token_hash
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.db import Database, is_busy
from rerate.kit.errors import DatabaseBusy, Forbidden, Unauthenticated
from rerate.kit.settings import Settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "rerate_session"
# Methods that do not change anything: their transactions begin deferred.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_principal_cache(request: Request) -> PrincipalCache:
    return request.app.state.principal_cache  # type: ignore[no-any-return]


def get_gate(request: Request) -> SessionGate:
    return request.app.state.session_gate  # type: ignore[no-any-return]


async def _off_loop(call: Callable[[], None]) -> None:
    # Its own one-thread limiter, as FastAPI does for a dependency's exit:
    # finishing a transaction must not wait for a thread from the shared pool
    # while it holds a connection.
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(call, limiter=anyio.CapacityLimiter(1))


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request, committed at the edge when the handler succeeds.

    The request first waits its turn for a session (api/gate.py). A request
    that may change something (POST, PUT, PATCH, DELETE) begins its
    transactions IMMEDIATE on SQLite: it takes the write lock at its first
    statement and so queues on the busy timeout, instead of reading first and
    being refused the upgrade to a write ("database is locked") because a
    worker committed meanwhile. A write that still cannot get the database in
    time answers 503 DatabaseBusy, never a bare 500.
    """
    write = request.method not in SAFE_METHODS
    async with get_gate(request).slot(write=write):
        session = get_db(request).new_session(write=write)
        try:
            yield session
            await _off_loop(lambda: _commit_and_close(session))
        except BaseException as exc:
            await _off_loop(session.close)  # rolls back whatever is left
            if is_busy(exc):
                raise DatabaseBusy() from exc
            raise


def _commit_and_close(session: Session) -> None:
    # One trip to a thread for both: each trip costs the request a handoff.
    try:
        session.commit()
    finally:
        session.close()


# scope="function": the commit runs when the handler returns, *before* the
# response is sent. With FastAPI's default ("request") it ran after the
# answer had left, so a client could hold a 201 for a write that then rolled
# back (issue 11: two clients given different numbers for one invoice). A
# failed commit now raises into the error handlers and the client gets an
# error answer, never a success.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _cached_principal(request: Request) -> Principal | None:
    """The caller if known without the database: earlier in this request, or
    in the credential cache (auth/cache.py)."""
    known = getattr(request.state, "principal", None)
    if known is not None:
        return known  # type: ignore[no-any-return]
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        found = get_principal_cache(request).get("api_key", token_hash(header[7:].strip()))
    else:
        token = request.cookies.get(SESSION_COOKIE)
        found = get_principal_cache(request).get("session", token_hash(token)) if token else None
    if found is not None:
        request.state.principal = found
    return found


async def _principal_async(request: Request, session: Session) -> Principal:
    # Most requests come with a credential verified a moment ago: answered on
    # the event loop, without a trip to a thread; the others look it up there.
    cached = _cached_principal(request)
    if cached is not None:
        return cached
    return await anyio.to_thread.run_sync(_principal, request, session)


def _principal(request: Request, session: Session) -> Principal:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        principal = _api_key_principal(request, header[7:].strip())
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise Unauthenticated("log in, or send an API key as 'Authorization: Bearer ...'")
        cache = get_principal_cache(request)
        digest = token_hash(token)
        principal = cache.get("session", digest) or auth.authenticate_session(session, token)
        cache.put("session", digest, principal)
    request.state.principal = principal
    return principal


def principal_of(request: Request) -> Principal:
    """The caller, outside a route's own session (router-level dependencies);
    cached on the request like `_principal`."""
    with get_db(request).session() as session:
        return _principal(request, session)


def forget_session(request: Request, token: str) -> None:
    """Logout: the session stops working in this process at once, not after
    the cache's few seconds (the commit that deletes it clears the cache too,
    but may come after the answer)."""
    get_principal_cache(request).forget("session", token_hash(token))


def _api_key_principal(request: Request, secret: str) -> Principal:
    cache = get_principal_cache(request)
    digest = token_hash(secret)
    cached = cache.get("api_key", digest)
    if cached is not None:
        return cached
    # Its own short transactions, before the request's session reads
    # anything: on SQLite, committing the last-use mark while the request's
    # read transaction is open would stop that transaction from writing.
    db = get_db(request)
    with db.session() as lookup:
        principal, due = auth.authenticate_api_key(lookup, secret)
    if due is not None:
        _mark_api_key_used(db, due)
    cache.put("api_key", digest, principal)
    return principal


def _mark_api_key_used(db: Database, key_id: int) -> None:
    """Best effort: the mark is for operators ("is this key still used?"),
    written at most once a minute; when the database is busy the request goes
    on without it and a later one writes it."""
    try:
        with db.write_session() as mark:
            auth.note_api_key_use(mark, key_id)
    except (OperationalError, PoolTimeout) as exc:
        if not is_busy(exc):
            raise
        log.info("API key %s: last-use mark skipped, the database is busy", key_id)


class Public:
    """Declares a route open to anyone (health, login)."""

    permission = None

    def __call__(self) -> None:
        return None


class Authenticated:
    """Declares a route open to any logged-in caller; objects are still scoped."""

    permission = None

    async def __call__(self, request: Request, session: SessionDep) -> Principal:
        principal = await _principal_async(request, session)
        set_session_actor(session, Actor(principal.user_id, principal.email))
        return principal


class Require:
    """Declares the permission a route needs; 403 when the caller holds it nowhere.

    Object-level checks (is *this* customer in the caller's subtree?) happen
    in the services, which answer 404 for objects outside it.
    """

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, request: Request, session: SessionDep) -> Principal:
        principal = await _principal_async(request, session)
        if not principal.has(self.permission):
            raise Forbidden(f"your role does not grant {self.permission.value}")
        set_session_actor(session, Actor(principal.user_id, principal.email))
        return principal


# `principal: Viewer` in an endpoint's signature declares and injects at once.
Viewer = Annotated[Principal, Depends(Require(Permission.VIEW))]
InvoiceViewer = Annotated[Principal, Depends(Require(Permission.VIEW_INVOICES))]
UsageImporter = Annotated[Principal, Depends(Require(Permission.IMPORT_USAGE))]
BillingUtilitiesAdmin = Annotated[Principal, Depends(Require(Permission.BILLING_UTILITIES))]
InvoiceGenerator = Annotated[Principal, Depends(Require(Permission.GENERATE_INVOICES))]
PaymentRecorder = Annotated[Principal, Depends(Require(Permission.RECORD_PAYMENTS))]
SettingsManager = Annotated[Principal, Depends(Require(Permission.MANAGE_SETTINGS))]
CatalogManager = Annotated[Principal, Depends(Require(Permission.MANAGE_CATALOG))]
UserManager = Annotated[Principal, Depends(Require(Permission.MANAGE_USERS))]
AuthenticatedPrincipal = Annotated[Principal, Depends(Authenticated())]
