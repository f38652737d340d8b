"""Console: the audit trail (/audit), filtered like the API, newest first."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from rerate.api.deps import SessionDep, Viewer
from rerate.audit import service
from rerate.kit import bounds
from rerate.web.console import PAGE_SIZE, int_or_none, page_router, render

router = page_router()


def _instant(text: str) -> datetime | None:
    """An ISO 8601 instant; without an offset it is read as UTC (the page says so)."""
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return bounds.check_instant(value, "instant")
    except ValueError:
        return None


def _changes(text: str) -> str:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return text
    if not isinstance(data, dict):
        return text
    parts = []
    for key, value in sorted(data.items()):
        if isinstance(value, list) and len(value) == 2:
            parts.append(f"{key}: {value[0]} → {value[1]}")
        else:
            parts.append(f"{key}: {value}")
    return "; ".join(parts)


@router.get("/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    principal: Viewer,
    object_type: str = "",
    object_id: str = "",
    actor: str = "",
    start: str = "",
    end: str = "",
    page: str = "",
) -> Response:
    """Who changed what, when and why, in your subtree (platform: everything)."""
    filters = {
        "object_type": object_type.strip()[:64],
        "object_id": object_id.strip()[:64],
        "actor": actor.strip()[:320],
        "start": start.strip()[:40],
        "end": end.strip()[:40],
    }
    f = service.AuditFilter(
        filters["object_type"] or None,
        filters["object_id"] or None,
        filters["actor"] or None,
        _instant(filters["start"]),
        _instant(filters["end"]),
    )
    pg = max(1, int_or_none(page) or 1)
    entries, total = service.list_entries(
        session, principal, f, limit=PAGE_SIZE, offset=(pg - 1) * PAGE_SIZE
    )
    rows: list[dict[str, Any]] = [
        {
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "object_type": e.object_type,
            "object_id": e.object_id,
            "reason": e.reason,
            "changes": _changes(e.changes),
        }
        for e in entries
    ]
    return render(
        request,
        "audit/audit.html",
        {
            "active": "audit",
            "rows": rows,
            "filters": filters,
            "types": service.object_types(session),
            "page": pg,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "total": total,
            "base_query": urlencode({k: v for k, v in filters.items() if v}),
        },
    )
