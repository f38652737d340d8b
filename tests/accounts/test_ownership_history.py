"""An account's ownership history shows only owners the caller may see."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from rerate.accounts.service import create_account, move_account
from rerate.kit.db import Database
from rerate.models import Account, Node
from rerate.models.enums import AccountKind
from tests.world import World

START = datetime(2026, 1, 1, tzinfo=UTC)
MOVE = datetime(2026, 6, 1, tzinfo=UTC)


def _moved_across_tenants(database: Database, world: World) -> int:
    """Owned by Dist B's customer, then moved to Partner A1's."""
    with database.session() as s:
        account = create_account(s, AccountKind.SUBSCRIPTION, external_ref="sub-moved")
        for name, since in (("cust_b1x", START), ("cust_a1x", MOVE)):
            node = s.get(Node, world.nodes[name].id)
            assert node is not None
            move_account(s, s.get(Account, account.id) or account, customer=node, valid_from=since)
        return account.id


def test_owners_outside_the_callers_scope_are_not_named(
    client: TestClient, world: World, database: Database
):
    account_id = _moved_across_tenants(database, world)
    a1x, b1x = world.nodes["cust_a1x"].id, world.nodes["cust_b1x"].id
    for url in (
        f"/api/v1/accounts/{account_id}",
        f"/api/v1/accounts?customer_id={a1x}",
        "/api/v1/accounts",
    ):
        r = client.get(url, headers=world.headers("partner_admin"))
        assert r.status_code == 200, r.text
        body = r.json()
        account = body if "ownerships" in body else body["items"][0]
        assert [o["customer_id"] for o in account["ownerships"]] == [None, a1x], url
        assert account["ownerships"][0]["customer"] == "another customer"
        assert account["ownerships"][0]["valid_to"] is not None  # the dates stay: they bill
    platform = client.get(f"/api/v1/accounts/{account_id}", headers=world.headers("platform_admin"))
    assert [o["customer_id"] for o in platform.json()["ownerships"]] == [b1x, a1x]
    assert platform.json()["ownerships"][0]["customer"] == "Cust B1x"
