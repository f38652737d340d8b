"""Imports resolve account refs within the caller's scope: two sellers may use
one ref; an import that cannot tell which account a ref means refuses the
line; creating accounts needs their owner."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rerate.accounts.service import create_account, link_account
from rerate.kit.db import Database
from rerate.models import Account, Node, UsageImport
from rerate.models.enums import AccountKind
from tests.world import World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RECORD_START = datetime(2026, 1, 1, tzinfo=UTC)
RECORD = {
    "kind": "cloud",
    "sku": "vm.small",
    "quantity": "1",
    "unit": "h",
    "currency": "EUR",
    "usage_start": "2026-09-05T08:00:00Z",
    "usage_end": "2026-09-05T09:00:00Z",
}


def _shared_ref(database: Database, world: World) -> dict[str, int]:
    """`acc-1` sold by Partner A1 (owned by Cust A1x) and by Partner B1 (Cust B1x)."""
    ids = {}
    with database.session() as s:
        for seller, customer in (("partner_a1", "cust_a1x"), ("partner_b1", "cust_b1x")):
            account = create_account(
                s,
                AccountKind.SUBSCRIPTION,
                external_ref="acc-1",
                owner_node_id=world.nodes[seller].id,
            )
            owner = s.get(Node, world.nodes[customer].id)
            assert owner is not None
            link_account(s, account, customer=owner, valid_from=RECORD_START)
            ids[seller] = account.id
    return ids


def _post(client: TestClient, world: World, who: str, *records: dict[str, object]):
    return client.post(
        "/api/v1/usage/records", json={"records": list(records)}, headers=world.headers(who)
    )


def test_each_seller_imports_its_own_account_by_a_shared_ref(
    client: TestClient, world: World, database: Database
):
    _shared_ref(database, world)
    r = _post(client, world, "partner_admin", {**RECORD, "record_id": "r1", "account_ref": "acc-1"})
    assert r.status_code in (200, 201), r.text
    assert r.json()["new"] == 1
    assert r.json()["unowned_rows"] == 0


def test_a_ref_two_sellers_use_is_ambiguous_for_the_platform(
    client: TestClient, world: World, database: Database
):
    _shared_ref(database, world)
    good = {**RECORD, "record_id": "r0", "account_ref": "other"}
    with database.session() as s:
        create_account(s, AccountKind.SUBSCRIPTION, external_ref="other")
    r = _post(
        client, world, "platform_admin", good, {**RECORD, "record_id": "r1", "account_ref": "acc-1"}
    )
    assert r.status_code == 422
    body = r.json()
    assert "ambiguous account 'acc-1'" in body["detail"]
    assert body["line"] == 2  # the second record names it
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(UsageImport)) == 0


def test_creating_accounts_needs_an_owner(
    client: TestClient, world: World, database: Database, data_dir: Path
):
    r = client.post(
        "/api/v1/usage/imports",
        files={
            "file": ("sample.csv", (EXAMPLES / "focus" / "sample.csv").read_bytes(), "text/csv")
        },
        data={"format": "focus", "create_accounts": "true"},
        headers=world.headers("platform_admin"),
    )
    assert r.status_code == 422
    assert "owner" in r.json()["detail"]
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Account)) == 0
        assert s.scalar(select(func.count()).select_from(UsageImport)) == 0
