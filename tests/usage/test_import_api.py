"""Usage import through the API and the CLI: all or nothing, idempotent, scoped."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from rerate.kit.db import Database
from rerate.models import Account, UsageImport
from rerate.usage.service import visible_import_ids
from rerate.usage.store import UsageStore
from tests.world import World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def upload(client: TestClient, world: World, who: str, path: Path, **form: object):
    with path.open("rb") as fh:
        return client.post(
            "/api/v1/usage/imports",
            files={"file": (path.name, fh, "text/csv")},
            data={"format": "focus", **{k: str(v) for k, v in form.items()}},
            headers=world.headers(who),
        )


def test_upload_creates_accounts_then_reimport_adds_nothing(
    client: TestClient, world: World, database: Database, data_dir: Path
):
    cust = world.nodes["cust_a1x"].id
    first = upload(
        client,
        world,
        "partner_admin",
        EXAMPLES / "focus" / "sample.csv",
        create_accounts="true",
        owner_customer_id=cust,
    )
    assert first.status_code == 201, first.text
    report = first.json()
    assert report["new"] > 0
    assert report["accounts_created"] >= 1
    again = upload(client, world, "partner_admin", EXAMPLES / "focus" / "sample.csv")
    assert again.status_code == 201, again.text
    assert again.json()["new"] == 0
    assert again.json()["unchanged"] == report["new"]
    with database.session() as s:
        rows = UsageStore(data_dir).scan(visible_import_ids(s)).num_rows
    assert rows == report["new"]
    listed = client.get("/api/v1/usage/imports?limit=1", headers=world.headers("partner_admin"))
    assert listed.json()["total"] == 2  # both imports, newest first, one per page
    assert [i["rows_new"] for i in listed.json()["items"]] == [0]
    others = client.get("/api/v1/usage/imports", headers=world.headers("platform_service"))
    assert others.json()["total"] == 2  # platform roles see every import


def test_bad_file_is_rejected_whole_naming_line_and_column(
    client: TestClient, world: World, database: Database, data_dir: Path
):
    r = upload(
        client, world, "platform_admin", EXAMPLES / "focus" / "bad.csv", create_accounts="true"
    )
    assert r.status_code == 422
    body = r.json()
    assert body["file"] == "bad.csv"
    assert body["line"] == 4
    assert body["column"] == "ConsumedQuantity"
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(UsageImport)) == 0
        assert s.scalar(select(func.count()).select_from(Account)) == 0  # nothing half-done
    skipped = upload(
        client,
        world,
        "platform_admin",
        EXAMPLES / "focus" / "bad.csv",
        create_accounts="true",
        owner_customer_id=world.nodes["cust_a1x"].id,
        skip_bad_rows="true",
    )
    assert skipped.status_code == 201, skipped.text
    assert skipped.json()["rejected"] >= 3
    assert {r["line"] for r in skipped.json()["rejects"]} >= {"4", "5", "6"}


def test_unknown_account_outside_the_callers_subtree_is_refused(client: TestClient, world: World):
    # partner A1 may not create accounts for Dist B's customer
    r = upload(
        client,
        world,
        "partner_admin",
        EXAMPLES / "focus" / "sample.csv",
        create_accounts="true",
        owner_customer_id=world.nodes["cust_b1x"].id,
    )
    assert r.status_code == 404
    # nor import usage for accounts it does not know
    r = upload(client, world, "partner_admin", EXAMPLES / "focus" / "sample.csv")
    assert r.status_code == 422
    assert "unknown account" in r.json()["detail"]


def test_json_records_are_idempotent_and_refuse_floats(client: TestClient, world: World):
    upload(
        client,
        world,
        "platform_admin",
        EXAMPLES / "focus" / "sample.csv",
        create_accounts="true",
        owner_customer_id=world.nodes["cust_a1x"].id,
    )
    record = {
        "record_id": "r-1",
        "kind": "cloud",
        "account_ref": "444455556666",
        "usage_start": "2026-08-02T00:00:00Z",
        "usage_end": "2026-08-02T01:00:00Z",
        "sku": "EC2-T3M",
        "quantity": "1.5",
        "unit": "Hours",
        "currency": "USD",
    }
    headers = world.headers("platform_admin")
    first = client.post("/api/v1/usage/records", json={"records": [record]}, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["new"] == 1
    second = client.post("/api/v1/usage/records", json={"records": [record]}, headers=headers)
    assert second.json()["new"] == 0
    float_qty = client.post(
        "/api/v1/usage/records", json={"records": [{**record, "quantity": 1.5}]}, headers=headers
    )
    assert float_qty.status_code == 422


def test_cli_import_reports_and_rejects(
    world: World, database: Database, data_dir: Path, monkeypatch, tmp_path: Path
):
    from rerate.cli import context
    from rerate.cli.main import app

    monkeypatch.setenv("RERATE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RERATE_DATABASE_URL", database.url)
    context.database.cache_clear()
    from rerate.kit.settings import get_settings

    get_settings.cache_clear()
    try:
        runner = CliRunner()
        ok = runner.invoke(
            app,
            [
                "import",
                "focus",
                str(EXAMPLES / "focus" / "sample.csv"),
                "--as",
                "platform_admin@test.example",
                "--create-accounts",
                "--owner-customer-id",
                str(world.nodes["cust_a1x"].id),
            ],
        )
        assert ok.exit_code == 0, ok.output
        assert "new" in ok.output
        bad = tmp_path / "bad.csv"
        bad.write_bytes((EXAMPLES / "focus" / "bad.csv").read_bytes())
        failed = runner.invoke(
            app, ["import", "focus", str(bad), "--as", "platform_admin@test.example"]
        )
        assert failed.exit_code == 1
        assert "bad.csv:4" in failed.output
    finally:
        context.database().dispose()  # close the CLI's pooled connections
        context.database.cache_clear()
        get_settings.cache_clear()
