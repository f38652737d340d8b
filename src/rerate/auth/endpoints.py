"""Login, logout, who am I; users, role assignments and API keys."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from rerate.api.deps import (
    SESSION_COOKIE,
    AuthenticatedPrincipal,
    Public,
    SessionDep,
    UserManager,
    forget_session,
    get_settings_dep,
)
from rerate.auth import service
from rerate.auth.permissions import ROLE_PERMISSIONS, Permission
from rerate.kit.errors import Forbidden
from rerate.kit.settings import Settings
from rerate.models.enums import Role
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


@router.post("/auth/login", dependencies=[Depends(Public())])
def login(
    body: LoginIn,
    response: Response,
    session: SessionDep,
    settings: Settings = Depends(get_settings_dep),
) -> dict[str, str]:
    """Opens a web session (cookie `rerate_session`, HttpOnly, SameSite=Lax)."""
    user, token = service.login(
        session, body.email, body.password, max_age_s=settings.session_max_age_s
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
        service.logout(session, token)
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
    password: str | None = Field(default=None, min_length=8)
    role: Role
    node_id: int


class UserOut(BaseModel):
    id: int
    email: str
    name: str


@router.post("/users", status_code=201)
def create_user(body: UserIn, session: SessionDep, principal: UserManager) -> UserOut:
    node = get_node(session, principal, body.node_id, Permission.MANAGE_USERS)
    if (
        Role(body.role) in (Role.PLATFORM_ADMIN, Role.PLATFORM_SERVICE)
        and not principal.is_platform()
    ):
        raise Forbidden("only platform administrators grant platform roles")
    user = service.create_user(session, body.email, name=body.name, password=body.password)
    service.assign_role(session, user, role=Role(body.role), node=node)
    return UserOut(id=user.id, email=user.email, name=user.name)


class ApiKeyIn(BaseModel):
    name: str = ""


class ApiKeyOut(BaseModel):
    id: int
    prefix: str
    key: str = Field(description="The secret; shown once, stored only as a hash.")


@router.post("/api-keys", status_code=201)
def create_api_key(
    body: ApiKeyIn, session: SessionDep, principal: AuthenticatedPrincipal
) -> ApiKeyOut:
    """A key for the caller's own user (machines act with their user's roles)."""
    user = service.get_user_by_email(session, principal.email)
    key, secret = service.create_api_key(session, user, name=body.name)
    return ApiKeyOut(id=key.id, prefix=key.prefix, key=secret)
