"""Read the audit log, scoped to the caller.

Entries carry the materialised path of the node their object belongs to
(`node_path`, filled by the session hook in kit/audit.py). A caller reads the
entries inside the subtrees where it holds VIEW; platform roles read every
entry, including those about no node (users, logins, global settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.models import AuditEntry


@dataclass(frozen=True, slots=True)
class AuditFilter:
    object_type: str | None = None
    object_id: str | None = None
    actor: str | None = None  # part of the actor's label (an email, "cli:ops")
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive


def _where(principal: Principal, f: AuditFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if not principal.is_platform():
        paths = principal.scope_paths(Permission.VIEW)
        where.append(
            or_(*(AuditEntry.node_path.startswith(p, autoescape=True) for p in paths))
            if paths
            else false()
        )
    if f.object_type:
        where.append(AuditEntry.object_type == f.object_type)
    if f.object_id:
        where.append(AuditEntry.object_id == f.object_id)
    if f.actor:
        where.append(func.lower(AuditEntry.actor).contains(f.actor.lower(), autoescape=True))
    if f.start is not None:
        where.append(AuditEntry.at >= f.start)
    if f.end is not None:
        where.append(AuditEntry.at < f.end)
    return where


def list_entries(
    session: Session, principal: Principal, f: AuditFilter, *, limit: int = 100, offset: int = 0
) -> tuple[list[AuditEntry], int]:
    """A page of entries, newest first, and how many match in all."""
    principal.require(Permission.VIEW)
    where = _where(principal, f)
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0
    page = session.scalars(
        select(AuditEntry)
        .where(*where)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(page), int(total)


def object_types(session: Session) -> list[str]:
    """The object types in the log (for the console's filter)."""
    return list(
        session.scalars(select(AuditEntry.object_type).distinct().order_by(AuditEntry.object_type))
    )
