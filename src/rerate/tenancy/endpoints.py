"""The tenancy tree over HTTP: read within the subtree (view), change with manage_tenancy."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from rerate.api.deps import Require, SessionDep, Viewer
from rerate.api.fields import Id, Offset
from rerate.auth.permissions import Permission, Principal
from rerate.kit.audit import Actor, set_session_actor
from rerate.models import Node
from rerate.models.enums import NodeKind
from rerate.tenancy import fields, service

router = APIRouter(tags=["tenancy"])

TenancyManager = Annotated[Principal, Depends(Require(Permission.MANAGE_TENANCY))]


def _no_float(value: Any) -> Any:
    if isinstance(value, bool | float):
        raise ValueError('must be a decimal string such as "0.20", not a JSON float')
    return value


TaxRate = Annotated[
    str,
    BeforeValidator(_no_float),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^0(\.[0-9]{1,6})?$",
            "examples": ["0.20"],
            "description": "A decimal string, 0 <= rate < 1, at most 6 decimal places.",
        }
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=fields.MAX_NAME)]
Reason = Annotated[str, Field(max_length=1000, description="Why; kept in the audit log.")]


class NodeOut(BaseModel):
    id: int
    kind: NodeKind
    name: str
    parent_id: int | None
    tax_rate: Decimal | None = Field(description="Customers only; a decimal string.")
    legal_name: str
    address: str
    tax_id: str
    currency: str | None
    time_zone: str | None
    payment_terms_days: int | None
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, node: Node) -> NodeOut:
        return cls(
            id=node.id,
            kind=NodeKind(node.kind),
            name=node.name,
            parent_id=node.parent_id,
            tax_rate=None if node.tax_rate is None else fields.plain_rate(node.tax_rate),
            legal_name=node.legal_name,
            address=node.address,
            tax_id=node.tax_id,
            currency=node.currency,
            time_zone=node.time_zone,
            payment_terms_days=node.payment_terms_days,
            active=node.active,
            created_at=node.created_at,
        )


class NodeFieldsIn(BaseModel):
    legal_name: str | None = Field(None, max_length=fields.MAX_NAME)
    address: str | None = Field(None, max_length=fields.MAX_ADDRESS, description="Multi-line.")
    tax_id: str | None = Field(None, max_length=fields.MAX_TAX_ID)
    currency: str | None = Field(None, max_length=3, examples=["EUR"], description="ISO 4217.")
    time_zone: str | None = Field(
        None, max_length=64, examples=["Europe/Paris"], description="IANA time zone."
    )
    tax_rate: TaxRate | None = None
    payment_terms_days: int | None = Field(None, ge=0, le=fields.MAX_PAYMENT_TERMS_DAYS)


class NodeIn(NodeFieldsIn):
    kind: NodeKind
    parent_id: Id
    name: Name
    reason: Reason = ""


class NodeChange(NodeFieldsIn):
    """Only the fields sent are changed; null clears an optional field."""

    name: Name | None = None
    reason: Reason = ""


class ReasonIn(BaseModel):
    reason: Reason = ""


def _with_reason(session: Any, principal: Principal, reason: str) -> None:
    set_session_actor(session, Actor(principal.user_id, principal.email), reason)


@router.get("/nodes")
def list_nodes(
    session: SessionDep,
    principal: Viewer,
    kind: NodeKind | None = None,
    parent_id: Id | None = None,
    q: Annotated[str, Query(max_length=200, description="Name, legal name or tax id.")] = "",
    include_inactive: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The nodes the caller can see, by name; deactivated ones only on request."""
    page = service.search_nodes(
        session,
        principal,
        kind=kind,
        parent_id=parent_id,
        q=q,
        include_inactive=include_inactive,
        limit=limit,
        offset=offset,
    )
    return {
        "items": [NodeOut.of(n) for n in page.items],
        "total": page.total,
        "limit": limit,
        "offset": offset,
    }


@router.get("/nodes/{node_id}")
def get_node(node_id: Id, session: SessionDep, principal: Viewer) -> NodeOut:
    return NodeOut.of(service.get_node(session, principal, node_id, Permission.VIEW))


@router.post("/nodes", status_code=201)
def create_node(body: NodeIn, session: SessionDep, principal: TenancyManager) -> NodeOut:
    """A distributor, reseller (`partner`) or customer under a node the caller manages."""
    _with_reason(session, principal, body.reason)
    values = body.model_dump(exclude_unset=True, exclude={"kind", "parent_id", "name", "reason"})
    node = service.add_node(
        session, principal, body.kind, parent_id=body.parent_id, name=body.name, **values
    )
    return NodeOut.of(node)


@router.patch("/nodes/{node_id}")
def update_node(
    node_id: Id, body: NodeChange, session: SessionDep, principal: TenancyManager
) -> NodeOut:
    _with_reason(session, principal, body.reason)
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    return NodeOut.of(service.update_node(session, principal, node_id, changes))


@router.post("/nodes/{node_id}/deactivate")
def deactivate_node(
    node_id: Id, body: ReasonIn, session: SessionDep, principal: TenancyManager
) -> NodeOut:
    """Its subtree takes nothing new and its users cannot log in; history stays readable."""
    _with_reason(session, principal, body.reason)
    return NodeOut.of(service.set_node_active(session, principal, node_id, active=False))


@router.post("/nodes/{node_id}/activate")
def activate_node(
    node_id: Id, body: ReasonIn, session: SessionDep, principal: TenancyManager
) -> NodeOut:
    _with_reason(session, principal, body.reason)
    return NodeOut.of(service.set_node_active(session, principal, node_id, active=True))
