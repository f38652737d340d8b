"""Users, role assignments, API keys and web sessions."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rerate.auth import passwords
from rerate.auth.permissions import Grant, Principal
from rerate.auth.secrets import (
    API_KEY_PREFIX,
    hash_password,
    new_token,
    token_hash,
)
from rerate.kit.audit import record
from rerate.kit.errors import Conflict, Invalid, NotFound, Unauthenticated
from rerate.models import ApiKey, Node, RoleAssignment, User, WebSession
from rerate.models.base import utcnow
from rerate.models.enums import NodeKind, Role

# Which roles make sense on which kind of node.
ROLE_NODE_KINDS: dict[Role, frozenset[NodeKind]] = {
    Role.PLATFORM_ADMIN: frozenset({NodeKind.PLATFORM}),
    Role.PLATFORM_SERVICE: frozenset({NodeKind.PLATFORM}),
    Role.DISTRIBUTOR: frozenset({NodeKind.DISTRIBUTOR}),
    Role.PARTNER_ADMIN: frozenset({NodeKind.PARTNER}),
    Role.PARTNER_USER: frozenset({NodeKind.PARTNER}),
    Role.CUSTOMER_USER: frozenset({NodeKind.CUSTOMER}),
    Role.BILLING_UTILITIES_ADMIN: frozenset(
        {NodeKind.DISTRIBUTOR, NodeKind.PARTNER, NodeKind.CUSTOMER}
    ),
}


def create_user(
    session: Session,
    email: str,
    *,
    name: str,
    password: str | None,
    min_password_length: int = passwords.MIN_LENGTH,
) -> User:
    """A user; `password` None makes one that logs in with API keys only."""
    email = email.strip().lower()
    if "@" not in email:
        raise Invalid(f"not an email address: {email!r}")
    if password is not None:
        passwords.check_password(password, email=email, min_length=min_password_length)
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise Conflict(f"a user {email} exists already")
    user = User(email=email, name=name, password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    return user


def assign_role(session: Session, user: User, *, role: Role, node: Node) -> RoleAssignment:
    if NodeKind(node.kind) not in ROLE_NODE_KINDS[role]:
        kinds = "/".join(sorted(ROLE_NODE_KINDS[role]))
        raise Invalid(f"role: {role.value} is held on a {kinds} node, not on a {node.kind}")
    assignment = RoleAssignment(user_id=user.id, node_id=node.id, role=role.value)
    session.add(assignment)
    session.flush()
    session.refresh(user, ["roles"])
    return assignment


def get_user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user {email}")
    return user


def principal_for(session: Session, user: User, *, via: str) -> Principal:
    """The user's roles, less those held inside a deactivated subtree. A user
    whose every role lies in one cannot authenticate at all."""
    assignments = list(
        session.scalars(select(RoleAssignment).where(RoleAssignment.user_id == user.id))
    )
    dead = _inactive_ids(session, [a.node.path for a in assignments])
    grants = tuple(
        Grant(node_id=a.node_id, node_path=a.node.path, role=Role(a.role))
        for a in assignments
        if not dead & _path_ids(a.node.path)
    )
    if assignments and not grants:
        raise Unauthenticated("your organisation's access to rerate is deactivated")
    return Principal(user_id=user.id, email=user.email, grants=grants, via=via)


def _path_ids(path: str) -> set[int]:
    return {int(part) for part in path.strip("/").split("/") if part}


def _inactive_ids(session: Session, paths: list[str]) -> set[int]:
    """Which of the nodes on `paths` (the nodes and their ancestors) are deactivated."""
    ids = set().union(*(_path_ids(p) for p in paths)) if paths else set()
    if not ids:
        return set()
    return set(session.scalars(select(Node.id).where(Node.id.in_(ids), Node.active.is_(False))))


def create_api_key(session: Session, user: User, *, name: str = "") -> tuple[ApiKey, str]:
    """Returns the stored key and the secret, which is shown once and never again."""
    secret = new_token(API_KEY_PREFIX)
    key = ApiKey(user_id=user.id, name=name, prefix=secret[:8], key_hash=token_hash(secret))
    session.add(key)
    session.flush()
    return key, secret


# `api_keys.last_used_at` is refreshed at most this often: the mark is for
# operators ("is this key still used?"), not an access log.
KEY_USE_RESOLUTION = timedelta(minutes=1)


def authenticate_api_key(session: Session, secret: str) -> tuple[Principal, int | None]:
    """The key's principal, and the key's id when its last-use mark is due
    (`note_api_key_use`), else None. Reads only: on SQLite a request's read
    transaction cannot become a write once another connection has committed
    (workers commit all the time), so the mark is written separately."""
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == token_hash(secret)))
    if key is None or key.revoked_at is not None:
        raise Unauthenticated("invalid API key")
    user = session.get(User, key.user_id)
    if user is None or not user.active:
        raise Unauthenticated("invalid API key")
    due = key.last_used_at is None or key.last_used_at < utcnow() - KEY_USE_RESOLUTION
    return principal_for(session, user, via="api_key"), key.id if due else None


def note_api_key_use(session: Session, key_id: int) -> None:
    """Mark the key used now, in the caller's own short write transaction."""
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .where(
            (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < utcnow() - KEY_USE_RESOLUTION)
        )
        .values(last_used_at=utcnow())
    )


def authenticate_session(session: Session, token: str) -> Principal:
    ws = session.scalar(select(WebSession).where(WebSession.token_hash == token_hash(token)))
    if ws is None or ws.expires_at <= utcnow():
        raise Unauthenticated("session expired, please log in again")
    user = session.get(User, ws.user_id)
    if user is None or not user.active:
        raise Unauthenticated("session expired, please log in again")
    return principal_for(session, user, via="session")


def logout(session: Session, token: str, *, client: str) -> None:
    """End the web session; the audit entry names the session's user (the
    caller sets the session's actor) and the client address."""
    ws = session.scalar(select(WebSession).where(WebSession.token_hash == token_hash(token)))
    if ws is not None:
        record(session, "logout", "users", ws.user_id, client=client)
        session.delete(ws)
