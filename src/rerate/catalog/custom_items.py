"""Custom line items: charges or credits added by hand to a customer's bill,
one-off (in the billing period containing `one_off_date`) or recurring monthly
from `recurring_from` to `recurring_to` (both inclusive; no end: open).

They are read when a period is rated (billing.plan_builder), so adding,
changing or deleting one -- also for a past, already billed period -- takes
effect when that period is recalculated (reason `custom_line_item`); the
answer names the periods to recalculate. Deleting keeps the row (`deleted`)
for the audit trail. Every change is audited by the session hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.billing.eligibility import active_contract
from rerate.kit import bounds
from rerate.kit.errors import Invalid, NotFound
from rerate.kit.periods import Month
from rerate.kit.present import amount_plain
from rerate.models import CustomLineItem
from rerate.tenancy.service import get_customer

_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class ItemIn:
    """The fields of an item; on a change, _UNSET leaves a field as it is."""

    description: str = _UNSET
    amount: Decimal = _UNSET
    one_off_date: date | None = _UNSET
    recurring_from: date | None = _UNSET
    recurring_to: date | None = _UNSET


def list_items(
    session: Session, principal: Principal, customer_id: int, *, include_deleted: bool = False
) -> list[dict[str, Any]]:
    get_customer(session, principal, customer_id, Permission.VIEW)
    stmt = select(CustomLineItem).where(CustomLineItem.customer_id == customer_id)
    if not include_deleted:
        stmt = stmt.where(CustomLineItem.deleted.is_(False))
    return [view(i) for i in session.scalars(stmt.order_by(CustomLineItem.id))]


def create_item(
    session: Session, principal: Principal, customer_id: int, data: ItemIn
) -> dict[str, Any]:
    customer = get_customer(session, principal, customer_id, Permission.MANAGE_CATALOG)
    contract = active_contract(session, customer.id)
    if contract is None:
        raise Invalid(f"{customer.name} has no active contract to bill the item under")
    item = CustomLineItem(customer_id=customer.id, currency=contract.currency, deleted=False)
    _apply(item, data)  # a new item has no fields to keep: every one is given
    session.add(item)
    session.flush()
    return {**view(item), "recalculate_periods": _periods(item)}


def change_item(
    session: Session, principal: Principal, item_id: int, data: ItemIn
) -> dict[str, Any]:
    item = _item(session, principal, item_id)
    before = _periods(item)
    _apply(item, data)
    session.flush()
    return {**view(item), "recalculate_periods": sorted(set(before) | set(_periods(item)))}


def delete_item(session: Session, principal: Principal, item_id: int) -> dict[str, Any]:
    item = _item(session, principal, item_id)
    item.deleted = True
    session.flush()
    return {**view(item), "recalculate_periods": _periods(item)}


def view(item: CustomLineItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "customer_id": item.customer_id,
        "description": item.description,
        "amount": amount_plain(item.amount, item.currency),
        "currency": item.currency,
        "one_off_date": item.one_off_date.isoformat() if item.one_off_date else None,
        "recurring_from": item.recurring_from.isoformat() if item.recurring_from else None,
        "recurring_to": item.recurring_to.isoformat() if item.recurring_to else None,
        "deleted": item.deleted,
    }


def _item(session: Session, principal: Principal, item_id: int) -> CustomLineItem:
    item = session.get(CustomLineItem, item_id)
    if item is None or item.deleted:
        raise NotFound("not found")
    get_customer(session, principal, item.customer_id, Permission.MANAGE_CATALOG)
    return item


def _fields(data: ItemIn) -> dict[str, Any]:
    return {name: getattr(data, name) for name in ItemIn.__dataclass_fields__}


def _given(value: Any, default: Any) -> Any:
    return default if value is _UNSET else value


def _apply(item: CustomLineItem, data: ItemIn) -> None:
    """Validate the item as it would be after the change, then change it."""
    merged = {name: _given(v, getattr(item, name)) for name, v in _fields(data).items()}
    description = (merged["description"] or "").strip()
    if not description or len(description) > 400:
        raise Invalid("description: 1 to 400 characters")
    amount = merged["amount"]
    if not isinstance(amount, Decimal):
        raise Invalid('amount: a decimal number, e.g. "250.00" or "-40" for a credit')
    one_off, start, end = merged["one_off_date"], merged["recurring_from"], merged["recurring_to"]
    try:
        # What one engine row can carry, and the years a period can be: an
        # item the engine cannot rate would fail every recalculation of its month.
        bounds.check_row_amount(amount, "amount")
        for name, day in (
            ("one_off_date", one_off),
            ("recurring_from", start),
            ("recurring_to", end),
        ):
            if day is not None:
                bounds.check_year(day, name)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    if (one_off is None) == (start is None):
        raise Invalid("give either one_off_date or recurring_from (with an optional recurring_to)")
    if one_off is not None and end is not None:
        raise Invalid("recurring_to belongs to a recurring item")
    if start is not None and end is not None and end < start:
        raise Invalid("recurring_to must not be before recurring_from")
    item.description = description
    item.amount = amount
    item.one_off_date, item.recurring_from, item.recurring_to = one_off, start, end


def _periods(item: CustomLineItem) -> list[str]:
    """Billing months the item bills in (docs/rating.md: recurring from/to both
    inclusive), up to the current month for an open-ended recurring item."""
    if item.one_off_date is not None:
        return [str(Month.of(item.one_off_date))]
    assert item.recurring_from is not None
    last = Month.of(item.recurring_to or datetime.now(UTC).date())
    out, month = [], Month.of(item.recurring_from)
    while month.first_day <= last.first_day:
        out.append(str(month))
        month = month.next()
    return out
