"""Accounts through the API: created under a seller (refs unique per seller),
listed and searched within the caller's scope, linked and moved without ever
overlapping, every change audited with its reason."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import AuditEntry
from tests.world import World


def create(client: TestClient, world: World, who: str, ref: str, **extra: object):
    body = {"kind": "subscription", "external_ref": ref, **extra}
    return client.post("/api/v1/accounts", json=body, headers=world.headers(who))


def change(client: TestClient, world: World, who: str, verb: str, account_id: int, **body: object):
    payload = {"reason": "contract signed", **body}
    return client.post(
        f"/api/v1/accounts/{account_id}/{verb}", json=payload, headers=world.headers(who)
    )


def test_refs_are_unique_per_seller_not_globally(client: TestClient, world: World):
    mine = create(client, world, "partner_admin", "sub-1", name="Main subscription")
    assert mine.status_code == 201, mine.text
    assert mine.json()["owner_node_id"] == world.nodes["partner_a1"].id  # the one node it manages
    again = create(client, world, "partner_admin", "sub-1")
    assert again.status_code == 409
    assert "external_ref" in again.json()["detail"]
    # Another seller may use the same id for its own account: nobody learns or blocks it.
    theirs = create(
        client, world, "platform_admin", "sub-1", owner_node_id=world.nodes["partner_b1"].id
    )
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["id"] != mine.json()["id"]
    # A partner cannot create under a seller outside its subtree, nor under a customer.
    outside = create(
        client, world, "partner_admin", "sub-2", owner_node_id=world.nodes["partner_b1"].id
    )
    assert outside.status_code == 404
    customer = create(
        client, world, "partner_admin", "sub-2", owner_node_id=world.nodes["cust_a1x"].id
    )
    assert customer.status_code == 422
    assert "owner_node_id" in customer.json()["detail"]
    assert create(client, world, "partner_user", "sub-3").status_code == 403


def test_list_is_scoped_searchable_and_paginated(client: TestClient, world: World):
    for i in range(5):
        assert (
            create(client, world, "partner_admin", f"peer-{i}", name=f"Trunk {i}").status_code
            == 201
        )
    create(client, world, "platform_admin", "peer-x", owner_node_id=world.nodes["dist_b"].id)
    headers = world.headers("partner_admin")
    page = client.get("/api/v1/accounts?limit=2&offset=1", headers=headers).json()
    assert page["total"] == 5  # Dist B's account is not in Partner A1's list
    assert [a["external_ref"] for a in page["items"]] == ["peer-1", "peer-2"]
    found = client.get("/api/v1/accounts?q=TRUNK 3", headers=headers).json()
    assert [a["external_ref"] for a in found["items"]] == ["peer-3"]
    every = client.get("/api/v1/accounts", headers=world.headers("platform_admin")).json()
    assert every["total"] == 6


def test_link_move_and_history(client: TestClient, world: World, database: Database):
    account = create(client, world, "partner_admin", "sub-9").json()
    a1x, a1y = world.nodes["cust_a1x"].id, world.nodes["cust_a1y"].id
    linked = change(
        client,
        world,
        "partner_admin",
        "link",
        account["id"],
        customer_id=a1x,
        valid_from="2026-01-01T00:00:00Z",
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["affected"] == []  # nothing billed yet
    # Linking again would overlap the open interval: refused in plain words.
    twice = change(
        client,
        world,
        "partner_admin",
        "link",
        account["id"],
        customer_id=a1y,
        valid_from="2026-03-01T00:00:00Z",
    )
    assert twice.status_code == 409
    assert "Cust A1x" in twice.json()["detail"]
    assert "never overlap" in twice.json()["detail"]
    early = change(
        client,
        world,
        "partner_admin",
        "move",
        account["id"],
        customer_id=a1y,
        valid_from="2025-12-01T00:00:00Z",
    )
    assert early.status_code == 422
    assert "valid_from" in early.json()["detail"]
    moved = change(
        client,
        world,
        "partner_admin",
        "move",
        account["id"],
        customer_id=a1y,
        valid_from="2026-06-01T00:00:00+02:00",
    )
    assert moved.status_code == 200, moved.text
    history = moved.json()["account"]["ownerships"]
    assert [(o["customer_id"], o["valid_from"], o["valid_to"]) for o in history] == [
        (a1x, "2026-01-01T00:00:00Z", "2026-05-31T22:00:00Z"),
        (a1y, "2026-05-31T22:00:00Z", None),
    ]
    # Moving outside the caller's subtree is not possible: the customer is not found.
    away = change(
        client,
        world,
        "partner_admin",
        "move",
        account["id"],
        customer_id=world.nodes["cust_b1x"].id,
        valid_from="2026-07-01T00:00:00Z",
    )
    assert away.status_code == 404
    # A customer that owned it reads its history too.
    other = client.get(f"/api/v1/accounts/{account['id']}", headers=world.headers("customer_user"))
    assert other.status_code == 200  # Cust A1x owned it: its history is readable
    with database.session() as s:
        entries = list(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.object_type == "account_ownerships")
                .order_by(AuditEntry.id)
            )
        )
    assert entries
    assert all(e.reason == "contract signed" for e in entries)
    assert all(e.actor == "partner_admin@test.example" for e in entries)
    closed = [e for e in entries if e.action == "update"]
    assert json.loads(closed[0].changes)["valid_to"][0] is None
    assert all(
        e.node_path and e.node_path.startswith(world.nodes["partner_a1"].path) for e in entries
    )


def test_move_needs_a_current_owner_and_a_reason(client: TestClient, world: World):
    account = create(client, world, "partner_admin", "sub-7").json()
    a1x = world.nodes["cust_a1x"].id
    r = change(
        client,
        world,
        "partner_admin",
        "move",
        account["id"],
        customer_id=a1x,
        valid_from="2026-01-01T00:00:00Z",
    )
    assert r.status_code == 409
    assert "link it" in r.json()["detail"]
    r = client.post(
        f"/api/v1/accounts/{account['id']}/link",
        json={"customer_id": a1x, "valid_from": "2026-01-01T00:00:00Z"},
        headers=world.headers("partner_admin"),
    )
    assert r.status_code == 422
    assert "reason" in r.text
