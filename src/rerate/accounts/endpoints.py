"""Accounts and their ownership history over HTTP.

An account can have moved between tenants; its history is shown whole (the
intervals decide which usage is billed to whom), but an owner outside the
caller's scope is not named: `customer_id` null, `customer` "another customer".
A link or a move answers with the already billed (customer, period) pairs it
affects, for both owners, with the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.accounts import service
from rerate.accounts.billed import BilledPeriod
from rerate.api.deps import Require, SessionDep, Viewer
from rerate.api.fields import Id, Instant, Offset
from rerate.auth.permissions import Permission, Principal
from rerate.kit.audit import Actor, set_session_actor
from rerate.models import Account, Node
from rerate.models.enums import AccountKind

router = APIRouter(tags=["accounts"])

TenancyManager = Annotated[Principal, Depends(Require(Permission.MANAGE_TENANCY))]

OTHER_CUSTOMER = "another customer"


class OwnershipOut(BaseModel):
    customer_id: int | None = Field(description="null when the owner is outside your scope")
    customer: str = Field(description=f'the owner\'s name, or "{OTHER_CUSTOMER}"')
    valid_from: datetime
    valid_to: datetime | None


class AccountOut(BaseModel):
    id: int
    kind: str
    external_ref: str
    name: str
    platform: str
    owner_node_id: int | None = Field(description="the seller; null when outside your scope")
    ownerships: list[OwnershipOut]

    @classmethod
    def of(
        cls, a: Account, owners: Mapping[int, tuple[str, str] | None], *, seller_visible: bool
    ) -> AccountOut:
        """`owners`: customer id -> (name, path) the caller may see, or None."""
        ownerships = []
        for o in a.ownerships:
            owner = owners.get(o.customer_id)
            ownerships.append(
                OwnershipOut(
                    customer_id=o.customer_id if owner else None,
                    customer=owner[0] if owner else OTHER_CUSTOMER,
                    valid_from=o.valid_from,
                    valid_to=o.valid_to,
                )
            )
        return cls(
            id=a.id,
            kind=a.kind,
            external_ref=a.external_ref,
            name=a.name,
            platform=a.platform,
            owner_node_id=a.owner_node_id if seller_visible else None,
            ownerships=ownerships,
        )


def visible_nodes(
    session: Session, principal: Principal, ids: Iterable[int]
) -> dict[int, tuple[str, str] | None]:
    """node id -> (name, path) when the caller may see the node, else None."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.execute(select(Node.id, Node.name, Node.path).where(Node.id.in_(wanted)))
    return {
        node_id: (name, path) if principal.has(Permission.VIEW, path) else None
        for node_id, name, path in rows
    }


def accounts_out(
    session: Session, principal: Principal, accounts: list[Account]
) -> list[AccountOut]:
    nodes = visible_nodes(
        session,
        principal,
        [o.customer_id for a in accounts for o in a.ownerships]
        + [a.owner_node_id for a in accounts],
    )
    return [
        AccountOut.of(a, nodes, seller_visible=nodes.get(a.owner_node_id) is not None)
        for a in accounts
    ]


class AccountPage(BaseModel):
    items: list[AccountOut]
    total: int


@router.get("/accounts")
def list_accounts(
    session: SessionDep,
    principal: Viewer,
    customer_id: Id | None = None,
    kind: AccountKind | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Part of ref or name.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> AccountPage:
    """Accounts sold under, or owned at some time by a customer of, your scope."""
    if customer_id is not None:
        from rerate.tenancy.service import get_customer

        get_customer(session, principal, customer_id, Permission.VIEW)
    accounts = service.list_accounts(
        session, principal, customer_id=customer_id, q=q, kind=kind, limit=limit, offset=offset
    )
    total = service.count_accounts(session, principal, customer_id=customer_id, q=q, kind=kind)
    return AccountPage(items=accounts_out(session, principal, accounts), total=total)


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: AccountKind
    external_ref: str = Field(
        min_length=1, max_length=200, description="The id the sources use for the account."
    )
    name: str = Field("", max_length=200)
    platform: str = Field("", max_length=64)
    owner_node_id: Id | None = Field(
        None,
        description="The seller (platform, distributor or reseller) the account is created "
        "under; external_ref is unique per seller. Default: the one node you manage.",
    )
    reason: str = Field("", max_length=400)


@router.post("/accounts", status_code=201)
def create_account(body: AccountIn, session: SessionDep, principal: TenancyManager) -> AccountOut:
    set_session_actor(session, Actor(principal.user_id, principal.email), body.reason)
    account = service.create(
        session,
        principal,
        body.kind,
        external_ref=body.external_ref,
        owner_node_id=body.owner_node_id,
        name=body.name,
        platform=body.platform,
    )
    session.refresh(account)
    return accounts_out(session, principal, [account])[0]


@router.get("/accounts/{account_id}")
def get_account(account_id: Id, session: SessionDep, principal: Viewer) -> AccountOut:
    account = service.get_account(session, principal, account_id)
    return accounts_out(session, principal, [account])[0]


class OwnershipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: Id
    valid_from: Instant = Field(description="The first instant the customer owns the account.")
    reason: str = Field(min_length=1, max_length=400, description="Why (kept in the audit log).")


class BilledPeriodOut(BaseModel):
    customer_id: int | None = Field(description="null when the customer is outside your scope")
    customer: str
    period: str
    owner: str = Field(description="'previous' or 'new' owner of the moved interval")


class OwnershipChangeOut(BaseModel):
    account: AccountOut
    affected: list[BilledPeriodOut] = Field(
        description="Billed (customer, period) pairs whose bills the change alters: "
        "recalculate them for it to reach the invoices."
    )


def change_out(
    session: Session, principal: Principal, change: service.OwnershipChange
) -> OwnershipChangeOut:
    session.refresh(change.account)
    nodes = visible_nodes(session, principal, [p.customer_id for p in change.affected])

    def one(p: BilledPeriod) -> BilledPeriodOut:
        seen = nodes.get(p.customer_id) is not None
        return BilledPeriodOut(
            customer_id=p.customer_id if seen else None,
            customer=p.customer if seen else OTHER_CUSTOMER,
            period=p.period,
            owner="previous" if p.customer_id == change.previous_customer_id else "new",
        )

    return OwnershipChangeOut(
        account=accounts_out(session, principal, [change.account])[0],
        affected=[one(p) for p in change.affected],
    )


@router.post("/accounts/{account_id}/link")
def link_account(
    account_id: Id, body: OwnershipIn, session: SessionDep, principal: TenancyManager
) -> OwnershipChangeOut:
    """Give an account with no owner at `valid_from` to a customer from then on
    (409 when that would overlap its history)."""
    set_session_actor(session, Actor(principal.user_id, principal.email), body.reason)
    change = service.link(
        session, principal, account_id, customer_id=body.customer_id, valid_from=body.valid_from
    )
    return change_out(session, principal, change)


@router.post("/accounts/{account_id}/move")
def move_account(
    account_id: Id, body: OwnershipIn, session: SessionDep, principal: TenancyManager
) -> OwnershipChangeOut:
    """Move an account to another customer at `valid_from`: its open interval
    closes there and the next opens."""
    set_session_actor(session, Actor(principal.user_id, principal.email), body.reason)
    change = service.move(
        session, principal, account_id, customer_id=body.customer_id, valid_from=body.valid_from
    )
    return change_out(session, principal, change)
