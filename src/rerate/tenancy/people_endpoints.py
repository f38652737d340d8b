"""People over HTTP: invitations, users, role grants and API keys (manage_users)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from rerate.api.deps import (
    AuthenticatedPrincipal,
    Public,
    SessionDep,
    UserManager,
    get_settings_dep,
)
from rerate.api.fields import Id, Offset
from rerate.api.idempotency import keep_no_answer
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.settings import Settings
from rerate.models import Invitation, RoleAssignment, User
from rerate.models.enums import Role
from rerate.tenancy import keys, people

router = APIRouter(tags=["people"])

Limit = Annotated[int, Query(ge=1, le=500)]
Token = Annotated[str, Path(min_length=10, max_length=200)]
Reason = Annotated[str, Field(max_length=1000, description="Why; kept in the audit log.")]


class GrantOut(BaseModel):
    id: int
    role: Role
    node_id: int
    node_name: str

    @classmethod
    def of(cls, a: RoleAssignment) -> GrantOut:
        return cls(id=a.id, role=Role(a.role), node_id=a.node_id, node_name=a.node.name)


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    active: bool
    created_at: datetime
    last_login_at: datetime | None
    grants: list[GrantOut]

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(
            id=u.id,
            email=u.email,
            name=u.name,
            active=u.active,
            created_at=u.created_at,
            last_login_at=u.last_login_at,
            grants=[GrantOut.of(a) for a in u.roles],
        )


class InvitationIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    role: Role
    node_id: Id
    reason: Reason = ""


class InvitationOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    node_id: int
    expires_at: datetime

    @classmethod
    def of(cls, i: Invitation) -> InvitationOut:
        return cls(
            id=i.id,
            email=i.email,
            name=i.name,
            role=Role(i.role),
            node_id=i.node_id,
            expires_at=i.expires_at,
        )


class InvitationCreated(InvitationOut):
    token: str = Field(description="Single use; shown once, stored only as a hash.")
    accept_path: str = Field(description="The console page where the invitee sets a password.")


class AcceptIn(BaseModel):
    password: str = Field(min_length=1, max_length=1024)
    name: str | None = Field(None, max_length=200)


class GrantIn(BaseModel):
    role: Role
    node_id: Id
    reason: Reason = ""


class ReasonIn(BaseModel):
    reason: Reason = ""


class KeyOut(BaseModel):
    id: int
    prefix: str
    name: str
    owner_id: int
    owner_email: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _with_reason(session: Any, principal: Any, reason: str) -> None:
    set_session_actor(session, Actor(principal.user_id, principal.email), reason)


@router.post("/invitations", status_code=201)
def invite(
    body: InvitationIn, request: Request, session: SessionDep, principal: UserManager
) -> InvitationCreated:
    """Invite a person to hold ROLE on NODE; the answer carries the token once."""
    keep_no_answer(request)  # the token is shown once: never stored for a replay
    _with_reason(session, principal, body.reason)
    invitation, token = people.invite(
        session,
        principal,
        email=body.email,
        name=body.name,
        role=body.role,
        node_id=body.node_id,
    )
    return InvitationCreated(
        **InvitationOut.of(invitation).model_dump(),
        token=token,
        accept_path=f"/invitations/{token}",
    )


@router.get("/invitations")
def list_invitations(node_id: Id, session: SessionDep, principal: UserManager) -> dict[str, Any]:
    """Pending invitations at a node."""
    items = [InvitationOut.of(i) for i in people.list_invitations(session, principal, node_id)]
    return {"items": items, "total": len(items)}


@router.post("/invitations/{invitation_id}/revoke")
def revoke_invitation(
    invitation_id: Id, body: ReasonIn, session: SessionDep, principal: UserManager
) -> InvitationOut:
    _with_reason(session, principal, body.reason)
    return InvitationOut.of(people.revoke_invitation(session, principal, invitation_id))


@router.post(
    "/invitations/{token}/accept",
    status_code=201,
    dependencies=[Depends(Public())],
    responses={404: {"description": "Unknown, used, revoked or expired invitation."}},
)
def accept_invitation(
    token: Token,
    body: AcceptIn,
    request: Request,
    session: SessionDep,
    settings: Settings = Depends(get_settings_dep),
) -> UserOut:
    """The invitee sets a password: the user is created with the invited role."""
    keep_no_answer(request)
    user = people.accept_invitation(
        session,
        token,
        password=body.password,
        name=body.name,
        min_password_length=settings.password_min_length,
    )
    return UserOut.of(user)


@router.get("/users")
def list_users(
    session: SessionDep,
    principal: UserManager,
    q: Annotated[str, Query(max_length=200, description="Email or name.")] = "",
    node_id: Id | None = None,
    include_inactive: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Users holding a role in the caller's subtree."""
    page = people.list_users(
        session,
        principal,
        q=q,
        node_id=node_id,
        include_inactive=include_inactive,
        limit=limit,
        offset=offset,
    )
    return {
        "items": [UserOut.of(u) for u in page.items],
        "total": page.total,
        "limit": limit,
        "offset": offset,
    }


@router.get("/users/{user_id}")
def get_user(user_id: Id, session: SessionDep, principal: UserManager) -> UserOut:
    return UserOut.of(people.get_user(session, principal, user_id))


@router.post("/users/{user_id}/grants", status_code=201)
def grant(user_id: Id, body: GrantIn, session: SessionDep, principal: UserManager) -> GrantOut:
    _with_reason(session, principal, body.reason)
    assignment = people.grant(session, principal, user_id, role=body.role, node_id=body.node_id)
    return GrantOut.of(assignment)


@router.post("/grants/{grant_id}/revoke")
def revoke(grant_id: Id, body: ReasonIn, session: SessionDep, principal: UserManager) -> GrantOut:
    _with_reason(session, principal, body.reason)
    assignment = people.revoke(session, principal, grant_id)
    return GrantOut(
        id=assignment.id,
        role=Role(assignment.role),
        node_id=assignment.node_id,
        node_name=assignment.node.name,
    )


@router.post("/users/{user_id}/deactivate")
def deactivate_user(
    user_id: Id, body: ReasonIn, session: SessionDep, principal: UserManager
) -> UserOut:
    """Sessions end and API keys stop at once."""
    _with_reason(session, principal, body.reason)
    return UserOut.of(people.set_user_active(session, principal, user_id, active=False))


@router.post("/users/{user_id}/activate")
def activate_user(
    user_id: Id, body: ReasonIn, session: SessionDep, principal: UserManager
) -> UserOut:
    _with_reason(session, principal, body.reason)
    return UserOut.of(people.set_user_active(session, principal, user_id, active=True))


@router.get("/api-keys")
def list_api_keys(
    session: SessionDep,
    principal: AuthenticatedPrincipal,
    user_id: Id | None = Query(
        None, description="Another user's keys (needs manage_users over them)."
    ),
    include_revoked: bool = True,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Your API keys (prefix, name, created, last used, revoked), newest first."""
    page = keys.list_keys(
        session,
        principal,
        user_id=user_id,
        include_revoked=include_revoked,
        limit=limit,
        offset=offset,
    )
    return {
        "items": [_key(k) for k in page.items],
        "total": page.total,
        "limit": limit,
        "offset": offset,
    }


def _key(view: keys.KeyView) -> KeyOut:
    return KeyOut(
        id=view.id,
        prefix=view.prefix,
        name=view.name,
        owner_id=view.owner_id,
        owner_email=view.owner_email,
        created_at=view.created_at,
        last_used_at=view.last_used_at,
        revoked_at=view.revoked_at,
    )


@router.post("/api-keys/{key_id}/revoke")
def revoke_api_key(
    key_id: Id, body: ReasonIn, session: SessionDep, principal: AuthenticatedPrincipal
) -> KeyOut:
    """Your own key, or with manage_users a key of a user in your subtree."""
    _with_reason(session, principal, body.reason)
    return _key(keys.revoke_key(session, principal, key_id))
