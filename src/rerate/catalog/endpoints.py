"""Custom line items over HTTP (permission manage_catalog to change, view to read)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from rerate.api.deps import CatalogManager, SessionDep, Viewer
from rerate.api.fields import Amount, BillingDate, Id
from rerate.catalog import custom_items as service

router = APIRouter(tags=["catalog"])


class ItemIn(BaseModel):
    description: str = Field(max_length=400, examples=["Onboarding"])
    amount: Amount = Field(description="negative for a credit")
    one_off_date: BillingDate | None = None
    recurring_from: BillingDate | None = None
    recurring_to: BillingDate | None = Field(None, description="inclusive; none: open-ended")


class ItemChange(BaseModel):
    """Only the fields sent are changed (send null to clear a date)."""

    description: str | None = Field(None, max_length=400)
    amount: Amount | None = None
    one_off_date: BillingDate | None = None
    recurring_from: BillingDate | None = None
    recurring_to: BillingDate | None = None


@router.get("/customers/{customer_id}/custom-line-items")
def list_items(
    customer_id: Id, session: SessionDep, principal: Viewer, include_deleted: bool = False
) -> dict[str, Any]:
    items = service.list_items(session, principal, customer_id, include_deleted=include_deleted)
    return {"items": items, "total": len(items)}


@router.post("/customers/{customer_id}/custom-line-items", status_code=201)
def create_item(
    customer_id: Id, body: ItemIn, session: SessionDep, principal: CatalogManager
) -> dict[str, Any]:
    """Add a charge or credit; the answer names the periods to recalculate
    (reason custom_line_item) for it to reach runs already billed."""
    return service.create_item(session, principal, customer_id, service.ItemIn(**body.model_dump()))


@router.patch("/custom-line-items/{item_id}")
def change_item(
    item_id: Id, body: ItemChange, session: SessionDep, principal: CatalogManager
) -> dict[str, Any]:
    data = service.ItemIn(**body.model_dump(exclude_unset=True))
    return service.change_item(session, principal, item_id, data)


@router.delete("/custom-line-items/{item_id}")
def delete_item(item_id: Id, session: SessionDep, principal: CatalogManager) -> dict[str, Any]:
    """Deleted items are kept (flagged) for the audit trail and no longer billed."""
    return service.delete_item(session, principal, item_id)
