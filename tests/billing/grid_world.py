"""A billed world for the Billing grid's tests (tests/billing/fixtures.py plus
a second region, region and platform records, and published runs for August
and September 2026), and the hand-computed amounts its rows must sum to.

Per billing day (Europe/Paris; usage starts at 00:00 UTC, so the same date):

* acc-x (Cust A1x): vm.small 24 h in westeurope at 0.05, less the contract's
  10 % Compute discount = 1.08; disk.gb 100 GB-day at 0.0033333333 =
  0.33333333; vm.small 12 h in northeurope = 0.54 net (0.60 list).
* acc-mover: Cust A1y's until Aug 15 (vm 1.20, disk 0.33333333, no
  discount), Cust A1x's from Aug 16 (vm 1.08, disk 0.33333333).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
from fastapi.testclient import TestClient

from rerate.kit.db import Database
from rerate.models import Account, Region
from rerate.usage.schema import USAGE_SCHEMA
from tests.billing.fixtures import Billing, build_billing, import_table
from tests.billing.test_billing_utilities import drain, submit
from tests.world import World

VM_X = Decimal("1.08")  # 24 h x 0.05, -10 %
VM_LIST = Decimal("1.20")
DISK = Decimal("0.33333333")  # 100 x 0.0033333333
NORTH = Decimal("0.54")  # 12 h x 0.05, -10 %
NORTH_LIST = Decimal("0.60")


def net_a1x(day: date) -> Decimal:
    """Cust A1x's net amount of one billing day (Aug-Sep 2026)."""
    mover = VM_X + DISK if day >= date(2026, 8, 16) else Decimal(0)
    return VM_X + DISK + NORTH + mover


def net_a1y(day: date) -> Decimal:
    return VM_LIST + DISK if day <= date(2026, 8, 15) else Decimal(0)


def net(start: date, end: date, customers: tuple[str, ...] = ("a1x", "a1y")) -> Decimal:
    """The hand-computed net amount of `[start, end)` (days in Aug-Sep 2026)."""
    total = Decimal(0)
    day = start
    while day < end:
        if date(2026, 8, 1) <= day < date(2026, 10, 1):
            if "a1x" in customers:
                total += net_a1x(day)
            if "a1y" in customers:
                total += net_a1y(day)
        day += timedelta(days=1)
    return total


def add_north_usage(db: Database, data_dir: Path, account_id: int) -> None:
    """acc-x: 12 h of vm.small a day in northeurope, Aug 1 - Sep 30."""
    rows: dict[str, list[object]] = {name: [] for name in USAGE_SCHEMA.names}
    day = date(2026, 8, 1)
    while day < date(2026, 10, 1):
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        rid = f"acc-x-north-{day.isoformat()}"
        values = {
            "record_id": rid,
            "content_hash": hashlib.sha256(rid.encode()).hexdigest(),
            "import_id": 0,
            "source": "focus",
            "kind": "cloud",
            "account_ref": "acc-x",
            "account_id": account_id,
            "usage_start": start,
            "usage_end": start + timedelta(hours=12),
            "service": "Compute",
            "sku": "vm.small",
            "region": "northeurope",
            "quantity": Decimal("12"),
            "unit": "h",
            "list_cost": None,
            "currency": "EUR",
        }
        for name in USAGE_SCHEMA.names:
            rows[name].append(values.get(name))
        day += timedelta(days=1)
    import_table(db, data_dir, pa.table(rows, schema=USAGE_SCHEMA))


def build_grid_world(client: TestClient, db: Database, data_dir: Path, world: World) -> Billing:
    billing = build_billing(db, data_dir, world)
    add_north_usage(db, data_dir, billing.accounts["acc-x"])
    with db.session() as s:
        s.add(Region(code="westeurope", name="West Europe", platform="Azure Stack Hub"))
        s.add(Region(code="northeurope", name="North Europe", platform="CloudStack"))
        account = s.get(Account, billing.accounts["acc-x"])
        assert account is not None
        account.name = "Production subscription"
    for customer in ("cust_a1x", "cust_a1y"):
        r = submit(client, world, "recalculations", customer, ["2026-08", "2026-09"])
        assert r.status_code == 202, r.text
        drain(db, data_dir)
    return billing
