"""What timetables, consumption profiles and contracts share: an owner node
that decides who sees and edits them, searchable paginated lists, and
versions effective from an instant."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from rerate.auth.permissions import Permission, Principal
from rerate.kit import bounds
from rerate.kit.errors import Invalid
from rerate.models import Node
from rerate.tenancy.service import get_node, in_scope

T = TypeVar("T")

# Band names are labels in tariff decks and reports: short, no spaces.
BAND_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def owner_node(
    session: Session, principal: Principal, node_id: int, permission: Permission
) -> Node:
    """The owner node, inside the caller's subtree (404 outside, 403 without)."""
    return get_node(session, principal, node_id, permission)


def page(
    session: Session,
    principal: Principal,
    model: type[T],
    owner_column: InstrumentedAttribute[int],
    name_column: InstrumentedAttribute[str],
    *,
    q: str = "",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[T], int]:
    """Rows owned inside the caller's VIEW subtrees, searched by name."""
    stmt = (
        select(model)
        .join(Node, Node.id == owner_column)
        .where(in_scope(principal.scope_paths(Permission.VIEW)))
    )
    if q:
        stmt = stmt.where(name_column.ilike(f"%{q}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(
        session.scalars(stmt.order_by(name_column, owner_column).limit(limit).offset(offset))
    )
    return rows, total


def effective_instant(value: datetime, what: str = "effective_from") -> datetime:
    try:
        return bounds.check_instant(value, what)
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def check_band(value: str, what: str) -> str:
    band = value.strip()
    if not BAND_RE.match(band):
        raise Invalid(f"{what}: 1 to 32 letters, digits, '_', '-' or '.', got {value[:40]!r}")
    return band


def check_name(value: str, what: str = "name") -> str:
    name = value.strip()
    if not name or len(name) > 200:
        raise Invalid(f"{what}: 1 to 200 characters")
    return name


def next_version(versions: Sequence[Any]) -> int:
    return max((v.version for v in versions), default=0) + 1


def in_force(versions: Sequence[T], instant: datetime) -> T | None:
    """The version in force at `instant`: the last effective at or before it."""
    chosen = None
    for v in sorted(versions, key=lambda v: v.effective_from):  # type: ignore[attr-defined]
        if v.effective_from <= instant:  # type: ignore[attr-defined]
            chosen = v
    return chosen


def decimal_str(value: Decimal) -> str:
    """A decimal as plain text without padding zeros ("1000", "0.6")."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"
