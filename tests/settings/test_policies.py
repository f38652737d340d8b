"""Policy settings: only the level that owns a policy sets it, a lower node
cannot override it, and every answer says where a value comes from."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from rerate.kit.db import Database
from rerate.models import Invoice, Setting
from tests.world import World

PARTNERS = "InvoicesVisibleToPartners"
DISTRIBUTORS = "InvoicesVisibleToDistributors"
AGGREGATION = "DefaultBillingAggregationMonthly"


@pytest.fixture
def invoice(database: Database, world: World) -> int:
    with database.session() as s:
        inv = Invoice(
            customer_id=world.nodes["cust_a1x"].id,
            period="2026-08",
            type="monthly",
            status="ready",
            series="S-test",
            currency="EUR",
            subtotal=Decimal("10.00"),
            tax_rate=Decimal("0.2"),
            tax=Decimal("2.00"),
            total=Decimal("12.00"),
        )
        s.add(inv)
        s.flush()
        return inv.id


def _put(client: TestClient, world: World, who: str, key: str, value: str, node: str | None):
    body: dict[str, object] = {"value": value}
    if node is not None:
        body["node_id"] = world.nodes[node].id
    return client.put(f"/api/v1/settings/{key}", json=body, headers=world.headers(who))


def _sees(client: TestClient, world: World, who: str, invoice_id: int) -> bool:
    items = client.get("/api/v1/invoices", headers=world.headers(who)).json()["items"]
    return invoice_id in {i["id"] for i in items}


def _settings(client: TestClient, world: World, who: str, node: str) -> dict[str, dict]:
    r = client.get(
        "/api/v1/settings", params={"node_id": world.nodes[node].id}, headers=world.headers(who)
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_a_partner_cannot_hide_its_invoices_from_its_distributor(
    client: TestClient, world: World, invoice: int
):
    assert _sees(client, world, "distributor", invoice)
    for node in ("partner_a1", "cust_a1x"):
        r = _put(client, world, "partner_admin", DISTRIBUTORS, "false", node)
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "Forbidden"
        assert "platform policy" in r.json()["detail"]
    assert _sees(client, world, "distributor", invoice)


def test_a_partner_cannot_turn_its_invoice_visibility_back_on(
    client: TestClient, world: World, invoice: int
):
    assert _put(client, world, "platform_admin", PARTNERS, "false", None).status_code == 200
    assert not _sees(client, world, "partner_admin", invoice)
    for node in ("partner_a1", "cust_a1x"):
        r = _put(client, world, "partner_admin", PARTNERS, "true", node)
        assert r.status_code == 403, r.text
    assert not _sees(client, world, "partner_admin", invoice)
    assert _settings(client, world, "partner_admin", "cust_a1x")[PARTNERS]["value"] == "false"


def test_the_platform_sets_a_policy_for_everyone_below_not_on_a_lower_node(
    client: TestClient, world: World, invoice: int
):
    r = _put(client, world, "platform_admin", PARTNERS, "false", "partner_a1")
    assert r.status_code == 409, r.text
    assert "cannot be overridden on a partner node" in r.json()["detail"]
    assert _sees(client, world, "partner_admin", invoice)
    r = _put(client, world, "platform_admin", PARTNERS, "false", "platform")
    assert r.status_code == 200, r.text
    assert r.json()["source"] == {
        "level": "platform",
        "node_id": world.nodes["platform"].id,
        "node_name": "Platform",
    }
    assert not _sees(client, world, "partner_admin", invoice)
    assert not _sees(client, world, "partner_user", invoice)
    assert _sees(client, world, "distributor", invoice)  # a different policy


def test_overrides_stored_below_the_owning_level_are_ignored(
    client: TestClient, world: World, database: Database, invoice: int
):
    """Rows written before the policy rule (or by hand) do not count."""
    with database.session() as s:
        s.add(Setting(node_id=world.nodes["partner_a1"].id, key=DISTRIBUTORS, value="false"))
        s.add(Setting(node_id=world.nodes["cust_a1x"].id, key=DISTRIBUTORS, value="false"))
    assert _sees(client, world, "distributor", invoice)
    answer = _settings(client, world, "platform_admin", "cust_a1x")[DISTRIBUTORS]
    assert answer["value"] == "true"
    assert answer["source"] == {"level": "default", "node_id": None, "node_name": None}
    assert answer["policy"] is True
    assert answer["owner"] == "platform"
    assert sorted(answer["ignored_overrides"]) == sorted(
        world.nodes[n].id for n in ("partner_a1", "cust_a1x")
    )


def test_each_value_says_where_it_comes_from(client: TestClient, world: World):
    assert _put(client, world, "platform_admin", PARTNERS, "false", None).status_code == 200
    r = _put(client, world, "partner_admin", AGGREGATION, "true", "partner_a1")
    assert r.status_code == 200, r.text  # not a policy: a partner decides it for its subtree
    got = _settings(client, world, "partner_admin", "cust_a1x")
    assert got[PARTNERS]["value"] == "false"
    assert got[PARTNERS]["source"] == {"level": "global", "node_id": None, "node_name": None}
    assert got[AGGREGATION]["value"] == "true"
    assert got[AGGREGATION]["policy"] is False
    assert got[AGGREGATION]["source"] == {
        "level": "partner",
        "node_id": world.nodes["partner_a1"].id,
        "node_name": "Partner A1",
    }
    assert got["UseOverlapUsageSelection"]["source"]["level"] == "default"


def test_the_console_shows_values_and_their_sources(client: TestClient, world: World):
    assert _put(client, world, "platform_admin", PARTNERS, "false", None).status_code == 200
    assert _put(client, world, "partner_admin", AGGREGATION, "true", "partner_a1").status_code == (
        200
    )
    page = client.get(
        "/settings",
        params={"node_id": world.nodes["cust_a1x"].id},
        headers=world.headers("partner_admin"),
    )
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-setting="InvoicesVisibleToPartners"' in html
    assert "Platform policy" in html
    assert "Global (platform)" in html
    assert "Partner A1 (partner)" in html
    assert "Default" in html
    outside = client.get(
        "/settings",
        params={"node_id": world.nodes["cust_b1x"].id},
        headers=world.headers("partner_admin"),
    )
    assert outside.status_code == 404
