"""The demo's collection regions: two platforms that work offline.

- **Public Azure** (`westeurope`, the demo's reference region given a source):
  the demo writes two small daily Cost Management exports under
  `<data dir>/demo/azure-exports`, in the folder layout Azure writes
  (`<export name>/<YYYYMMDD-YYYYMMDD>/<run id>/part_0_0001.csv`), with rows
  for the demo's Azure subscriptions. Meter ids are Azure-style GUIDs that the
  region's `sku_map` renames to the demo catalog's SKUs, so the price book
  prices them.
- **Azure Local** (`azl-lyon-1`, a new region): hourly VM inventory
  snapshots of the demo's Azure Stack subscriptions written under
  `<data dir>/demo/azure-local-inventory` and read through a `file://`
  `inventory_url`; `sku_map` maps `vcpu` and `memory_gb` to priced SKUs (the
  demo VMs have no separate data disks, which the catalog does not price).

Both get their daily schedule (enabled) and one collection of the two days
before `today`, run as `collect_usage` jobs by a worker, like the billing jobs
of `bill_demo`, so the region pages and the run queue show completed
collections. Runs after `load_demo` (not inside it: jobs carry wall-clock
times and `load_demo` is compared byte for byte between two loads).
"""

from __future__ import annotations

import csv
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from rerate.auth.service import get_user_by_email, principal_for
from rerate.billing.tasks import handlers
from rerate.collection import service as regions
from rerate.demo.loader import CURRENCY, DEMO_PRINCIPAL_EMAIL
from rerate.jobs.worker import Worker
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.db import Database
from rerate.models import Account, Job
from rerate.models.enums import JobStatus

PUBLIC_AZURE = "westeurope"
AZURE_LOCAL = ("azl-lyon-1", "Azure Local Lyon (on-premises)")
EXPORT_NAME = "daily-costs"
DAYS = 2  # collected during the load: the two days before `today`
_NS = uuid.UUID("6f1d3c9e-51a4-4bb1-9d3e-6a0f0c2d7e11")  # fixed: same GUIDs every load
_ACTOR = Actor(None, "demo")
_REASON = "demo dataset: collection regions"

# (catalog SKU, meter name, category, unit, quantity per day, payg price); the
# meter GUID is derived from the SKU.
_METERS: tuple[tuple[str, str, str, str, Decimal, Decimal], ...] = (
    ("compute.vm.d2s_v5.linux", "D2s v5", "Virtual Machines", "Hours",
     Decimal(24), Decimal("0.096")),
    ("storage.blob.hot.lrs.capacity", "Hot LRS Data Stored", "Storage", "GB-Month",
     Decimal("4.1935483871"), Decimal("0.0184")),
    ("network.egress.internet.zone1", "Standard Data Transfer Out", "Bandwidth", "GB",
     Decimal("12.5"), Decimal("0.087")),
)  # fmt: skip
_LOCAL_SKUS = {
    "vcpu": "compute.container-instances.vcpu",
    "memory_gb": "compute.container-instances.memory",
}


def _meter_id(sku: str) -> str:
    return str(uuid.uuid5(_NS, sku))


@dataclass(frozen=True, slots=True)
class DemoRegions:
    regions: int
    jobs: int
    failed: int
    rows: int


def _accounts(db: Database, platform: str, customers: tuple[str, ...]) -> list[Account]:
    """The demo accounts of `platform` whose name starts with one of `customers`."""
    with db.session() as session:
        found = session.scalars(
            select(Account).where(Account.platform == platform).order_by(Account.id)
        ).all()
        session.expunge_all()
    return [a for a in found if a.name.split()[0] in customers]


def write_azure_exports(folder: Path, subscriptions: list[Account], days: list[date]) -> None:
    """One daily export run per day, in Cost Management's folder layout."""
    header = [
        "Date", "SubscriptionId", "SubscriptionName", "ResourceGroup", "ResourceId",
        "ResourceLocation", "MeterId", "MeterName", "MeterCategory", "ProductName",
        "Quantity", "UnitOfMeasure", "EffectivePrice", "CostInBillingCurrency",
        "PaygCostInBillingCurrency", "BillingCurrency", "ChargeType", "Tags",
    ]  # fmt: skip
    for day in days:
        run = uuid.uuid5(_NS, f"run-{day.isoformat()}")
        target = folder / EXPORT_NAME / f"{day:%Y%m%d}-{day:%Y%m%d}" / str(run)
        target.mkdir(parents=True, exist_ok=True)
        with (target / "part_0_0001.csv").open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(header)
            for n, account in enumerate(subscriptions):
                group = f"rg-{account.name.split()[0].lower()}-{n + 1}"
                for sku, meter, category, unit, quantity, price in _METERS:
                    cost = (quantity * price).quantize(Decimal("0.000001"))
                    resource = (
                        f"/subscriptions/{account.external_ref}/resourceGroups/{group}"
                        f"/providers/{category.replace(' ', '')}/{sku.split('.')[1]}-{n + 1}"
                    )
                    out.writerow(
                        [
                            day.strftime("%m/%d/%Y"), account.external_ref, account.name, group,
                            resource, PUBLIC_AZURE, _meter_id(sku), meter, category,
                            f"{category} {meter}", quantity, unit, price, cost, cost, CURRENCY,
                            "Usage", json.dumps({"cost-center": group, "env": "prod"}),
                        ]
                    )  # fmt: skip


def write_inventory(folder: Path, subscriptions: list[Account], days: list[date]) -> None:
    """Hourly snapshots, one document per day, plus the next midnight's (it
    ends the last day's last interval). One VM is resized midway."""
    folder.mkdir(parents=True, exist_ok=True)
    instants = [datetime.combine(day, time(h), tzinfo=UTC) for day in days for h in range(24)] + [
        datetime.combine(days[-1] + timedelta(days=1), time(0), tzinfo=UTC)
    ]
    by_day: dict[str, list[dict[str, Any]]] = {}
    for k, at in enumerate(instants):
        vms: list[dict[str, Any]] = []
        for n, account in enumerate(subscriptions):
            grown = n == 0 and k >= len(instants) // 2
            vms.append(
                {
                    "id": f"azl-vm-{n + 1}",
                    "name": f"{account.name.split()[0].lower()}-app{n + 1}",
                    "subscription": account.external_ref,
                    "tags": {"owner": account.name},
                    "vcpus": 8 if grown else 4,
                    "memory_gb": 32 if grown else 16,
                    "disks": [],
                }
            )
        snapshot = {"taken_at": at.isoformat().replace("+00:00", "Z"), "vms": vms}
        by_day.setdefault(at.date().isoformat(), []).append(snapshot)
    for day, snapshots in by_day.items():
        (folder / f"{day}.json").write_text(json.dumps({"snapshots": snapshots}, indent=1))


def add_demo_regions(
    db: Database, data_dir: Path, *, today: date | None = None, email: str | None = None
) -> DemoRegions:
    """Write the feeds, create both regions with their enabled daily schedule,
    and run one collection of each through the job system."""
    today = today or datetime.now(UTC).date()
    days = [today - timedelta(days=DAYS - i) for i in range(DAYS)]
    base = Path(data_dir) / "demo"
    exports = base / "azure-exports"
    inventory = base / "azure-local-inventory"
    write_azure_exports(exports, _accounts(db, "azure", ("Contoso", "Fabrikam", "Litware")), days)
    write_inventory(inventory, _accounts(db, "azurestack", ("Proseware",)), days)
    request_id = str(uuid.uuid4())
    with db.session() as session:
        set_session_actor(session, _ACTOR, _REASON)
        principal = principal_for(
            session, get_user_by_email(session, email or DEMO_PRINCIPAL_EMAIL), via="demo"
        )
        created = [
            regions.create_region(
                session,
                principal,
                code=PUBLIC_AZURE,
                name="",  # keeps the reference region's name
                platform="public_azure",
                settings={
                    "folder": str(exports),
                    "export_name": EXPORT_NAME,
                    "sku_map": {_meter_id(m[0]): m[0] for m in _METERS},
                },
                secret=None,
                secret_key=b"",  # no secret: nothing is sealed
            ),
            regions.create_region(
                session,
                principal,
                code=AZURE_LOCAL[0],
                name=AZURE_LOCAL[1],
                platform="azure_local",
                settings={"inventory_url": inventory.as_uri(), "sku_map": dict(_LOCAL_SKUS)},
                secret=None,
                secret_key=b"",
            ),
        ]
        for record in created:
            regions.request_collection(
                session,
                principal,
                record.region.id,
                start=days[0],
                end=today,
                actor_label="demo",
                request_id=request_id,
            )
    worker = Worker(db, handlers=handlers(Path(data_dir)), worker_id="demo-loader", expand=None)
    while worker.run_once():
        pass
    with db.session() as session:
        jobs = list(session.scalars(select(Job).where(Job.request_id == request_id)))
        rows = 0
        for job in jobs:
            result = json.loads(job.result) if job.result else {}
            rows += int(result.get("rows_new", 0))
    return DemoRegions(
        regions=len(created),
        jobs=len(jobs),
        failed=sum(1 for j in jobs if j.status != JobStatus.COMPLETE.value),
        rows=rows,
    )


__all__ = ["DemoRegions", "add_demo_regions"]
