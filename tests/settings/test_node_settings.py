"""The settings of one node: each value in force, set here or inherited from
which node (or the global value, or the default); overrides set and cleared
by those who manage settings there, with a reason in the audit log."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import AuditEntry
from tests.world import World

OVERLAP = "UseOverlapUsageSelection"
PARTNERS = "InvoicesVisibleToPartners"


def _settings(client: TestClient, world: World, who: str, node: str) -> dict[str, dict]:
    r = client.get(f"/api/v1/nodes/{world.nodes[node].id}/settings", headers=world.headers(who))
    assert r.status_code == 200, r.text
    return {i["key"]: i for i in r.json()["items"]}


def _put(client: TestClient, world: World, who: str, node: str, key: str, value: str):
    return client.put(
        f"/api/v1/nodes/{world.nodes[node].id}/settings/{key}",
        json={"value": value, "reason": "customer asked"},
        headers=world.headers(who),
    )


def test_inherited_values_name_their_source(client: TestClient, world: World, database: Database):
    before = _settings(client, world, "partner_admin", "cust_a1x")
    assert set(before) >= {OVERLAP, PARTNERS, "DefaultBillingAggregationMonthly"}
    assert before[OVERLAP]["value"] == "false"
    assert before[OVERLAP]["source"]["level"] == "default"
    assert before[OVERLAP]["set_here"] is False
    assert before[PARTNERS]["policy"] is True
    assert before[PARTNERS]["can_override_here"] is False
    r = _put(client, world, "partner_admin", "partner_a1", OVERLAP, "true")
    assert r.status_code == 200, r.text
    assert r.json()["set_here"] is True
    inherited = _settings(client, world, "customer_user", "cust_a1x")[OVERLAP]
    assert inherited["value"] == "true"
    assert inherited["set_here"] is False
    assert inherited["source"]["node_id"] == world.nodes["partner_a1"].id
    assert inherited["source"]["label"] == "Partner A1 (partner)"
    # The customer's own override wins; clearing it inherits the partner's again.
    assert _put(client, world, "partner_admin", "cust_a1x", OVERLAP, "false").json()["set_here"]
    cleared = client.delete(
        f"/api/v1/nodes/{world.nodes['cust_a1x'].id}/settings/{OVERLAP}?reason=back+to+default",
        headers=world.headers("partner_admin"),
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["value"] == "true"
    assert cleared.json()["source"]["node_id"] == world.nodes["partner_a1"].id
    again = client.delete(
        f"/api/v1/nodes/{world.nodes['cust_a1x'].id}/settings/{OVERLAP}?reason=twice",
        headers=world.headers("partner_admin"),
    )
    assert again.status_code == 409
    assert "nothing to clear" in again.json()["detail"]
    with database.session() as s:
        reasons = [
            (e.action, e.reason)
            for e in s.scalars(
                select(AuditEntry)
                .where(AuditEntry.object_type == "settings")
                .order_by(AuditEntry.id)
            )
        ]
    assert reasons == [
        ("insert", "customer asked"),
        ("insert", "customer asked"),
        ("delete", "back to default"),
    ]


def test_who_may_change_what(client: TestClient, world: World):
    assert _put(client, world, "partner_user", "cust_a1x", OVERLAP, "true").status_code == 403
    assert _put(client, world, "partner_admin", "cust_b1x", OVERLAP, "true").status_code == 404
    policy = _put(client, world, "partner_admin", "partner_a1", PARTNERS, "false")
    assert policy.status_code == 403
    assert "platform policy" in policy.json()["detail"]
    lower = _put(client, world, "platform_admin", "partner_a1", PARTNERS, "false")
    assert lower.status_code == 409
    bad = _put(client, world, "partner_admin", "cust_a1x", OVERLAP, "maybe")
    assert bad.status_code == 422
    no_reason = client.put(
        f"/api/v1/nodes/{world.nodes['cust_a1x'].id}/settings/{OVERLAP}",
        json={"value": "true"},
        headers=world.headers("partner_admin"),
    )
    assert no_reason.status_code == 422
    outside = client.get(
        f"/api/v1/nodes/{world.nodes['cust_b1x'].id}/settings",
        headers=world.headers("partner_user"),
    )
    assert outside.status_code == 404
