"""The console's usage import page: the same import as the API, errors as a page."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rerate.kit.db import Database
from rerate.models import UsageImport
from tests.world import World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _upload(client: TestClient, world: World, who: str, name: str, body: bytes, **form: str):
    return client.post(
        "/usage/imports",
        files={"file": (name, body, "text/csv")},
        data={"format": "focus", "source_tz": "UTC", "country_code": "", **form},
        headers=world.headers(who),
    )


def test_import_page_imports_and_reports(client: TestClient, world: World, database: Database):
    page = client.get("/usage/imports", headers=world.headers("partner_admin"))
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text
    assert "No imports yet." in page.text
    body = (EXAMPLES / "focus" / "sample.csv").read_bytes()
    done = _upload(
        client,
        world,
        "partner_admin",
        "sample.csv",
        body,
        create_accounts="true",
        owner_customer_id=str(world.nodes["cust_a1x"].id),
    )
    assert done.status_code == 201, done.text
    assert "data-import-report" in done.text
    assert "sample.csv" in done.text
    assert "accounts created" in done.text
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(UsageImport)) == 1
    listed = client.get("/usage/imports", headers=world.headers("partner_admin")).text
    assert "No imports yet." not in listed


def test_a_bad_file_is_refused_whole_naming_file_and_line(
    client: TestClient, world: World, database: Database
):
    body = (EXAMPLES / "focus" / "bad.csv").read_bytes()
    owner = str(world.nodes["cust_a1x"].id)
    done = _upload(
        client,
        world,
        "partner_admin",
        "bad.csv",
        body,
        create_accounts="true",
        owner_customer_id=owner,
    )
    assert done.status_code == 422
    assert "data-import-error" in done.text
    assert "bad.csv:" in done.text
    assert "Nothing was imported." in done.text
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(UsageImport)) == 0


def test_the_page_needs_the_import_permission(client: TestClient, world: World):
    denied = client.get("/usage/imports", headers=world.headers("customer_user"))
    assert denied.status_code == 403
    assert "Import Usage permission" in denied.text
    nav = client.get("/settings", headers=world.headers("partner_admin")).text
    assert 'href="/usage/imports"' in nav
