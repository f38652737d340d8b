"""Write an audit entry for every change, from one session hook.

Services never call "audit" by hand for ordinary changes: a `before_flush`
listener records each insert, update and delete of an audited model with the
actor and reason of the current `audit_context`. Verbs that are not a plain
row change (login, publish, issue) use `record`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from rerate.models.audit import AuditEntry
from rerate.models.base import Base
from rerate.models.tenancy import Node


@dataclass(frozen=True, slots=True)
class Actor:
    id: int | None
    label: str


SYSTEM = Actor(None, "system")

_actor: ContextVar[Actor] = ContextVar("audit_actor", default=SYSTEM)
_reason: ContextVar[str] = ContextVar("audit_reason", default="")


@contextmanager
def audit_context(actor: Actor, reason: str = "") -> Iterator[None]:
    """Attribute every change made inside the block to `actor`, with `reason`."""
    t1, t2 = _actor.set(actor), _reason.set(reason)
    try:
        yield
    finally:
        _actor.reset(t1)
        _reason.reset(t2)


def current_actor() -> Actor:
    return _actor.get()


def set_session_actor(session: Session, actor: Actor, reason: str | None = None) -> None:
    """Attribute changes made through `session` to `actor`.

    Request handlers use this rather than `audit_context`: FastAPI runs sync
    dependencies and endpoints in different worker threads, so a context
    variable set in a dependency would not reach the endpoint; the session
    object does.
    """
    session.info["audit_actor"] = actor
    if reason is not None:
        session.info["audit_reason"] = reason


def set_reason(session: Session, reason: str) -> None:
    """The reason recorded with the changes made through `session` from now on
    (a request body's `reason`), keeping the session's actor."""
    session.info["audit_reason"] = reason


def session_actor(session: Session) -> Actor:
    """Who the changes made through `session` are attributed to."""
    return _who(session)[0]


def _who(session: Session) -> tuple[Actor, str]:
    actor = session.info.get("audit_actor") or _actor.get()
    reason = session.info.get("audit_reason") or _reason.get()
    return actor, reason


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


REDACTED = "[redacted]"


def is_secret(model: type[Base] | None, name: str) -> bool:
    """Columns whose value must never be copied into the log: those a model
    declares in `__audit_redact__`, and by name any `*_hash`, `*password*` or
    `*secret*` (key, password and session-token hashes). The log still says
    that such a column was set or changed, so a password change is audited."""
    lowered = name.lower()
    return (
        (model is not None and name in model.__audit_redact__)
        or lowered.endswith("_hash")
        or "password" in lowered
        or "secret" in lowered
    )


def _object_id(obj: Base) -> str:
    identity = inspect(obj).identity
    if identity is None:
        return ""
    return "/".join(str(v) for v in identity)


# Columns naming the node an object belongs to, most specific first.
_NODE_COLUMNS = ("customer_id", "node_id", "owner_node_id", "seller_id")


def _path_of(session: Session, node_id: int) -> str | None:
    cache: dict[int, str] = session.info.setdefault("audit_node_paths", {})
    if node_id not in cache:
        pending = session.identity_map.get(inspect(Node).identity_key_from_primary_key((node_id,)))
        if isinstance(pending, Node) and pending.path:
            cache[node_id] = pending.path
        else:
            with session.no_autoflush:
                path = session.scalar(select(Node.path).where(Node.id == node_id))
            if not path:
                return None
            cache[node_id] = path
    return cache[node_id]


def node_path(session: Session, obj: Base, depth: int = 0) -> str | None:
    """The materialised path of the node `obj` belongs to, which decides who
    may read its audit entries (None: the platform only). A node is its own;
    otherwise a column naming a node (customer, node, owning seller), else the
    node of the row a foreign key points at (an invoice line's invoice)."""
    if isinstance(obj, Node):
        if obj.path:
            return obj.path
        parent = _path_of(session, obj.parent_id) if obj.parent_id else "/"
        return f"{parent}{obj.id}/" if parent and obj.id else None
    table = obj.__table__
    to_nodes = [
        c.name for c in table.columns if any(f.column.table.name == "nodes" for f in c.foreign_keys)
    ]
    for name in sorted(to_nodes, key=lambda n: _NODE_COLUMNS.index(n) if n in _NODE_COLUMNS else 9):
        value = getattr(obj, name, None)
        if value is not None:
            return _path_of(session, int(value))
    if depth >= 3:
        return None
    for column in table.columns:
        for fk in column.foreign_keys:
            key = getattr(obj, column.name, None)
            parent_cls = _model_of(fk.column.table.name)
            if key is None or parent_cls is None:
                continue
            with session.no_autoflush:
                row = session.get(parent_cls, key)
            if row is not None:
                return node_path(session, row, depth + 1)
    return None


def _model_of(table_name: str) -> type[Base] | None:
    for mapper in Base.registry.mappers:
        if getattr(mapper.class_, "__tablename__", None) == table_name:
            return mapper.class_
    return None


def _record_path(session: Session, object_type: str, object_id: str | int) -> str | None:
    model = _model_of(object_type)
    if model is None:
        return None
    try:
        with session.no_autoflush:
            obj = session.get(model, int(object_id))
    except (TypeError, ValueError):  # not a one-integer key (login_throttle)
        return None
    return node_path(session, obj) if obj is not None else None


def record(
    session: Session, action: str, object_type: str, object_id: str | int, **changes: Any
) -> None:
    """Record a verb that is more than a row change (publish, issue, login)."""
    actor, reason = _who(session)
    session.add(
        AuditEntry(
            actor_id=actor.id,
            actor=actor.label,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            node_path=_record_path(session, object_type, object_id),
            reason=reason,
            changes=json.dumps(
                {k: REDACTED if is_secret(None, k) else _jsonable(v) for k, v in changes.items()},
                sort_keys=True,
            ),
        )
    )


def _changes(obj: Base, *, new: bool) -> dict[str, Any]:
    state = inspect(obj)
    out: dict[str, Any] = {}
    model = type(obj)
    for attr in state.mapper.column_attrs:
        if attr.key in obj.__audit_ignore__:
            continue
        secret = is_secret(model, attr.key)
        hist = state.attrs[attr.key].history
        if new:
            value = getattr(obj, attr.key)
            if value is not None:
                out[attr.key] = REDACTED if secret else _jsonable(value)
        elif hist.has_changes():
            old = hist.deleted[0] if hist.deleted else None
            newv = hist.added[0] if hist.added else None
            if secret:
                out[attr.key] = [_redacted(old), _redacted(newv)]
            else:
                out[attr.key] = [_jsonable(old), _jsonable(newv)]
    return out


def _redacted(value: Any) -> str | None:
    return None if value is None else REDACTED


@event.listens_for(Session, "before_flush")
def _audit_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    pending: list[tuple[str, Base, dict[str, Any]]] = []
    for obj in session.new:
        if isinstance(obj, Base) and obj.__audited__:
            pending.append(("insert", obj, _changes(obj, new=True)))
    for obj in session.dirty:
        if isinstance(obj, Base) and obj.__audited__ and session.is_modified(obj):
            changes = _changes(obj, new=False)
            if changes:
                pending.append(("update", obj, changes))
    for obj in session.deleted:
        if isinstance(obj, Base) and obj.__audited__:
            pending.append(("delete", obj, {}))
    if not pending:
        return
    actor, reason = _who(session)
    # Inserted rows have no id before the flush; record them after it.
    inserts = [(o, c) for a, o, c in pending if a == "insert"]
    for action, obj, changes in pending:
        if action == "insert":
            continue
        session.add(_entry(session, actor, reason, action, obj, changes))
    if inserts:
        session.info.setdefault("audit_inserts", []).extend(inserts)


@event.listens_for(Session, "after_flush_postexec")
def _audit_inserts(session: Session, _ctx: Any) -> None:
    inserts = session.info.pop("audit_inserts", None)
    if not inserts:
        return
    actor, reason = _who(session)
    for obj, changes in inserts:
        if "id" in changes or inspect(obj).identity is not None:
            changes = {**changes, **({"id": _object_id(obj)} if "id" not in changes else {})}
        session.add(_entry(session, actor, reason, "insert", obj, changes))


def _entry(
    session: Session, actor: Actor, reason: str, action: str, obj: Base, changes: dict[str, Any]
) -> AuditEntry:
    return AuditEntry(
        actor_id=actor.id,
        actor=actor.label,
        action=action,
        object_type=obj.__tablename__,
        object_id=_object_id(obj),
        node_path=node_path(session, obj),
        reason=reason,
        changes=json.dumps(changes, sort_keys=True, default=str),
    )
