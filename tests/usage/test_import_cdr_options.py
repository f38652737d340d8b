"""`columns` and `account_from` reach the import from the API, the console and the CLI."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from rerate.kit.db import Database
from rerate.models import Account
from tests.world import World

# A cdr_custom layout without accountcode; the account is the channel's peer.
COLUMNS = "clid,src,dst,dcontext,channel,dstchannel,-,-,start,answer,end,duration,billsec,"
COLUMNS += "disposition,amaflags,uniqueid,sequence"
BODY = (
    b'"Desk" <4930111>,4930111,4989222,default,PJSIP/alice-0000000a,PJSIP/bob-0000000b,Dial,'
    b"PJSIP/bob,2026-08-01 10:00:00,2026-08-01 10:00:05,2026-08-01 10:01:00,60,55,ANSWERED,"
    b"DOCUMENTATION,1785571200.2,2\n"
)


def _form(world: World) -> dict[str, str]:
    return {
        "format": "asterisk",
        "columns": COLUMNS,
        "account_from": "channel-peer",
        "create_accounts": "true",
        "owner_customer_id": str(world.nodes["cust_a1x"].id),
    }


def _account_refs(database: Database) -> list[str]:
    with database.session() as s:
        return list(s.scalars(select(Account.external_ref)))


def test_api_upload_takes_columns_and_account_from(
    client: TestClient, world: World, database: Database
) -> None:
    r = client.post(
        "/api/v1/usage/imports",
        files={"file": ("Master.csv", BODY, "text/csv")},
        data=_form(world),
        headers=world.headers("partner_admin"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["new"] == 1
    assert "alice" in _account_refs(database)


def test_api_upload_refuses_an_unknown_column_in_one_message(
    client: TestClient, world: World
) -> None:
    r = client.post(
        "/api/v1/usage/imports",
        files={"file": ("Master.csv", BODY, "text/csv")},
        data={**_form(world), "columns": COLUMNS.replace("sequence", "seq")},
        headers=world.headers("partner_admin"),
    )
    assert r.status_code == 422, r.text
    assert "unknown name 'seq'" in r.text
    assert "sequence" in r.text


def test_console_upload_takes_columns_and_account_from(
    client: TestClient, world: World, database: Database
) -> None:
    r = client.post(
        "/usage/imports",
        files={"file": ("Master.csv", BODY, "text/csv")},
        data={**_form(world), "source_tz": "UTC", "country_code": ""},
        headers=world.headers("partner_admin"),
    )
    assert r.status_code == 201, r.text
    assert "alice" in _account_refs(database)
    page = client.get("/usage/imports", headers=world.headers("partner_admin")).text
    assert 'name="columns"' in page
    assert 'name="account_from"' in page


def test_cli_import_takes_columns_and_account_from(
    world: World, database: Database, data_dir: Path, monkeypatch, tmp_path: Path
) -> None:
    from rerate.cli import context
    from rerate.cli.main import app
    from rerate.kit.settings import get_settings

    monkeypatch.setenv("RERATE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RERATE_DATABASE_URL", database.url)
    context.database.cache_clear()
    get_settings.cache_clear()
    path = tmp_path / "Master.csv"
    path.write_bytes(BODY)
    base = ["import", "asterisk", str(path), "--as", "platform_admin@test.example"]
    try:
        runner = CliRunner()
        bad = runner.invoke(app, [*base, "--columns", COLUMNS.replace("sequence", "seq")])
        assert bad.exit_code == 2, bad.output
        assert "error: asterisk columns: unknown name 'seq'" in bad.output
        assert "Traceback" not in bad.output
        ok = runner.invoke(
            app,
            [
                *base,
                "--columns",
                COLUMNS,
                "--account-from",
                "channel-peer",
                "--create-accounts",
                "--owner",
                str(world.nodes["cust_a1x"].id),
            ],
        )
        assert ok.exit_code == 0, ok.output
        assert "new 1" in ok.output
        assert "alice" in _account_refs(database)
    finally:
        context.database().dispose()
        context.database.cache_clear()
        get_settings.cache_clear()


def _fs_line(uuid: str, bleg: str, account: str) -> bytes:
    fields = [
        "Desk", "1001", "4989222", "default", "2026-08-01 10:00:00", "2026-08-01 10:00:02",
        "2026-08-01 10:01:00", "60", "58", "NORMAL_CLEARING", uuid, bleg, account, "PCMA", "PCMA",
    ]  # fmt: skip
    return (",".join(f'"{f}"' for f in fields) + "\n").encode()


def test_the_import_report_counts_b_legs_left_out(client: TestClient, world: World) -> None:
    # legs="ab": the B-leg (written first) and its A-leg; one call, billed once.
    body = _fs_line("b-1", "", "1002") + _fs_line("a-1", "b-1", "1001")
    r = client.post(
        "/api/v1/usage/imports",
        files={"file": ("Master.csv", body, "text/csv")},
        data={
            "format": "freeswitch",
            "create_accounts": "true",
            "owner_customer_id": str(world.nodes["cust_a1x"].id),
        },
        headers=world.headers("partner_admin"),
    )
    assert r.status_code == 201, r.text
    report = r.json()
    assert (report["rows_read"], report["new"], report["skipped_rows"]) == (2, 1, 1)
    assert report["skipped"] == [{"reason": report["skipped"][0]["reason"], "rows": 1}]
    assert "B-leg" in report["skipped"][0]["reason"]
    assert report["notice"].startswith("1 row left out: B-leg of a call")
