"""API keys listed and revoked: your own, and with manage_users those of users in your subtree."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import ApiKey, AuditEntry
from tests.world import World


def _key_id(database: Database, world: World, who: str) -> int:
    with database.session() as s:
        return s.scalars(select(ApiKey.id).where(ApiKey.user_id == world.users[who].id)).one()


def test_own_keys_are_listed_without_their_secret(client: TestClient, world: World):
    made = client.post(
        "/api/v1/api-keys", json={"name": "ci"}, headers=world.headers("partner_user")
    )
    assert made.status_code == 201
    listed = client.get("/api/v1/api-keys", headers=world.headers("partner_user")).json()
    assert listed["total"] == 2
    newest = listed["items"][0]
    assert (newest["name"], newest["owner_email"]) == ("ci", "partner_user@test.example")
    assert newest["prefix"] == made.json()["prefix"]
    assert "key" not in newest
    assert made.json()["key"] not in str(listed)
    # The key used for this request carries its last use.
    assert listed["items"][1]["last_used_at"] is not None


def test_revoked_key_stops_at_once(client: TestClient, world: World, database: Database):
    headers = world.headers("customer_user")
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # cached now
    key = _key_id(database, world, "customer_user")
    made = client.post("/api/v1/api-keys", json={"name": "spare"}, headers=headers).json()
    spare = {"Authorization": f"Bearer {made['key']}"}
    r = client.post(f"/api/v1/api-keys/{key}/revoke", json={"reason": "leaked"}, headers=spare)
    assert r.status_code == 200
    assert r.json()["revoked_at"] is not None
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    again = client.post(f"/api/v1/api-keys/{key}/revoke", json={}, headers=spare)
    assert again.status_code == 409
    with database.session() as s:
        entry = s.scalars(
            select(AuditEntry).where(
                AuditEntry.object_type == "api_keys", AuditEntry.reason == "leaked"
            )
        ).one()
    assert entry.actor == "customer_user@test.example"


def test_managers_see_and_revoke_keys_of_users_in_their_subtree_only(
    client: TestClient, world: World, database: Database
):
    admin = world.headers("partner_admin")
    victim = world.users["customer_user"].id
    listed = client.get(f"/api/v1/api-keys?user_id={victim}", headers=admin).json()
    assert [k["owner_email"] for k in listed["items"]] == ["customer_user@test.example"]
    key = _key_id(database, world, "customer_user")
    assert client.post(f"/api/v1/api-keys/{key}/revoke", json={}, headers=admin).status_code == 200
    # Outside the subtree: 404 for the user and for the key.
    outside = world.users["platform_service"].id
    r = client.get(f"/api/v1/api-keys?user_id={outside}", headers=admin)
    assert r.status_code == 404
    other_key = _key_id(database, world, "platform_service")
    r = client.post(f"/api/v1/api-keys/{other_key}/revoke", json={}, headers=admin)
    assert r.status_code == 404
    # Without manage_users, another user's keys are out of reach.
    r = client.get(f"/api/v1/api-keys?user_id={victim}", headers=world.headers("partner_user"))
    assert r.status_code == 404
    r = client.post(
        f"/api/v1/api-keys/{_key_id(database, world, 'partner_admin')}/revoke",
        json={},
        headers=world.headers("partner_user"),
    )
    assert r.status_code == 404
