"""The demo's collection regions: two platforms collected offline through
the job system, priced, with their daily schedule enabled."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from sqlalchemy import select

from rerate.billing.runs import compute_run
from rerate.demo import load_demo
from rerate.demo.catalog import PRICED_SKUS
from rerate.demo.regions import _LOCAL_SKUS, _METERS, DemoRegions, add_demo_regions
from rerate.kit.db import Database
from rerate.kit.periods import Month
from rerate.models import Job, JobSchedule, Node
from rerate.models.collection import CollectionRun, CollectionSource
from rerate.usage.service import visible_import_ids
from rerate.usage.store import UsageStore

TODAY = date(2026, 11, 21)


@pytest.fixture(scope="module")
def demo(
    module_database: Database, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Database, Path, DemoRegions]:
    data_dir = tmp_path_factory.mktemp("demo-regions")
    load_demo(module_database, data_dir, scale=0.01, today=TODAY)
    return module_database, data_dir, add_demo_regions(module_database, data_dir, today=TODAY)


def test_two_platforms_each_with_a_completed_collection_and_a_schedule(
    demo: tuple[Database, Path, DemoRegions],
) -> None:
    db, data_dir, outcome = demo
    assert (outcome.regions, outcome.jobs, outcome.failed) == (2, 2, 0)
    assert outcome.rows > 0
    with db.session() as s:
        sources = s.scalars(select(CollectionSource).order_by(CollectionSource.id)).all()
        assert {src.platform for src in sources} == {"public_azure", "azure_local"}
        for source in sources:
            schedule = s.get(JobSchedule, source.schedule_id)
            assert schedule is not None
            assert schedule.enabled
            assert source.enabled
            assert source.collected_through == TODAY - timedelta(days=1)
            run = s.scalars(select(CollectionRun).where(CollectionRun.source_id == source.id)).one()
            job = s.get(Job, run.job_id)
            assert job is not None
            assert job.status == "complete", job.error
            assert '"rows_new": 0' not in (job.result or "")
        rows = UsageStore(data_dir).scan(visible_import_ids(s)).to_pylist()
    collected = [r for r in rows if r["region"] in ("westeurope", "azl-lyon-1")]
    by_region = {r["region"] for r in collected if r["source"] in ("azure", "azure_local")}
    assert by_region == {"westeurope", "azl-lyon-1"}
    # Every collected SKU went through its region's sku_map to a priced catalog SKU.
    priced = {s.sku for s in PRICED_SKUS}
    skus = {r["sku"] for r in collected if r["source"] in ("azure", "azure_local")}
    assert skus
    assert skus <= priced


@pytest.mark.parametrize(("customer", "region"), [("Proseware", "azl-lyon-1"), ("Contoso", None)])
def test_collected_rows_are_rated_by_the_demo_price_book(
    demo: tuple[Database, Path, DemoRegions], customer: str, region: str | None
) -> None:
    db, data_dir, _ = demo
    with db.session() as s:
        node = s.scalars(select(Node).where(Node.name.startswith(customer))).one()
        computed = compute_run(s, data_dir, node, Month.parse(f"{TODAY:%Y-%m}"))
    rated = ds.dataset(computed.path / "rated", format="parquet").to_table().to_pylist()
    mine = [
        r
        for r in rated
        if str(r["item"]) in set(_LOCAL_SKUS.values()) | {m[0] for m in _METERS}
        and (region is None or r["region"] == region)
        and r["usage_start"].date() >= TODAY - timedelta(days=2)
    ]
    assert mine
    assert {r["status"] for r in mine} == {"rated"}
    assert all(r["entry_id"] is not None for r in mine)  # priced by an entry
    # (Contoso's egress can be inside its free allowance: zero, but still rated.)
    assert sum(r["net_amount"] for r in mine) > 0
