"""Accounts and their ownership history."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from rerate.accounts import service
from rerate.api.deps import SessionDep, Viewer
from rerate.api.fields import Id
from rerate.auth.permissions import Permission
from rerate.models import Account

router = APIRouter(tags=["accounts"])


class OwnershipOut(BaseModel):
    customer_id: int
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
    def of(cls, a: Account) -> AccountOut:
        return cls(
            id=a.id,
            kind=a.kind,
            external_ref=a.external_ref,
            name=a.name,
            platform=a.platform,
            ownerships=[
                OwnershipOut(
                    customer_id=o.customer_id, valid_from=o.valid_from, valid_to=o.valid_to
                )
                for o in a.ownerships
            ],
        )


@router.get("/accounts")
def list_accounts(
    session: SessionDep, principal: Viewer, customer_id: Id | None = None
) -> dict[str, object]:
    if customer_id is not None:
        from rerate.tenancy.service import get_customer

        get_customer(session, principal, customer_id, Permission.VIEW)
    items = [
        AccountOut.of(a) for a in service.list_accounts(session, principal, customer_id=customer_id)
    ]
    return {"items": items, "total": len(items)}


@router.get("/accounts/{account_id}")
def get_account(account_id: Id, session: SessionDep, principal: Viewer) -> AccountOut:
    return AccountOut.of(service.get_account(session, principal, account_id))
