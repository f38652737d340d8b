"""What the catalog's console pages share: form values read into the types the
services take (a wrong value is a 422 naming the field, never a 404), errors
said with the form's own labels, and who wrote each version (the audit log).

Form fields arrive as plain strings on purpose: FastAPI's own validation of a
form answers with a bare error page, these answer on the page the form is on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.kit import bounds
from rerate.kit.errors import Invalid
from rerate.models import AuditEntry, Node
from rerate.web.console import int_or_none, sentence

MAX_FIELD = 400
_FIELD_RE = re.compile(r"^([a-z_]+)(\[\d+\])?(\.[a-z_]+)?:\s*")


def text(value: str, field: str, *, size: int = 200, required: bool = False) -> str:
    value = value.strip()
    if len(value) > size:
        raise Invalid(f"{field}: at most {size} characters")
    if required and not value:
        raise Invalid(f"{field}: required")
    return value


def instant(value: str, field: str = "effective_from") -> datetime:
    """An ISO instant; without an offset (a datetime-local input) it is UTC."""
    raw = value.strip()
    if not raw:
        raise Invalid(f"{field}: required, e.g. 2026-08-16T00:00 (UTC)")
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{field}: an instant such as 2026-08-16T00:00 (UTC)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return bounds.check_instant(parsed, field)
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"{field}: a date, YYYY-MM-DD") from None


def optional_day(value: str, field: str) -> date | None:
    return day(value, field) if value.strip() else None


def clock(value: str, field: str) -> time:
    try:
        parsed = time.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"{field}: a time of day, HH:MM") from None
    return parsed.replace(tzinfo=None)


def decimal(value: str, field: str) -> Decimal:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise Invalid(f'{field}: a decimal number, e.g. "1000" or "0.04"') from None
    if not number.is_finite():
        raise Invalid(f'{field}: a decimal number, e.g. "1000" or "0.04"')
    return number


def integer(value: str, field: str, low: int, high: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise Invalid(f"{field}: a whole number from {low} to {high}") from None
    if not low <= number <= high:
        raise Invalid(f"{field}: a whole number from {low} to {high}")
    return number


def optional_id(value: str, field: str) -> int | None:
    if not value.strip():
        return None
    number = int_or_none(value)
    if number is None:
        raise Invalid(f"{field}: choose one from the list")
    return number


def reason(value: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_FIELD:
        raise Invalid("reason: say why (at most 400 characters); it is kept in the audit log")
    return value


def plain(detail: str, labels: Mapping[str, str]) -> str:
    """A service's "field: problem" with the field named as the form labels it
    ("Effective from: ..."), as a sentence."""
    match = _FIELD_RE.match(detail)
    if match and match.group(1) in labels:
        where = labels[match.group(1)]
        if match.group(2):
            where += f" {match.group(2)[1:-1]}"
        if match.group(3):
            where += f" ({match.group(3)[1:].replace('_', ' ')})"
        detail = f"{where}: {detail[match.end() :]}"
    return sentence(detail)


def owner_names(session: Session, node_id: int) -> str:
    """The name of an owner node (the identity map keeps repeated look-ups free)."""
    node = session.get(Node, node_id)
    return node.name if node is not None else ""


@dataclass(frozen=True, slots=True)
class Author:
    actor: str
    reason: str
    at: datetime


def authors(session: Session, table: str, ids: Iterable[int]) -> dict[int, Author]:
    """Who inserted each row of `table` and why, from the audit log."""
    keys = [str(i) for i in ids]
    if not keys:
        return {}
    rows = session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.object_type == table,
            AuditEntry.action == "insert",
            AuditEntry.object_id.in_(keys),
        )
        .order_by(AuditEntry.id)
    )
    return {int(e.object_id): Author(e.actor, e.reason, e.at) for e in rows}
