"""Login, logout, who am I; users, role assignments and API keys."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from rerate.api.client import client_address
from rerate.api.deps import (
    SESSION_COOKIE,
    AuthenticatedPrincipal,
    Public,
    SessionDep,
    UserManager,
    forget_session,
    get_db,
    get_settings_dep,
)
from rerate.api.fields import Id
from rerate.api.idempotency import keep_no_answer
from rerate.auth import service
from rerate.auth.login import log_in
from rerate.auth.permissions import ROLE_PERMISSIONS, Permission
from rerate.auth.throttle import ThrottlePolicy
from rerate.kit.settings import Settings
from rerate.models.enums import Role
from rerate.tenancy.people import check_grantable
from rerate.tenancy.service import get_node

router = APIRouter(tags=["auth"])


class LoginIn(BaseModel):
    email: str
    password: str


class GrantOut(BaseModel):
    node_id: int
    role: Role
    permissions: list[Permission]


class MeOut(BaseModel):
    user_id: int
    email: str
    grants: list[GrantOut]


@router.post(
    "/auth/login",
    dependencies=[Depends(Public())],
    responses={
        401: {"description": "Wrong email or password."},
        429: {"description": "Too many failed logins; see the Retry-After header."},
    },
)
def login(
    body: LoginIn,
    request: Request,
    response: Response,
    settings: Settings = Depends(get_settings_dep),
) -> dict[str, str]:
    """Opens a web session (cookie `rerate_session`, HttpOnly, SameSite=Lax).

    Throttled per account and per client address: after too many wrong
    passwords the answer is 429 with `Retry-After`, even for the right one."""
    user, token = log_in(
        get_db(request),
        body.email,
        body.password,
        client=client_address(request),
        max_age_s=settings.session_max_age_s,
        policy=ThrottlePolicy.from_settings(settings),
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_max_age_s,
        httponly=True,
        samesite="lax",
        secure=settings.env == "production",
    )
    return {"status": "ok", "email": user.email}


@router.post("/auth/logout")
def logout(
    request: Request, response: Response, session: SessionDep, _p: AuthenticatedPrincipal
) -> dict[str, str]:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        service.logout(session, token, client=client_address(request))
        forget_session(request, token)
    response.delete_cookie(SESSION_COOKIE)
    return {"status": "ok"}


@router.get("/me")
def me(principal: AuthenticatedPrincipal) -> MeOut:
    return MeOut(
        user_id=principal.user_id,
        email=principal.email,
        grants=[
            GrantOut(node_id=g.node_id, role=g.role, permissions=sorted(ROLE_PERMISSIONS[g.role]))
            for g in principal.grants
        ],
    )


class UserIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    password: str | None = Field(
        default=None, max_length=1024, description="None: the user logs in with API keys only."
    )
    role: Role
    node_id: Id


class UserOut(BaseModel):
    id: int
    email: str
    name: str


@router.post("/users", status_code=201)
def create_user(
    body: UserIn,
    session: SessionDep,
    principal: UserManager,
    settings: Settings = Depends(get_settings_dep),
) -> UserOut:
    node = get_node(session, principal, body.node_id, Permission.MANAGE_USERS)
    # The same rules as a grant: platform roles, the node kind, an active node.
    check_grantable(session, principal, Role(body.role), node)
    user = service.create_user(
        session,
        body.email,
        name=body.name,
        password=body.password,
        min_password_length=settings.password_min_length,
    )
    service.assign_role(session, user, role=Role(body.role), node=node)
    return UserOut(id=user.id, email=user.email, name=user.name)


class ApiKeyIn(BaseModel):
    name: str = Field("", max_length=200)


class ApiKeyOut(BaseModel):
    id: int
    prefix: str
    key: str = Field(description="The secret; shown once, stored only as a hash.")


@router.post("/api-keys", status_code=201)
def create_api_key(
    body: ApiKeyIn, request: Request, session: SessionDep, principal: AuthenticatedPrincipal
) -> ApiKeyOut:
    """A key for the caller's own user (machines act with their user's roles)."""
    keep_no_answer(request)  # the secret is shown once: never stored for a replay
    user = service.get_user_by_email(session, principal.email)
    key, secret = service.create_api_key(session, user, name=body.name)
    return ApiKeyOut(id=key.id, prefix=key.prefix, key=secret)
