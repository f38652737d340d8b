"""The tenancy tree: create, edit, deactivate and read nodes within the caller's subtree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, exists, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from rerate.auth.permissions import Permission, Principal
from rerate.kit.errors import Conflict, Invalid, NotFound
from rerate.models import Node
from rerate.models.enums import NodeKind
from rerate.tenancy import fields

# Which kind of node may sit under which.
ALLOWED_PARENTS: dict[NodeKind, tuple[NodeKind | None, ...]] = {
    NodeKind.PLATFORM: (None,),
    NodeKind.DISTRIBUTOR: (NodeKind.PLATFORM,),
    NodeKind.PARTNER: (NodeKind.DISTRIBUTOR, NodeKind.PLATFORM),
    NodeKind.CUSTOMER: (NodeKind.PARTNER, NodeKind.DISTRIBUTOR),
}

# The fields of a node a caller may set besides its name (all optional).
EDITABLE = (
    "legal_name",
    "address",
    "tax_id",
    "currency",
    "time_zone",
    "tax_rate",
    "payment_terms_days",
)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list and how many items match in all."""

    items: list[Any]
    total: int


def create_node(
    session: Session, kind: NodeKind, *, name: str, parent: Node | None, **extra: Any
) -> Node:
    """A node under `parent`, unchecked for the caller's rights (the demo loader
    and the tests build trees with it; `add_node` is the caller-scoped door).
    Its name and invoice fields are validated all the same."""
    parent_kind = NodeKind(parent.kind) if parent else None
    if parent_kind not in ALLOWED_PARENTS[kind]:
        raise Invalid(f"parent_id: a {kind.value} cannot sit under {parent_kind or 'nothing'}")
    if parent is not None and not is_active(session, parent):
        raise Conflict(f"parent_id: {parent.name} is deactivated and takes no new children")
    unknown = set(extra) - set(EDITABLE)
    if unknown:
        raise Invalid(f"unknown node fields: {', '.join(sorted(unknown))}")
    name = fields.check_name(name)
    values = fields.check_node_fields(kind, extra)
    _require_unique_name(session, parent.id if parent else None, name, None)
    node = Node(kind=kind.value, name=name, parent_id=parent.id if parent else None, **values)
    session.add(node)
    _flush_unique(session, name)  # the id is part of the path
    node.path = f"{parent.path if parent else '/'}{node.id}/"
    session.flush()
    return node


def add_node(
    session: Session,
    principal: Principal,
    kind: NodeKind,
    *,
    parent_id: int,
    name: str,
    **values: Any,
) -> Node:
    """Create a node under `parent_id`, which the caller must be allowed to manage."""
    parent = get_node(session, principal, parent_id, Permission.MANAGE_TENANCY)
    return create_node(session, kind, name=name, parent=parent, **values)


def update_node(
    session: Session, principal: Principal, node_id: int, changes: Mapping[str, Any]
) -> Node:
    """Rename or edit a node: only the keys present in `changes` are set
    (None clears an optional field)."""
    node = get_node(session, principal, node_id, Permission.MANAGE_TENANCY)
    changes = dict(changes)
    if "name" in changes:
        name = fields.check_name(changes.pop("name"))
        if name != node.name:
            _require_unique_name(session, node.parent_id, name, node.id)
            node.name = name
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid(f"unknown node fields: {', '.join(sorted(unknown))}")
    for key, value in fields.check_node_fields(NodeKind(node.kind), changes).items():
        setattr(node, key, value)
    _flush_unique(session, node.name)
    return node


def set_node_active(session: Session, principal: Principal, node_id: int, *, active: bool) -> Node:
    """Deactivate (or reactivate) a node. Deactivated, it and its subtree take
    no new children, accounts, contracts or users and nobody logs in through a
    role held there; what was billed stays readable."""
    node = get_node(session, principal, node_id, Permission.MANAGE_TENANCY)
    if not active:
        if node.kind == NodeKind.PLATFORM:
            raise Conflict("the platform node cannot be deactivated")
        if any(g.node_path.startswith(node.path) for g in principal.grants):
            # Deactivating the node that carries your own role would lock you out.
            raise Conflict(f"{node.name} holds your own role: ask an administrator above it")
    if node.active == active:
        raise Conflict(f"{node.name} is already {'active' if active else 'deactivated'}")
    node.active = active
    session.flush()
    return node


def _require_unique_name(
    session: Session, parent_id: int | None, name: str, node_id: int | None
) -> None:
    stmt = select(Node.id).where(
        Node.parent_id.is_(None) if parent_id is None else Node.parent_id == parent_id,
        func.lower(Node.name) == name.lower(),
    )
    if node_id is not None:
        stmt = stmt.where(Node.id != node_id)
    if session.scalar(stmt.limit(1)) is not None:
        raise Conflict(f"name: {name!r} is taken by another node under the same parent")


def _flush_unique(session: Session, name: str) -> None:
    # A concurrent create of the same name passes the check above; the
    # database's unique constraint is the last word.
    try:
        session.flush()
    except IntegrityError as exc:
        if "uq_nodes_parent_id_name" in str(exc.orig) or "nodes.parent_id, nodes.name" in str(
            exc.orig
        ):
            raise Conflict(
                f"name: {name!r} is taken by another node under the same parent"
            ) from None
        raise


def in_scope(paths: Sequence[str]) -> ColumnElement[bool]:
    """A SQL condition: Node.path lies under one of `paths`."""
    if not paths:
        return Node.id.is_(None)  # matches nothing
    return or_(*(Node.path.startswith(p, autoescape=True) for p in paths))


def inactive_in_path() -> ColumnElement[bool]:
    """A SQL condition: Node or one of its ancestors is deactivated."""
    above = aliased(Node)
    # Paths hold digits and slashes only: no LIKE wildcard can occur in them.
    return exists().where(above.active.is_(False), Node.path.startswith(above.path))


def is_active(session: Session, node: Node) -> bool:
    """True when neither `node` nor any node above it is deactivated."""
    ids = [int(part) for part in node.path.strip("/").split("/") if part]
    if not ids:
        return node.active
    return (
        session.scalar(select(Node.id).where(Node.id.in_(ids), Node.active == false()).limit(1))
        is None
    )


def require_active(session: Session, node: Node, what: str = "new objects") -> None:
    """Refuse (409) to attach `what` to a node that is deactivated or lies
    under a deactivated one. Other domains (accounts, contracts) call this."""
    if not is_active(session, node):
        raise Conflict(f"{node.name} is deactivated and takes no {what}")


def get_node(session: Session, principal: Principal, node_id: int, permission: Permission) -> Node:
    node = session.get(Node, node_id)
    if node is None:
        raise NotFound("not found")
    principal.require(permission, node.path)
    return node


def get_customer(
    session: Session, principal: Principal, customer_id: int, permission: Permission
) -> Node:
    node = get_node(session, principal, customer_id, permission)
    if node.kind != NodeKind.CUSTOMER:
        raise NotFound("not found")
    return node


def list_nodes(
    session: Session,
    principal: Principal,
    *,
    kind: NodeKind | None = None,
    permission: Permission = Permission.VIEW,
) -> list[Node]:
    """Every node the caller holds `permission` on, deactivated ones included
    (pickers and filters over history need them)."""
    stmt = select(Node).where(in_scope(principal.scope_paths(permission))).order_by(Node.name)
    if kind is not None:
        stmt = stmt.where(Node.kind == kind.value)
    return list(session.scalars(stmt))


def search_nodes(
    session: Session,
    principal: Principal,
    *,
    kind: NodeKind | None = None,
    parent_id: int | None = None,
    q: str = "",
    include_inactive: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """A page of the nodes the caller can see, by name; `q` matches the name,
    legal name or tax id (case-insensitive); deactivated nodes and their
    subtrees only with `include_inactive`."""
    where: list[ColumnElement[bool]] = [in_scope(principal.scope_paths(Permission.VIEW))]
    if kind is not None:
        where.append(Node.kind == kind.value)
    if parent_id is not None:
        where.append(Node.parent_id == parent_id)
    if q.strip():
        pattern = f"%{escape_like(q.strip().lower())}%"
        where.append(
            or_(
                func.lower(Node.name).like(pattern, escape="\\"),
                func.lower(Node.legal_name).like(pattern, escape="\\"),
                func.lower(Node.tax_id).like(pattern, escape="\\"),
            )
        )
    if not include_inactive:
        where.append(~inactive_in_path())
    total = session.scalar(select(func.count()).select_from(Node).where(*where)) or 0
    items = list(
        session.scalars(
            select(Node).where(*where).order_by(Node.name, Node.id).limit(limit).offset(offset)
        )
    )
    return Page(items, total)


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def children(session: Session, node: Node) -> list[Node]:
    return list(session.scalars(select(Node).where(Node.parent_id == node.id).order_by(Node.name)))


def parse_tax_rate(text: str) -> Decimal:
    """A tax rate typed by a person ("0.2"), for the CLI and the console."""
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise Invalid(f"tax_rate: not a decimal number: {text[:40]!r}") from None
