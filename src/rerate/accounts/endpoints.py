"""Accounts and their ownership history.

An account can have moved between tenants; its history is shown whole (the
intervals decide which usage is billed to whom), but an owner outside the
caller's scope is not named: `customer_id` null, `customer` "another customer".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.accounts import service
from rerate.api.deps import SessionDep, Viewer
from rerate.api.fields import Id
from rerate.auth.permissions import Permission, Principal
from rerate.models import Account, Node

router = APIRouter(tags=["accounts"])


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
    ownerships: list[OwnershipOut]

    @classmethod
    def of(cls, a: Account, owners: Mapping[int, tuple[str, str] | None]) -> AccountOut:
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
            ownerships=ownerships,
        )


def _visible_owners(
    session: Session, principal: Principal, accounts: list[Account]
) -> dict[int, tuple[str, str] | None]:
    ids = {o.customer_id for a in accounts for o in a.ownerships}
    if not ids:
        return {}
    rows = session.execute(select(Node.id, Node.name, Node.path).where(Node.id.in_(ids)))
    return {
        node_id: (name, path) if principal.has(Permission.VIEW, path) else None
        for node_id, name, path in rows
    }


@router.get("/accounts")
def list_accounts(
    session: SessionDep, principal: Viewer, customer_id: Id | None = None
) -> dict[str, object]:
    if customer_id is not None:
        from rerate.tenancy.service import get_customer

        get_customer(session, principal, customer_id, Permission.VIEW)
    accounts = service.list_accounts(session, principal, customer_id=customer_id)
    owners = _visible_owners(session, principal, accounts)
    items = [AccountOut.of(a, owners) for a in accounts]
    return {"items": items, "total": len(items)}


@router.get("/accounts/{account_id}")
def get_account(account_id: Id, session: SessionDep, principal: Viewer) -> AccountOut:
    account = service.get_account(session, principal, account_id)
    return AccountOut.of(account, _visible_owners(session, principal, [account]))
