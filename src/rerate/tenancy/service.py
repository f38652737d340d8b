"""The tenancy tree: create nodes, read them within the caller's subtree."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.kit.errors import Invalid, NotFound
from rerate.models import Node
from rerate.models.enums import NodeKind

# Which kind of node may sit under which.
ALLOWED_PARENTS: dict[NodeKind, tuple[NodeKind | None, ...]] = {
    NodeKind.PLATFORM: (None,),
    NodeKind.DISTRIBUTOR: (NodeKind.PLATFORM,),
    NodeKind.PARTNER: (NodeKind.DISTRIBUTOR, NodeKind.PLATFORM),
    NodeKind.CUSTOMER: (NodeKind.PARTNER, NodeKind.DISTRIBUTOR),
}


def create_node(
    session: Session, kind: NodeKind, *, name: str, parent: Node | None, **extra: object
) -> Node:
    parent_kind = NodeKind(parent.kind) if parent else None
    if parent_kind not in ALLOWED_PARENTS[kind]:
        raise Invalid(f"a {kind.value} cannot sit under {parent_kind or 'nothing'}")
    node = Node(kind=kind.value, name=name, parent_id=parent.id if parent else None, **extra)
    session.add(node)
    session.flush()  # the id is part of the path
    node.path = f"{parent.path if parent else '/'}{node.id}/"
    session.flush()
    return node


def in_scope(paths: Sequence[str]):  # type: ignore[no-untyped-def]
    """A SQL condition: Node.path lies under one of `paths`."""
    if not paths:
        return Node.id.is_(None)  # matches nothing
    return or_(*(Node.path.startswith(p, autoescape=True) for p in paths))


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
    stmt = select(Node).where(in_scope(principal.scope_paths(permission))).order_by(Node.name)
    if kind is not None:
        stmt = stmt.where(Node.kind == kind.value)
    return list(session.scalars(stmt))
