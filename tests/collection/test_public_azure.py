"""Public Azure: cost exports read from the folder Azure delivers them to,
mapped by the resource group's tag, each file imported once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from rerate.kit.db import Database
from tests.collection.helpers import job, own_accounts, run_jobs, stored_rows
from tests.world import World

SUB = "2639de71-ca37-4a17-a104-17665a50e7fc"
MCA_HEADER = (
    "invoiceSectionName,subscriptionId,subscriptionName,resourceGroupName,resourceLocation,"
    "date,productName,meterCategory,meterId,meterName,unitOfMeasure,quantity,"
    "costInBillingCurrency,paygCostInBillingCurrency,billingCurrency,ResourceId,tags,"
    "chargeType,pricingModel,frequency,additionalInfo"
)
VM = "fab6eb84-500b-4a09-a8ca-7358f8bbaea5"
DISK = "289aa00b-0d22-4b37-8720-98c2d6cd9f69"


def _row(day: str, group: str, meter: str, quantity: str, cost: str, tenant: str) -> str:
    rid = f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Compute/vm-{group}"
    tags = f'"{{""tenant"": ""{tenant}"", ""env"": ""prod""}}"'
    return (
        f"Sec,{SUB},Prod,{group},westeurope,{day},Virtual Machines,Compute,{meter},D2s v3,"
        f"1 Hour,{quantity},{cost},{cost},EUR,{rid},{tags},Usage,OnDemand,UsageBased,"
    )


def _export(root: Path, span: str, run: str, rows: list[str], name: str = "part_0_0001.csv",
            mtime: float | None = None) -> Path:  # fmt: skip
    folder = root / "costexports" / "daily" / "monthly-actual" / span / run
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\ufeff" + MCA_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _create(client: TestClient, world: World, folder: Path) -> dict[str, Any]:
    body = {
        "code": "westeurope",
        "name": "West Europe",
        "platform": "public_azure",
        "settings": {"folder": str(folder), "tag_key": "tenant", "export_name": "monthly-actual"},
    }
    answer = client.post("/api/v1/regions", json=body, headers=world.headers("platform_admin"))
    assert answer.status_code == 201, answer.text
    assert answer.json()["secret"] == "not set"
    return answer.json()


def _collect(client: TestClient, world: World, region: int, start: str, end: str) -> int:
    answer = client.post(
        f"/api/v1/regions/{region}/collect",
        json={"start": start, "end": end},
        headers=world.headers("platform_admin"),
    )
    assert answer.status_code == 202, answer.text
    return int(answer.json()["id"])


def test_exports_mapped_by_tag_each_file_once(
    client: TestClient, world: World, database: Database, data_dir: Path, tmp_path: Path
):
    own_accounts(database, world, {f"{SUB}/acme": "cust_a1x", f"{SUB}/globex": "cust_a1y"})
    root = tmp_path / "container"
    august = "20260801-20260831"
    _export(root, august, "run-a", [
        _row("2026-08-01", "RG-ACME", VM, "24", "2.40", "acme"),
        _row("2026-08-01", "rg-globex", DISK, "1", "0.50", "globex"),
    ], mtime=1_000)  # fmt: skip
    _export(root, august, "run-a", [_row("2026-08-02", "RG-ACME", VM, "24", "2.40", "acme")],
            name="part_0_0002.csv", mtime=1_000)  # fmt: skip
    # July's export is outside the range; another export's files are not this region's.
    _export(
        root, "20260701-20260731", "run-j", [_row("2026-07-31", "RG-ACME", VM, "1", "1", "acme")]
    )
    other = root / "costexports" / "daily" / "amortized" / august / "r"
    other.mkdir(parents=True)
    (other / "part_0_0001.csv").write_text(MCA_HEADER + "\n")
    region = _create(client, world, root)

    first = _collect(client, world, region["id"], "2026-08-01", "2026-08-03")
    run_jobs(database, data_dir)
    status, result, error = job(database, first)
    assert status == "complete", error
    assert result["batches"] == 2
    assert result["rows_new"] == 3
    assert result["rows_rejected"] == 0
    assert sorted(result["files"]) == [
        f"costexports/daily/monthly-actual/{august}/run-a/part_0_0001.csv",
        f"costexports/daily/monthly-actual/{august}/run-a/part_0_0002.csv",
    ]

    again = _collect(client, world, region["id"], "2026-08-01", "2026-08-03")
    run_jobs(database, data_dir)
    status, result, error = job(database, again)
    assert status == "complete", error
    assert (result["batches"], result["rows_new"]) == (0, 0)  # both files known by checksum

    # Azure delivers the month to date again: a new run, one more day, one row restated.
    _export(root, august, "run-b", [
        _row("2026-08-01", "RG-ACME", VM, "24", "2.40", "acme"),
        _row("2026-08-01", "rg-globex", DISK, "1", "0.55", "globex"),
        _row("2026-08-02", "RG-ACME", VM, "24", "2.40", "acme"),
        _row("2026-08-03", "RG-ACME", VM, "12", "1.20", "acme"),
    ], mtime=2_000)  # fmt: skip
    later = _collect(client, world, region["id"], "2026-08-01", "2026-08-04")
    run_jobs(database, data_dir)
    status, result, error = job(database, later)
    assert status == "complete", error
    assert (result["rows_new"], result["rows_corrected"], result["rows_unchanged"]) == (1, 1, 2)
    assert stored_rows(database, data_dir) == 4
    shown = client.get(f"/api/v1/regions/{region['id']}", headers=world.headers("platform_admin"))
    assert shown.json()["collected_through"] == "2026-08-03"


def test_rows_of_unknown_tenants_are_rejected_not_the_file(
    client: TestClient, world: World, database: Database, data_dir: Path, tmp_path: Path
):
    own_accounts(database, world, {f"{SUB}/acme": "cust_a1x"})
    root = tmp_path / "container"
    _export(root, "20260801-20260831", "run-a", [
        _row("2026-08-01", "RG-ACME", VM, "24", "2.40", "acme"),
        _row("2026-08-01", "rg-stranger", VM, "24", "2.40", "stranger"),
    ])  # fmt: skip
    region = _create(client, world, root)
    job_id = _collect(client, world, region["id"], "2026-08-01", "2026-08-02")
    run_jobs(database, data_dir)
    status, result, error = job(database, job_id)
    assert status == "complete", error
    assert (result["rows_new"], result["rows_rejected"]) == (1, 1)
    rejects = data_dir / result["rejects_files"][0]
    assert f"unknown account '{SUB}/stranger'" in rejects.read_text()
