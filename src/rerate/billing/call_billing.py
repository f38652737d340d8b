"""One usage row's billing details from the published run: the "Billing" tab
of a call (tariff entry and version, band, billable seconds, charge) or of a
cloud usage row (price entry and version, quantity, charge).

The row is found where its customer's bill has it: the account's owner at
usage_start, the billing period of usage_start in that customer's contract
zone (then the neighbouring periods: with UseOverlapUsageSelection a row
spanning a boundary is billed in the period of its overlap), and that
period's published run, whose rated parts are filtered on account and record
id (the parts carry account statistics, so parts of other accounts are
skipped unread).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow.dataset as ds
from sqlalchemy.orm import Session

from rerate.accounts.service import ownerships_overlapping
from rerate.auth.permissions import Permission, Principal
from rerate.billing import run_files
from rerate.billing.eligibility import active_contract
from rerate.billing.runs import current_run
from rerate.kit.errors import Invalid, NotFound
from rerate.kit.money import money_str
from rerate.kit.periods import Month
from rerate.models import BillingRun, PriceBook, PriceBookVersion, PriceEntry, TariffEntry
from rerate.tenancy.service import get_customer
from rerate.usage.resolve import scoped_record_id

_MONEY = ("quantity", "included_quantity", "list_amount", "net_amount")


def call_billing(
    session: Session,
    principal: Principal,
    *,
    record_id: str,
    account_id: int,
    usage_start: datetime,
) -> dict[str, Any]:
    """The rated row of `record_id` in its customer's published run, with the
    tariff or price entry and the price-book version that priced it."""
    if usage_start.tzinfo is None:
        raise Invalid("usage_start needs a time zone (e.g. 2026-08-03T10:00:00Z)")
    owners = ownerships_overlapping(
        session, usage_start, usage_start + timedelta(microseconds=1), account_ids=[account_id]
    )
    if not owners:
        raise NotFound(f"account {account_id} had no owner at {usage_start.isoformat()}")
    customer = get_customer(session, principal, owners[0].customer_id, Permission.VIEW)
    contract = active_contract(session, customer.id)
    if contract is None:
        raise NotFound(f"{customer.name} has no active contract")
    month = Month.of(usage_start.astimezone(ZoneInfo(contract.billing_tz)).date())
    for period in (month, month.previous(), month.next()):
        run = current_run(session, customer.id, str(period))
        if run is None:
            continue
        row = _rated_row(run, record_id, account_id)
        if row is not None:
            return _details(session, run, row)
    raise NotFound(
        f"record {record_id} is not in a published run of {customer.name} around {month}"
    )


def _rated_row(run: BillingRun, record_id: str, account_id: int) -> dict[str, Any] | None:
    # Stored ids are scoped to their account (usage/resolve.py); a caller may
    # give the id as its source sent it or as stored.
    ids = sorted({record_id, scoped_record_id(account_id, record_id)})
    table = run_files.scan_rated(
        run,
        lambda dataset: dataset.to_table(
            filter=(ds.field("account_id") == account_id) & ds.field("record_id").isin(ids)
        ),
    )
    rows = table.to_pylist()
    return rows[0] if rows else None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else money_str(value.normalize())


def _details(session: Session, run: BillingRun, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "record_id": row["record_id"],
        "kind": row["kind"],
        "account_id": row["account_id"],
        "customer_id": run.customer_id,
        "period": run.period,
        "run": {"id": run.id, "version": run.version, "status": run.status},
        "usage_start": row["usage_start"].isoformat(),
        "usage_end": row["usage_end"].isoformat(),
        "billing_day": row["day"].isoformat(),
        "status": row["status"],
        "reason": row["reason"],
        "service": row["service"],
        "item": row["item"],
        "region": row["region"],
        "band": row["band"],
        "unit": row["unit"],
        "billed_seconds": row["billed_seconds"],
        "currency": run.currency,
        "profile_id": row["profile_id"],
        "tiers": [row["tier_first"], row["tier_last"]] if row["tier_first"] is not None else None,
        "rules": row["rules"],
        **{name: _money(row[name]) for name in _MONEY},
        "entry": None,
        "price_book_version": None,
    }
    entry_id = row["entry_id"]
    if entry_id is None:
        return out
    entry: TariffEntry | PriceEntry | None
    if row["kind"] == "cdr":
        entry = session.get(TariffEntry, entry_id)
        if entry is None:
            return out
        out["entry"] = {
            "id": entry.id,
            "prefix": entry.prefix,
            "destination_group": entry.destination_group,
            "band": entry.band,
            "rate_per_minute": _money(entry.rate_per_minute),
            "connect_fee": _money(entry.connect_fee),
            "min_seconds": entry.min_seconds,
            "increments": f"{entry.initial_increment}/{entry.subsequent_increment}",
            "charge_unanswered": entry.charge_unanswered,
            **_terms(entry),
        }
    else:
        entry = session.get(PriceEntry, entry_id)
        if entry is None:
            return out
        out["entry"] = {
            "id": entry.id,
            "sku": entry.sku,
            "region": entry.region,
            "unit": entry.unit,
            "unit_price": _money(entry.unit_price),
        }
    version = session.get(PriceBookVersion, entry.version_id)
    if version is not None:
        book = session.get(PriceBook, version.price_book_id)
        out["price_book_version"] = {
            "id": version.id,
            "version": version.version,
            "effective_from": version.effective_from.isoformat(),
            "price_book": book.name if book is not None else None,
        }
    return out


def _terms(entry: TariffEntry) -> dict[str, Any]:
    """The carrier terms that priced the call, where the entry has them (an
    ordinary entry's explanation stays as it was): rate groups, increment
    and call rounding, the cap, the timing and its weight."""
    out: dict[str, Any] = {}
    if entry.rate_groups:
        out["rate_groups"] = entry.rate_groups
    if entry.increment_decimals is not None:
        out["increment_decimals"] = entry.increment_decimals
    if entry.call_decimals is not None:
        out["call_rounding"] = f"{entry.call_rounding or 'ROUND_HALF_UP'} to {entry.call_decimals}"
    if entry.max_cost is not None:
        out["max_cost"] = _money(entry.max_cost)
    if entry.timing:
        out["timing"] = entry.timing
    if entry.weight:
        out["weight"] = entry.weight
    return out
