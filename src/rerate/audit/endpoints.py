"""The audit log over HTTP: GET /api/v1/audit."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from rerate.api.deps import SessionDep, Viewer
from rerate.api.fields import Instant, Offset
from rerate.audit import service
from rerate.models import AuditEntry

router = APIRouter(tags=["audit"])


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor_id: int | None
    actor: str
    action: str = Field(description="insert, update, delete, or a verb (login, publish, issue)")
    object_type: str
    object_id: str
    reason: str
    changes: dict[str, Any] = Field(description="{field: [old, new]} for updates")

    @classmethod
    def of(cls, e: AuditEntry) -> AuditEntryOut:
        try:
            changes = json.loads(e.changes or "{}")
        except ValueError:
            changes = {"raw": e.changes}
        return cls(
            id=e.id,
            at=e.at,
            actor_id=e.actor_id,
            actor=e.actor,
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            reason=e.reason,
            changes=changes if isinstance(changes, dict) else {"value": changes},
        )


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    total: int


@router.get("/audit")
def list_audit(
    session: SessionDep,
    principal: Viewer,
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=320, description="Part of the actor.")] = None,
    start: Annotated[Instant | None, Query(alias="from", description="From (inclusive).")] = None,
    end: Annotated[Instant | None, Query(alias="to", description="To (exclusive).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> AuditPage:
    """Audit entries about objects in your subtree, newest first (platform
    roles: every entry)."""
    f = service.AuditFilter(object_type, object_id, actor, start, end)
    entries, total = service.list_entries(session, principal, f, limit=limit, offset=offset)
    return AuditPage(items=[AuditEntryOut.of(e) for e in entries], total=total)
