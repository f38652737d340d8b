"""Distributors, resellers and customers created, edited, deactivated and found
over the API, inside the caller's subtree only."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import AuditEntry, Node
from tests.world import World

CUSTOMER = {
    "kind": "customer",
    "name": "Globex",
    "legal_name": "Globex Corporation SAS",
    "address": "1 rue de la Paix\n75002 Paris\nFrance",
    "tax_id": "FR12345678901",
    "currency": "eur",
    "time_zone": "Europe/Paris",
    "tax_rate": "0.20",
    "payment_terms_days": 30,
}


def _create(client: TestClient, world: World, who: str, parent: str, **body: object):
    payload = {**CUSTOMER, **body, "parent_id": world.nodes[parent].id}
    return client.post("/api/v1/nodes", json=payload, headers=world.headers(who))


def test_platform_admin_distributor_and_reseller_each_create_their_level(
    client: TestClient, world: World, database: Database
):
    dist = _create(
        client,
        world,
        "platform_admin",
        "platform",
        kind="distributor",
        name="Dist C",
        tax_rate=None,
        reason="new distributor",
    )
    assert dist.status_code == 201, dist.text
    assert dist.json()["kind"] == "distributor"
    reseller = _create(
        client, world, "distributor", "dist_a", kind="partner", name="Reseller A3", tax_rate=None
    )
    assert reseller.status_code == 201, reseller.text
    customer = _create(client, world, "partner_admin", "partner_a1")
    assert customer.status_code == 201, customer.text
    body = customer.json()
    assert body["currency"] == "EUR"  # normalised
    assert body["tax_rate"] == "0.2"  # a string, never a float
    assert body["address"] == "1 rue de la Paix\n75002 Paris\nFrance"
    assert body["active"] is True
    with database.session() as s:
        node = s.get(Node, body["id"])
        assert node is not None
        assert node.path == f"{world.nodes['partner_a1'].path}{node.id}/"
        entries = s.scalars(
            select(AuditEntry).where(
                AuditEntry.object_type == "nodes", AuditEntry.object_id == str(dist.json()["id"])
            )
        ).all()
    assert sorted(e.action for e in entries) == ["insert", "update"]  # path set after the id
    assert {(e.actor, e.reason) for e in entries} == {
        ("platform_admin@test.example", "new distributor")
    }


def test_a_node_sits_only_under_an_allowed_parent_kind(client: TestClient, world: World):
    r = _create(client, world, "platform_admin", "cust_a1x", kind="customer")
    assert r.status_code == 422
    assert "parent_id" in r.json()["detail"]
    r = _create(client, world, "platform_admin", "partner_a1", kind="distributor", tax_rate=None)
    assert r.status_code == 422


def test_creating_outside_the_subtree_is_not_found_and_without_permission_forbidden(
    client: TestClient, world: World
):
    assert _create(client, world, "partner_admin", "partner_a2").status_code == 404
    assert _create(client, world, "distributor", "dist_b", kind="partner").status_code == 404
    # partner_user and customer_user hold no manage_tenancy anywhere.
    assert _create(client, world, "partner_user", "partner_a1").status_code == 403
    assert _create(client, world, "customer_user", "partner_a1").status_code == 403


def test_invoice_fields_are_validated_naming_the_field(client: TestClient, world: World):
    cases = {
        "currency": ("XYZ", "currency"),
        "time_zone": ("Mars/Olympus", "time_zone"),
        "tax_rate": ("1", "tax_rate"),
    }
    for field, (value, named) in cases.items():
        r = _create(client, world, "partner_admin", "partner_a1", **{field: value})
        assert r.status_code == 422, (field, r.text)
        assert named in r.json()["detail"]
    r = _create(client, world, "partner_admin", "partner_a1", tax_rate=0.2)  # a JSON float
    assert r.status_code == 422
    r = _create(client, world, "partner_admin", "partner_a1", tax_rate="-0.01")
    assert r.status_code == 422
    r = _create(client, world, "partner_admin", "partner_a1", payment_terms_days=400)
    assert r.status_code == 422
    r = _create(client, world, "distributor", "dist_a", kind="partner", tax_rate="0.1")
    assert r.status_code == 422
    assert "only customers" in r.json()["detail"]


def test_names_are_unique_among_siblings_only(client: TestClient, world: World):
    assert _create(client, world, "partner_admin", "partner_a1").status_code == 201
    again = _create(client, world, "partner_admin", "partner_a1", name="GLOBEX")
    assert again.status_code == 409
    assert "name" in again.json()["detail"]
    # The same name under another parent is fine.
    assert _create(client, world, "platform_admin", "partner_a2").status_code == 201
    # Renaming onto a sibling's name is refused too.
    cust = world.nodes["cust_a1y"].id
    r = client.patch(
        f"/api/v1/nodes/{cust}", json={"name": "Cust A1x"}, headers=world.headers("partner_admin")
    )
    assert r.status_code == 409


def test_edit_changes_only_the_fields_sent_and_is_audited_with_the_reason(
    client: TestClient, world: World, database: Database
):
    cust = world.nodes["cust_a1x"].id
    r = client.patch(
        f"/api/v1/nodes/{cust}",
        json={"name": "Cust A1x Ltd", "tax_rate": "0.055", "reason": "VAT change"},
        headers=world.headers("partner_admin"),
    )
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["tax_rate"]) == ("Cust A1x Ltd", "0.055")
    r = client.patch(
        f"/api/v1/nodes/{cust}", json={"currency": None}, headers=world.headers("partner_admin")
    )
    assert r.status_code == 200
    assert r.json()["name"] == "Cust A1x Ltd"
    with database.session() as s:
        entry = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.object_type == "nodes", AuditEntry.reason == "VAT change")
            .order_by(AuditEntry.id)
        ).one()
    assert entry.actor == "partner_admin@test.example"
    assert json.loads(entry.changes)["name"] == ["Cust A1x", "Cust A1x Ltd"]


def test_edits_outside_the_subtree_are_not_found(client: TestClient, world: World):
    for target in ("cust_a2x", "cust_b1x", "partner_a2"):
        node = world.nodes[target].id
        r = client.patch(
            f"/api/v1/nodes/{node}", json={"name": "x"}, headers=world.headers("partner_admin")
        )
        assert r.status_code == 404, target
        r = client.post(
            f"/api/v1/nodes/{node}/deactivate", json={}, headers=world.headers("partner_admin")
        )
        assert r.status_code == 404, target
    r = client.patch(
        f"/api/v1/nodes/{world.nodes['cust_a1x'].id}",
        json={"name": "x"},
        headers=world.headers("partner_user"),
    )
    assert r.status_code == 403


def test_deactivated_node_hides_takes_nothing_new_locks_its_users_out_and_comes_back(
    client: TestClient, world: World
):
    admin = world.headers("distributor")
    partner = world.nodes["partner_a1"].id
    # Its users work before.
    assert client.get("/api/v1/nodes", headers=world.headers("customer_user")).status_code == 200
    r = client.post(
        f"/api/v1/nodes/{partner}/deactivate", json={"reason": "left us"}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    # Hidden from lists with its whole subtree, unless asked for.
    names = {n["name"] for n in client.get("/api/v1/nodes", headers=admin).json()["items"]}
    assert "Partner A1" not in names
    assert "Cust A1x" not in names
    assert "Partner A2" in names
    listed = client.get("/api/v1/nodes?include_inactive=true", headers=admin).json()["items"]
    assert {"Partner A1", "Cust A1x"} <= {n["name"] for n in listed}
    # Still readable one by one (history).
    assert client.get(f"/api/v1/nodes/{partner}", headers=admin).status_code == 200
    # No new children, below it either.
    r = _create(client, world, "platform_admin", "partner_a1", name="New")
    assert r.status_code == 409
    r = client.post(
        "/api/v1/invitations",
        json={
            "email": "new@test.example",
            "name": "New",
            "role": "customer_user",
            "node_id": world.nodes["cust_a1x"].id,
        },
        headers=admin,
    )
    assert r.status_code == 409
    # Users whose roles all lie under it cannot authenticate, at once.
    for who in ("partner_admin", "partner_user", "customer_user"):
        assert client.get("/api/v1/me", headers=world.headers(who)).status_code == 401, who
    assert client.get("/api/v1/me", headers=admin).status_code == 200
    # Already deactivated: 409; then reactivated, everything works again.
    again = client.post(f"/api/v1/nodes/{partner}/deactivate", json={}, headers=admin)
    assert again.status_code == 409
    r = client.post(f"/api/v1/nodes/{partner}/activate", json={}, headers=admin)
    assert r.status_code == 200
    assert r.json()["active"] is True
    assert client.get("/api/v1/me", headers=world.headers("customer_user")).status_code == 200
    assert _create(client, world, "partner_admin", "partner_a1", name="New").status_code == 201


def test_nobody_deactivates_the_node_holding_their_own_role(client: TestClient, world: World):
    r = client.post(
        f"/api/v1/nodes/{world.nodes['partner_a1'].id}/deactivate",
        json={},
        headers=world.headers("partner_admin"),
    )
    assert r.status_code == 409
    r = client.post(
        f"/api/v1/nodes/{world.nodes['platform'].id}/deactivate",
        json={},
        headers=world.headers("platform_admin"),
    )
    assert r.status_code == 409


def test_lists_are_paginated_and_searchable(client: TestClient, world: World):
    admin = world.headers("platform_admin")
    r = client.patch(
        f"/api/v1/nodes/{world.nodes['cust_b1x'].id}",
        json={"legal_name": "Beta 100% Holdings", "tax_id": "DE999"},
        headers=admin,
    )
    assert r.status_code == 200
    page = client.get("/api/v1/nodes?kind=customer&limit=2&offset=0", headers=admin).json()
    assert page["total"] == 4
    assert len(page["items"]) == 2
    rest = client.get("/api/v1/nodes?kind=customer&limit=2&offset=2", headers=admin).json()
    names = [n["name"] for n in page["items"] + rest["items"]]
    assert names == ["Cust A1x", "Cust A1y", "Cust A2x", "Cust B1x"]
    for q in ("de999", "100%", "b1X"):
        found = client.get("/api/v1/nodes", params={"q": q}, headers=admin).json()
        assert [n["name"] for n in found["items"]] == ["Cust B1x"], q
    # `%` and `_` are searched for, not wildcards.
    assert client.get("/api/v1/nodes?q=_", headers=admin).json()["total"] == 0
    # The search never reaches outside the subtree.
    other = client.get("/api/v1/nodes?q=de999", headers=world.headers("partner_admin")).json()
    assert other["total"] == 0
    children = client.get(
        f"/api/v1/nodes?parent_id={world.nodes['partner_a1'].id}", headers=admin
    ).json()
    assert [n["name"] for n in children["items"]] == ["Cust A1x", "Cust A1y"]


def test_a_create_repeated_with_its_idempotency_key_makes_one_node(
    client: TestClient, world: World, database: Database
):
    headers = {**world.headers("partner_admin"), "Idempotency-Key": "create-globex-1"}
    payload = {**CUSTOMER, "parent_id": world.nodes["partner_a1"].id}
    first = client.post("/api/v1/nodes", json=payload, headers=headers)
    second = client.post("/api/v1/nodes", json=payload, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    with database.session() as s:
        assert len(s.scalars(select(Node).where(Node.name == "Globex")).all()) == 1


def test_creating_users_directly_follows_the_grant_rules(client: TestClient, world: World):
    r = client.post(
        "/api/v1/users",
        json={
            "email": "direct@test.example",
            "name": "Direct",
            "role": "partner_admin",
            "node_id": world.nodes["cust_a1x"].id,
        },
        headers=world.headers("partner_admin"),
    )
    assert r.status_code == 422
