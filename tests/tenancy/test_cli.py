"""The tenancy and people commands, acting for a user (`--as`), end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from rerate.cli import context
from rerate.cli.main import app
from rerate.kit.db import Database
from rerate.kit.settings import get_settings
from rerate.models import AuditEntry, Node
from tests.world import World


@pytest.fixture
def rerate(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    monkeypatch.setenv("RERATE_DATABASE_URL", database.url)
    monkeypatch.setenv("RERATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("RERATE_AS", raising=False)
    get_settings.cache_clear()
    context.database.cache_clear()
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    yield run
    context.database().dispose()
    context.database.cache_clear()
    get_settings.cache_clear()


def test_a_distributor_builds_a_reseller_and_customer_and_invites_its_admin(
    rerate, world: World, database: Database, client: TestClient
):
    dist = "distributor@test.example"
    out = rerate(
        "nodes",
        "create",
        "Reseller Z",
        "--kind",
        "partner",
        "--parent",
        str(world.nodes["dist_a"].id),
        "--currency",
        "EUR",
        "--as",
        dist,
    )
    assert "created partner Reseller Z" in out
    with database.session() as s:
        reseller = s.scalars(select(Node).where(Node.name == "Reseller Z")).one()
    out = rerate(
        "customers",
        "create",
        "Zeta GmbH",
        "--parent",
        str(reseller.id),
        "--legal-name",
        "Zeta GmbH",
        "--address",
        "Hauptstr. 1\\n10115 Berlin",
        "--tax-id",
        "DE1",
        "--currency",
        "eur",
        "--time-zone",
        "Europe/Berlin",
        "--tax-rate",
        "0.19",
        "--payment-terms-days",
        "14",
        "--as",
        dist,
        "--reason",
        "signed",
    )
    assert "created customer Zeta GmbH" in out
    listed = rerate("customers", "list", "--q", "zeta", "--as", dist)
    lines = listed.strip().splitlines()
    assert lines[0].split("\t") == [
        "id",
        "kind",
        "name",
        "parent_id",
        "parent",
        "currency",
        "status",
    ]
    row = lines[1].split("\t")
    assert row[1:] == ["customer", "Zeta GmbH", str(reseller.id), "Reseller Z", "EUR", "active"]
    customer_id = row[0]
    shown = rerate("customers", "show", customer_id, "--as", dist)
    assert '"address": "Hauptstr. 1\\n10115 Berlin"' in shown
    assert '"tax_rate": "0.19"' in shown

    out = rerate(
        "users",
        "invite",
        "zed@zeta.example",
        "--role",
        "partner_admin",
        "--node-id",
        str(reseller.id),
        "--as",
        dist,
        "--base-url",
        "https://billing.example",
    )
    link = out.strip().splitlines()[-1]
    assert link.startswith("https://billing.example/invitations/rri_")
    token = link.rsplit("/", 1)[1]
    r = client.post(f"/api/v1/invitations/{token}/accept", json={"password": "zeta-password-1"})
    assert r.status_code == 201, r.text
    users = rerate("users", "list", "--q", "zed", "--as", dist)
    assert "zed@zeta.example" in users
    assert "partner_admin@Reseller Z" in users

    rerate("customers", "update", customer_id, "--name", "Zeta AG", "--as", dist)
    rerate("customers", "deactivate", customer_id, "--as", dist, "--reason", "churned")
    assert "Zeta" not in rerate("customers", "list", "--as", dist)
    assert "inactive" in rerate("customers", "list", "--include-inactive", "--as", dist)
    rerate("customers", "activate", customer_id, "--as", dist)
    with database.session() as s:
        reasons = set(
            s.scalars(
                select(AuditEntry.reason).where(
                    AuditEntry.object_type == "nodes", AuditEntry.object_id == customer_id
                )
            )
        )
        actors = set(s.scalars(select(AuditEntry.actor).where(AuditEntry.object_id == customer_id)))
    assert {"signed", "churned"} <= reasons
    assert all(a.endswith(" as distributor@test.example") for a in actors)


def test_refusals_are_one_line_with_exit_code_2(rerate, world: World):
    pa = "partner_admin@test.example"
    out = rerate(
        "customers",
        "create",
        "X",
        "--parent",
        str(world.nodes["partner_b1"].id),
        "--as",
        pa,
        code=2,
    )
    assert out.strip() == "error: not found"
    out = rerate(
        "customers",
        "create",
        "X",
        "--parent",
        str(world.nodes["partner_a1"].id),
        "--currency",
        "ZZZ",
        "--as",
        pa,
        code=2,
    )
    assert out.startswith("error: currency:")
    assert "Traceback" not in out
    out = rerate("customers", "show", str(world.nodes["partner_a1"].id), "--as", pa, code=2)
    assert "not a customer" in out
    out = rerate("nodes", "create", "Y", "--parent", "1", "--as", pa, code=2)
    assert "--kind is required" in out
    out = rerate("customers", "list", "--as", "nobody@test.example", code=2)
    assert "no user" in out


def test_grants_deactivation_and_api_keys_from_the_cli(rerate, world: World):
    pa = "partner_admin@test.example"
    cu = world.users["customer_user"].id
    out = rerate(
        "users",
        "grant",
        str(cu),
        "--role",
        "customer_user",
        "--node-id",
        str(world.nodes["cust_a1y"].id),
        "--as",
        pa,
    )
    grant = out.strip().rsplit("grant ", 1)[1].rstrip(")")
    rerate("users", "revoke", grant, "--as", pa)
    rerate("users", "deactivate", str(cu), "--as", pa, "--reason", "left")
    assert "customer_user" not in rerate("users", "list", "--as", pa)
    rerate("users", "activate", str(cu), "--as", pa)
    keys = rerate("apikeys", "list", "--user-id", str(cu), "--as", pa).strip().splitlines()
    assert keys[0].split("\t")[:3] == ["id", "prefix", "owner"]
    key_id = keys[1].split("\t")[0]
    assert "revoked key" in rerate("apikeys", "revoke", key_id, "--as", pa)
    assert "already" in rerate("apikeys", "revoke", key_id, "--as", pa, code=2)
    assert rerate("apikeys", "list", "--as", pa).count("partner_admin@test.example") == 1
