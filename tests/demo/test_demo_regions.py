"""The demo's collection regions: two platforms collected offline through
the job system, priced, with their daily schedule enabled."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from rerate.demo import load_demo
from rerate.demo.regions import DemoRegions, add_demo_regions
from rerate.kit.db import Database
from rerate.models import Job, JobSchedule
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
    from rerate.demo.catalog import PRICED_SKUS

    priced = {s.sku for s in PRICED_SKUS}
    skus = {r["sku"] for r in collected if r["source"] in ("azure", "azure_local")}
    assert skus
    assert skus <= priced
