"""A missing or damaged run file: the error names the file (relative to the data
directory), and recalculating the period rebuilds the run from usage."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import BillingCacheRow, BillingRun, CurrentRun
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import drain, job, submit
from tests.world import World

PERIOD = "2026-09"


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


def _published(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> BillingRun:
    """Recalculate cust_a1x's September once; the published run."""
    first = submit(client, billing.world, "recalculations", "cust_a1x", [PERIOD])
    assert first.status_code == 202, first.text
    drain(database, data_dir)
    with database.session() as s:
        pointer = s.get(CurrentRun, (billing.world.nodes["cust_a1x"].id, PERIOD))
        assert pointer is not None
        run = s.get(BillingRun, pointer.run_id)
        assert run is not None
        return run


def _relative(run: BillingRun, data_dir: Path, name: str) -> str:
    return str((Path(run.path) / name).relative_to(data_dir))


def _run_job(
    client: TestClient, billing: Billing, database: Database, data_dir: Path, kind: str
) -> dict:
    r = submit(client, billing.world, kind, "cust_a1x", [PERIOD], reason="data_correction")
    assert r.status_code == 202, r.text
    drain(database, data_dir)
    return job(client, billing.world, r.json()["jobs"][0]["id"])


def test_a_deleted_daily_part_is_named_and_recalculation_rebuilds_the_run(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    run = _published(client, billing, database, data_dir)
    part = Path(run.path) / "daily" / "part-00000.parquet"
    part.unlink()
    name = _relative(run, data_dir, "daily/part-00000.parquet")

    synced = _run_job(client, billing, database, data_dir, "cache-syncs")
    assert synced["status"] == "failed"
    assert synced["error"].startswith("RunUnreadable: ")
    assert f"{name} is missing" in synced["error"]
    assert str(data_dir) not in synced["error"]  # no absolute server path
    assert "recalculate" in synced["error"]

    rebuilt = _run_job(client, billing, database, data_dir, "recalculations")
    assert rebuilt["status"] == "complete", rebuilt["error"]
    result = rebuilt["result"]
    assert result["published"] is True
    assert result["new_version"] is True  # same content, but the old run is unreadable
    assert name in result["previous_run_unreadable"]
    assert Decimal(result["total_after"]) == Decimal("84.80")
    with database.session() as s:
        pointer = s.get(CurrentRun, (billing.world.nodes["cust_a1x"].id, PERIOD))
        assert pointer is not None
        assert pointer.run_id == result["run_id"] != run.id
        cache = list(s.scalars(select(BillingCacheRow).where(BillingCacheRow.period == PERIOD)))
    assert {c.run_id for c in cache} == {result["run_id"]}
    # The diff says it could not read the old run rather than inventing zeros.
    diff = client.get(
        f"/api/v1/jobs/{rebuilt['id']}/diff.csv", headers=billing.world.headers("partner_admin")
    )
    assert diff.status_code == 200, diff.text
    assert "previous run unreadable" in diff.text
    assert _run_job(client, billing, database, data_dir, "cache-syncs")["status"] == "complete"


def test_a_damaged_rated_part_is_named_on_cache_sync_and_on_invoice_generation(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    run = _published(client, billing, database, data_dir)
    part = Path(run.path) / "rated" / "part-00000.parquet"
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])  # truncated: a disk or copy gone wrong
    name = _relative(run, data_dir, "rated/part-00000.parquet")

    synced = _run_job(client, billing, database, data_dir, "cache-syncs")
    assert synced["status"] == "failed"
    assert synced["error"].startswith("RunUnreadable: ")
    assert name in synced["error"]
    assert str(data_dir) not in synced["error"]


def test_a_damaged_period_lines_file_refuses_invoice_generation_with_its_name(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    run = _published(client, billing, database, data_dir)
    lines = Path(run.path) / "period_lines.parquet"
    lines.write_bytes(b"PAR1 not really parquet PAR1")
    name = _relative(run, data_dir, "period_lines.parquet")
    r = client.post(
        "/api/v1/invoices/generate",
        json={"customer_id": billing.world.nodes["cust_a1x"].id, "period": PERIOD},
        headers=billing.world.headers("platform_admin"),
    )
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "RunUnreadable"
    assert name in body["detail"]
    assert str(data_dir) not in body["detail"]
