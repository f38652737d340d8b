"""The region page and its "Update region" action (TestClient HTML)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import Job
from rerate.models.collection import CollectionRun
from tests.collection.helpers import job, run_jobs
from tests.world import World


def _region(client: TestClient, world: World, folder: Path) -> int:
    body = {
        "code": "westeurope",
        "name": "West Europe",
        "platform": "public_azure",
        "settings": {"folder": str(folder)},
        "owner_node_id": world.nodes["dist_a"].id,
    }
    answer = client.post("/api/v1/regions", json=body, headers=world.headers("platform_admin"))
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def test_region_page_and_update_region_action(
    client: TestClient, world: World, database: Database, data_dir: Path, tmp_path: Path
):
    folder = tmp_path / "exports"
    folder.mkdir()
    region = _region(client, world, folder)
    listing = client.get("/regions", headers=world.headers("platform_admin"))
    assert listing.status_code == 200
    assert f'href="/regions/{region}"' in listing.text
    page = client.get(f"/regions/{region}", headers=world.headers("platform_admin"))
    assert page.status_code == 200
    assert "data-update-region" in page.text
    assert "Public Azure" in page.text
    assert "No collection yet." in page.text

    done = client.post(
        f"/regions/{region}/collect",
        data={"start": "2026-08-01", "end": "2026-08-03"},
        headers=world.headers("platform_admin"),
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    with database.session() as s:
        queued = s.scalars(select(Job).where(Job.type == "collect_usage")).one()
        run = s.scalars(select(CollectionRun)).one()
        assert (str(run.start_day), str(run.end_day)) == ("2026-08-01", "2026-08-03")
    assert done.headers["location"] == f"/billing/jobs/{queued.id}"
    run_jobs(database, data_dir)
    assert job(database, queued.id)[0] == "complete"
    after = client.get(f"/regions/{region}", headers=world.headers("platform_admin")).text
    assert f'href="/billing/jobs/{queued.id}"' in after
    assert "2026-08-02" in after  # collected through
    log = client.get(f"/billing/jobs/{queued.id}", headers=world.headers("platform_admin"))
    assert log.status_code == 200
    assert "Collection" in log.text


def test_update_region_refuses_a_bad_range_with_the_field(
    client: TestClient, world: World, tmp_path: Path
):
    region = _region(client, world, tmp_path)
    bad = client.post(
        f"/regions/{region}/collect",
        data={"start": "2026-08-03", "end": "2026-08-01"},
        headers=world.headers("platform_admin"),
    )
    assert bad.status_code == 422
    assert "end: must be after start" in bad.text
    assert "Nothing was queued." in bad.text


def test_region_visibility_follows_the_owner_and_the_action_is_platform_only(
    client: TestClient, world: World, tmp_path: Path
):
    region = _region(client, world, tmp_path)
    # The owning distributor sees its region, without the action.
    seen = client.get(f"/regions/{region}", headers=world.headers("distributor"))
    assert seen.status_code == 200
    assert "data-update-region" not in seen.text
    refused = client.post(
        f"/regions/{region}/collect",
        data={"start": "2026-08-01", "end": "2026-08-02"},
        headers=world.headers("distributor"),
    )
    assert refused.status_code == 403
    # A reseller of another distributor does not learn the region exists.
    hidden = client.get(f"/regions/{region}", headers=world.headers("partner_admin"))
    assert hidden.status_code == 200 or hidden.status_code == 404
    api = client.get(f"/api/v1/regions/{region}", headers=world.headers("customer_user"))
    assert api.status_code == 404
    listed = client.get("/api/v1/regions", headers=world.headers("customer_user")).json()
    assert listed == []
