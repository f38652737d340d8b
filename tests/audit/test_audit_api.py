"""The audit log API: filtered by object, actor and time, newest first,
paginated, and scoped: a caller reads the trail of its own subtree only
(platform roles read everything, entries about no node included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from rerate.kit.audit import Actor, audit_context
from rerate.kit.db import Database
from rerate.models import Node
from rerate.models.enums import NodeKind
from rerate.tenancy.service import create_node
from tests.world import World


def _audit(client: TestClient, world: World, who: str, **params: object) -> dict:
    r = client.get("/api/v1/audit", params=params, headers=world.headers(who))
    assert r.status_code == 200, r.text
    return r.json()


def _new_customer(database: Database, world: World, parent: str, name: str) -> int:
    with audit_context(Actor(None, f"setup:{name}"), "onboarding"), database.session() as s:
        owner = s.get(Node, world.nodes[parent].id)
        return create_node(s, NodeKind.CUSTOMER, name=name, parent=owner).id


def test_callers_read_only_their_subtrees_trail(
    client: TestClient, world: World, database: Database
):
    mine = _new_customer(database, world, "partner_a1", "Mine")
    theirs = _new_customer(database, world, "partner_b1", "Theirs")
    seen = _audit(client, world, "partner_user", object_type="nodes")
    ids = {e["object_id"] for e in seen["items"]}
    assert str(mine) in ids
    assert str(theirs) not in ids
    assert str(world.nodes["dist_a"].id) not in ids  # above the partner: not its trail
    # Users and API keys belong to no node: only the platform reads those.
    assert _audit(client, world, "partner_admin", object_type="users")["total"] == 0
    assert _audit(client, world, "platform_admin", object_type="users")["total"] == len(world.users)
    every = {
        e["object_id"]
        for e in _audit(client, world, "platform_admin", object_type="nodes")["items"]
    }
    assert {str(mine), str(theirs)} <= every
    customer = _audit(client, world, "customer_user")
    assert customer["total"] > 0
    assert all(
        e["object_type"] != "nodes" or e["object_id"] == str(world.nodes["cust_a1x"].id)
        for e in customer["items"]
    )


def test_filters_and_pages_newest_first(client: TestClient, world: World, database: Database):
    for i in range(3):
        _new_customer(database, world, "partner_a1", f"C{i}")
    by_actor = _audit(client, world, "partner_admin", actor="SETUP:C1")
    assert by_actor["total"] >= 1
    assert {e["actor"] for e in by_actor["items"]} == {"setup:C1"}
    assert by_actor["items"][0]["reason"] == "onboarding"
    page = _audit(client, world, "platform_admin", object_type="nodes", limit=2, offset=0)
    assert len(page["items"]) == 2
    assert page["total"] > 2
    ids = [e["id"] for e in page["items"]]
    assert ids == sorted(ids, reverse=True)
    second = _audit(client, world, "platform_admin", object_type="nodes", limit=2, offset=2)
    assert not set(ids) & {e["id"] for e in second["items"]}
    one = page["items"][0]
    exact = _audit(client, world, "platform_admin", object_type="nodes", object_id=one["object_id"])
    assert {e["object_id"] for e in exact["items"]} == {one["object_id"]}
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert _audit(client, world, "platform_admin", **{"from": future})["total"] == 0
    assert _audit(client, world, "platform_admin", to=future)["total"] > 0
    bad = client.get(
        "/api/v1/audit",
        params={"from": "2026-01-01T00:00:00"},
        headers=world.headers("partner_admin"),
    )
    assert bad.status_code == 422  # an instant needs its offset
