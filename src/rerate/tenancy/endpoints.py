"""The tenancy tree, read within the caller's subtree."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter
from pydantic import BaseModel

from rerate.api.deps import SessionDep, Viewer
from rerate.api.fields import Id
from rerate.auth.permissions import Permission
from rerate.models import Node
from rerate.models.enums import NodeKind
from rerate.tenancy import service

router = APIRouter(tags=["tenancy"])


class NodeOut(BaseModel):
    id: int
    kind: NodeKind
    name: str
    parent_id: int | None
    tax_rate: Decimal | None

    @classmethod
    def of(cls, node: Node) -> NodeOut:
        return cls(
            id=node.id,
            kind=NodeKind(node.kind),
            name=node.name,
            parent_id=node.parent_id,
            tax_rate=node.tax_rate,
        )


@router.get("/nodes")
def list_nodes(
    session: SessionDep, principal: Viewer, kind: NodeKind | None = None
) -> dict[str, object]:
    items = [NodeOut.of(n) for n in service.list_nodes(session, principal, kind=kind)]
    return {"items": items, "total": len(items)}


@router.get("/nodes/{node_id}")
def get_node(node_id: Id, session: SessionDep, principal: Viewer) -> NodeOut:
    return NodeOut.of(service.get_node(session, principal, node_id, Permission.VIEW))
