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


SECRET = "cs-super-secret-9f8e7d"


def test_new_region_form_creates_a_region_without_ever_echoing_the_secret(
    client: TestClient, world: World, database: Database
):
    admin = world.headers("platform_admin")
    listing = client.get("/regions", headers=admin)
    assert "data-new-region" in listing.text
    assert 'data-platform-details="public_azure" open' in listing.text  # the default platform
    assert 'data-platform-details="cloudstack">' in listing.text  # the others folded
    form = {
        "code": "ch-gva-9",
        "name": "Geneva 9",
        "platform": "cloudstack",
        "owner_node_id": str(world.nodes["dist_a"].id),
        "s.cloudstack.endpoint": "https://cloud.example.test/client/api",
        "s.cloudstack.api_key": "key-1",
        "s.cloudstack.page_size": "200",
        "s.cloudstack.sku_map": '{"Small": "compute.small"}',
        "s.public_azure.folder": "/ignored",  # another platform's field: ignored
        "secret": SECRET,
        "enabled": "on",
        "cron": "15 4 * * *",
    }
    done = client.post("/regions", data=form, headers=admin, follow_redirects=False)
    assert done.status_code == 303, done.text
    region = client.get("/api/v1/regions", headers=admin).json()
    made = next(r for r in region if r["code"] == "ch-gva-9")
    assert done.headers["location"] == f"/regions/{made['id']}"
    assert made["platform"] == "cloudstack"
    assert made["owner_node_id"] == world.nodes["dist_a"].id
    assert made["settings"] == {
        "endpoint": "https://cloud.example.test/client/api",
        "api_key": "key-1",
        "page_size": 200,
        "sku_map": {"Small": "compute.small"},
    }
    assert (made["secret"], made["enabled"], made["cron"]) == (
        "set (encrypted)",
        True,
        "15 4 * * *",
    )
    page = client.get(f"/regions/{made['id']}", headers=admin).text
    assert "data-edit-region" in page
    assert SECRET not in page
    assert 'type="password" name="secret" value=""' in page
    # A refused create names the field, keeps what was typed, never the secret.
    bad = client.post(
        "/regions",
        data={**form, "code": "ch-gva-10", "s.cloudstack.endpoint": "ftp://nope"},
        headers=admin,
    )
    assert bad.status_code == 422
    assert "settings.endpoint: must be an http(s) URL" in bad.text
    assert 'data-field-error="settings.endpoint"' in bad.text
    assert 'value="ch-gva-10"' in bad.text
    assert 'data-platform-details="cloudstack" open' in bad.text
    assert SECRET not in bad.text
    missing = client.post(
        "/regions", data={**form, "code": "ch-gva-11", "secret": ""}, headers=admin
    )
    assert missing.status_code == 422
    assert 'data-field-error="secret"' in missing.text
    number = client.post(
        "/regions", data={**form, "code": "x1", "s.cloudstack.page_size": "many"}, headers=admin
    )
    assert number.status_code == 422
    assert "settings.page_size: must be a whole number" in number.text
    assert SECRET not in number.text
    codes = {r["code"] for r in client.get("/api/v1/regions", headers=admin).json()}
    assert not codes & {"ch-gva-10", "ch-gva-11", "x1"}


def test_edit_form_changes_the_region_and_a_blank_secret_keeps_it(
    client: TestClient, world: World, database: Database, tmp_path: Path
):
    admin = world.headers("platform_admin")
    region = _region(client, world, tmp_path)
    page = client.get(f"/regions/{region}", headers=admin).text
    assert f'value="{tmp_path}"' in page  # the current settings, ready to change
    form = {
        "name": "West Europe (exports)",
        "owner_node_id": str(world.nodes["platform"].id),
        "s.public_azure.folder": str(tmp_path / "other"),
        "s.public_azure.tag_key": "tenant",
        "s.public_azure.max_gap_hours": "",
        "secret": "",
        "cron": "0 5 * * *",
    }  # "enabled" absent: the checkbox is unticked
    done = client.post(f"/regions/{region}/edit", data=form, headers=admin, follow_redirects=False)
    assert done.status_code == 303, done.text
    got = client.get(f"/api/v1/regions/{region}", headers=admin).json()
    assert got["name"] == "West Europe (exports)"
    assert got["settings"] == {"folder": str(tmp_path / "other"), "tag_key": "tenant"}
    assert (got["enabled"], got["cron"], got["secret_set"]) == (False, "0 5 * * *", False)
    assert got["owner_node_id"] == world.nodes["platform"].id
    # A secret set in the form is sealed; a later blank one keeps it.
    client.post(f"/regions/{region}/edit", data={**form, "secret": SECRET}, headers=admin)
    assert client.get(f"/api/v1/regions/{region}", headers=admin).json()["secret_set"]
    client.post(f"/regions/{region}/edit", data=form, headers=admin)
    assert client.get(f"/api/v1/regions/{region}", headers=admin).json()["secret_set"]
    assert SECRET not in client.get(f"/regions/{region}", headers=admin).text
    bad = client.post(
        f"/regions/{region}/edit",
        data={**form, "cron": "every day", "secret": SECRET},
        headers=admin,
    )
    assert bad.status_code == 422
    assert 'data-field-error="cron"' in bad.text
    assert "Nothing was changed." in bad.text
    assert SECRET not in bad.text
    assert client.get(f"/api/v1/regions/{region}", headers=admin).json()["cron"] == "0 5 * * *"
    json_bad = client.post(
        f"/regions/{region}/edit",
        data={**form, "s.public_azure.sku_map": "{not json"},
        headers=admin,
    )
    assert json_bad.status_code == 422
    assert 'data-field-error="settings.sku_map"' in json_bad.text


def test_create_and_edit_forms_are_for_platform_roles_only(
    client: TestClient, world: World, tmp_path: Path
):
    region = _region(client, world, tmp_path)  # owned by dist_a
    seen = client.get(f"/regions/{region}", headers=world.headers("distributor"))
    assert seen.status_code == 200
    assert "data-edit-region" not in seen.text
    assert (
        "data-new-region" not in client.get("/regions", headers=world.headers("distributor")).text
    )
    create = client.post(
        "/regions",
        data={"code": "d1", "platform": "public_azure", "s.public_azure.folder": "/x"},
        headers=world.headers("distributor"),
    )
    assert create.status_code == 403
    edit = client.post(
        f"/regions/{region}/edit",
        data={"name": "taken over", "s.public_azure.folder": "/x"},
        headers=world.headers("distributor"),
    )
    assert edit.status_code == 403
    admin = world.headers("platform_admin")
    assert client.get(f"/api/v1/regions/{region}", headers=admin).json()["name"] == "West Europe"
    codes = {r["code"] for r in client.get("/api/v1/regions", headers=admin).json()}
    assert "d1" not in codes
