"""People: invitations, role grants, deactivating users, within the caller's subtree.

Who may act on a user: a caller with MANAGE_USERS on every node the user
holds a role on (a partner admin cannot lock out a platform admin who also
holds a role under that partner). A user the caller cannot see at all (no
role inside the caller's MANAGE_USERS subtrees) answers 404.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, Select, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from rerate.auth import passwords
from rerate.auth import service as auth
from rerate.auth.permissions import PLATFORM_ROLES, ROLE_PERMISSIONS, Permission, Principal
from rerate.auth.secrets import new_token, token_hash
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import Conflict, Forbidden, Invalid, NotFound
from rerate.models import Invitation, Node, RoleAssignment, User, WebSession
from rerate.models.base import utcnow
from rerate.models.enums import NodeKind, Role
from rerate.tenancy.service import Page, escape_like, get_node, in_scope, require_active

INVITATION_TTL = timedelta(days=7)


def check_grantable(session: Session, principal: Principal, role: Role, node: Node) -> None:
    """May the caller hand out `role` on `node` (checked for MANAGE_USERS already)?"""
    if role in PLATFORM_ROLES and not principal.is_platform():
        raise Forbidden("role: only platform administrators grant platform roles")
    if NodeKind(node.kind) not in auth.ROLE_NODE_KINDS[role]:
        kinds = "/".join(sorted(auth.ROLE_NODE_KINDS[role]))
        raise Invalid(f"role: {role.value} is held on a {kinds} node, not on a {node.kind}")
    require_active(session, node, "new users")


# -- invitations ---------------------------------------------------------------------------


def invite(
    session: Session,
    principal: Principal,
    *,
    email: str,
    name: str,
    role: Role,
    node_id: int,
    ttl: timedelta = INVITATION_TTL,
) -> tuple[Invitation, str]:
    """An invitation and its token (shown once: only its hash is kept). A
    newer invitation for the same email and node replaces a pending one."""
    node = get_node(session, principal, node_id, Permission.MANAGE_USERS)
    check_grantable(session, principal, role, node)
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise Invalid(f"email: not an email address: {email[:60]!r}")
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("name: 1 to 200 characters")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"email: {email} has an account already: grant a role instead")
    now = utcnow()
    for old in session.scalars(_pending().where(Invitation.email == email)):
        if old.node_id == node.id:
            old.revoked_at = now
    token = new_token("rri_")
    invitation = Invitation(
        email=email,
        name=name,
        role=role.value,
        node_id=node.id,
        token_hash=token_hash(token),
        invited_by=principal.user_id,
        expires_at=now + ttl,
    )
    session.add(invitation)
    session.flush()
    return invitation, token


def _pending() -> Select[Invitation]:
    return select(Invitation).where(
        Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
        Invitation.expires_at > utcnow(),
    )


def open_invitation(session: Session, token: str) -> Invitation:
    """The pending invitation a token opens; 404 for an unknown, used,
    revoked or expired one (the same answer, so tokens cannot be probed)."""
    invitation = session.scalar(_pending().where(Invitation.token_hash == token_hash(token)))
    if invitation is None:
        raise NotFound("this invitation is unknown, used or expired: ask for a new one")
    return invitation


def accept_invitation(
    session: Session,
    token: str,
    *,
    password: str,
    name: str | None = None,
    min_password_length: int = passwords.MIN_LENGTH,
) -> User:
    """Create the invited user with `password` and the role; the token is spent."""
    invitation = open_invitation(session, token)
    set_session_actor(session, Actor(None, f"invitation:{invitation.email}"))
    require_active(session, invitation.node, "new users")
    user = auth.create_user(
        session,
        invitation.email,
        name=(name or "").strip() or invitation.name,
        password=password,
        min_password_length=min_password_length,
    )
    set_session_actor(session, Actor(user.id, user.email))
    auth.assign_role(session, user, role=Role(invitation.role), node=invitation.node)
    invitation.accepted_at = utcnow()
    invitation.user_id = user.id
    session.flush()
    return user


def list_invitations(session: Session, principal: Principal, node_id: int) -> list[Invitation]:
    node = get_node(session, principal, node_id, Permission.MANAGE_USERS)
    return list(
        session.scalars(_pending().where(Invitation.node_id == node.id).order_by(Invitation.id))
    )


def revoke_invitation(session: Session, principal: Principal, invitation_id: int) -> Invitation:
    invitation = session.get(Invitation, invitation_id)
    if invitation is None:
        raise NotFound("not found")
    get_node(session, principal, invitation.node_id, Permission.MANAGE_USERS)
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise Conflict("this invitation is used or revoked already")
    invitation.revoked_at = utcnow()
    session.flush()
    return invitation


# -- users ---------------------------------------------------------------------------------


def _visible_users(principal: Principal) -> ColumnElement[bool]:
    """Users holding a role inside the caller's MANAGE_USERS subtrees; platform
    administrators see every user, those without any role too."""
    if principal.is_platform() and principal.has(Permission.MANAGE_USERS):
        return User.id.is_not(None)
    held_inside = (
        select(RoleAssignment.id)
        .join(Node, Node.id == RoleAssignment.node_id)
        .where(
            RoleAssignment.user_id == User.id,
            in_scope(principal.scope_paths(Permission.MANAGE_USERS)),
        )
    )
    return or_(User.id == principal.user_id, exists(held_inside))


def get_user(session: Session, principal: Principal, user_id: int) -> User:
    user = session.scalar(select(User).where(User.id == user_id, _visible_users(principal)))
    if user is None:
        raise NotFound("not found")
    return user


def managed_user(session: Session, principal: Principal, user_id: int) -> User:
    """A user the caller may change: 404 when not visible, 403 when the user
    holds a role outside the caller's MANAGE_USERS subtrees."""
    user = get_user(session, principal, user_id)
    if not principal.has(Permission.MANAGE_USERS):
        raise Forbidden("your role does not grant manage_users")
    outside = [a for a in user.roles if not principal.has(Permission.MANAGE_USERS, a.node.path)]
    if outside or (not user.roles and not principal.is_platform()):
        raise Forbidden("this user holds roles outside your subtree")
    return user


def list_users(
    session: Session,
    principal: Principal,
    *,
    q: str = "",
    node_id: int | None = None,
    include_inactive: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    where: list[ColumnElement[bool]] = [_visible_users(principal)]
    if node_id is not None:
        node = get_node(session, principal, node_id, Permission.MANAGE_USERS)
        where.append(
            exists(
                select(RoleAssignment.id).where(
                    RoleAssignment.user_id == User.id, RoleAssignment.node_id == node.id
                )
            )
        )
    if q.strip():
        pattern = f"%{escape_like(q.strip().lower())}%"
        where.append(
            or_(
                func.lower(User.email).like(pattern, escape="\\"),
                func.lower(User.name).like(pattern, escape="\\"),
            )
        )
    if not include_inactive:
        where.append(User.active.is_(True))
    total = session.scalar(select(func.count()).select_from(User).where(*where)) or 0
    items = list(
        session.scalars(select(User).where(*where).order_by(User.email).limit(limit).offset(offset))
    )
    return Page(items, total)


def set_user_active(session: Session, principal: Principal, user_id: int, *, active: bool) -> User:
    """Deactivated, a user's sessions end and API keys stop at once (the commit
    clears the credential cache, auth/cache.py); reactivation restores keys."""
    if user_id == principal.user_id:
        raise Conflict("you cannot deactivate or reactivate yourself")
    user = managed_user(session, principal, user_id)
    if user.active == active:
        raise Conflict(f"{user.email} is already {'active' if active else 'deactivated'}")
    user.active = active
    if not active:
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.flush()
    return user


def grant(
    session: Session, principal: Principal, user_id: int, *, role: Role, node_id: int
) -> RoleAssignment:
    user = get_user(session, principal, user_id)
    node = get_node(session, principal, node_id, Permission.MANAGE_USERS)
    check_grantable(session, principal, role, node)
    if not user.active:
        raise Conflict(f"{user.email} is deactivated: reactivate the user first")
    held = session.scalar(
        select(RoleAssignment.id).where(
            RoleAssignment.user_id == user.id,
            RoleAssignment.node_id == node.id,
            RoleAssignment.role == role.value,
        )
    )
    if held is not None:
        raise Conflict(f"{user.email} holds {role.value} on {node.name} already")
    return auth.assign_role(session, user, role=role, node=node)


def revoke(session: Session, principal: Principal, assignment_id: int) -> RoleAssignment:
    assignment = session.get(RoleAssignment, assignment_id)
    if assignment is None:
        raise NotFound("not found")
    get_node(session, principal, assignment.node_id, Permission.MANAGE_USERS)
    role = Role(assignment.role)
    if role in PLATFORM_ROLES and not principal.is_platform():
        raise Forbidden("only platform administrators revoke platform roles")
    if (
        assignment.user_id == principal.user_id
        and Permission.MANAGE_USERS in ROLE_PERMISSIONS[role]
    ):
        others = session.scalars(
            select(RoleAssignment.role).where(
                RoleAssignment.user_id == principal.user_id, RoleAssignment.id != assignment.id
            )
        )
        if not any(Permission.MANAGE_USERS in ROLE_PERMISSIONS[Role(r)] for r in others):
            raise Conflict("this is your last role that manages users: you would lock yourself out")
    session.delete(assignment)
    session.flush()
    return assignment


def grants_at(session: Session, node: Node) -> list[RoleAssignment]:
    """The role assignments held on `node` (the node page lists them)."""
    return list(
        session.scalars(
            select(RoleAssignment)
            .join(User, User.id == RoleAssignment.user_id)
            .where(RoleAssignment.node_id == node.id)
            .order_by(User.email, RoleAssignment.role)
        )
    )
