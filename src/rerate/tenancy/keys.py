"""API keys: list and revoke your own, and with MANAGE_USERS those of users in your subtree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Principal
from rerate.kit.errors import Conflict, NotFound
from rerate.models import ApiKey, User
from rerate.models.base import utcnow
from rerate.tenancy import people
from rerate.tenancy.service import Page


@dataclass(frozen=True, slots=True)
class KeyView:
    id: int
    prefix: str
    name: str
    owner_id: int
    owner_email: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _view(key: ApiKey, owner: User) -> KeyView:
    return KeyView(
        id=key.id,
        prefix=key.prefix,
        name=key.name,
        owner_id=owner.id,
        owner_email=owner.email,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


def _owner(session: Session, principal: Principal, user_id: int) -> User:
    """The caller, or a user the caller manages (404 unseen, 403 not managed)."""
    if user_id == principal.user_id:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("not found")
        return user
    return people.managed_user(session, principal, user_id)


def list_keys(
    session: Session,
    principal: Principal,
    *,
    user_id: int | None = None,
    include_revoked: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """The keys of `user_id` (default: the caller's own), newest first."""
    owner = _owner(session, principal, principal.user_id if user_id is None else user_id)
    stmt = select(ApiKey).where(ApiKey.user_id == owner.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    keys = list(session.scalars(stmt.order_by(ApiKey.id.desc())))
    return Page([_view(k, owner) for k in keys[offset : offset + limit]], len(keys))


def revoke_key(session: Session, principal: Principal, key_id: int) -> KeyView:
    """Revoked, the key stops at once in this process (the commit clears the
    credential cache) and within seconds in the others."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("not found")
    owner = _owner(session, principal, key.user_id)
    if key.revoked_at is not None:
        raise Conflict(f"key {key.prefix}... is revoked already")
    key.revoked_at = utcnow()
    session.flush()
    return _view(key, owner)
