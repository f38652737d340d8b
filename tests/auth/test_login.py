from __future__ import annotations

from fastapi.testclient import TestClient

from tests.world import World


def test_login_sets_cookie_and_me_answers(client: TestClient, world: World):
    r = client.post(
        "/api/v1/auth/login",
        json={"email": "partner_admin@test.example", "password": "correct-horse"},
    )
    assert r.status_code == 200, r.text
    assert "rerate_session" in r.cookies
    me = client.get("/api/v1/me").json()
    assert me["email"] == "partner_admin@test.example"
    assert {"billing_utilities", "recalculate", "refresh_invoices", "sync_cache"} <= set(
        me["grants"][0]["permissions"]
    )
    assert client.post("/api/v1/auth/logout").status_code == 200
    assert client.get("/api/v1/me").status_code == 401


def test_wrong_password_is_401(client: TestClient, world: World):
    r = client.post(
        "/api/v1/auth/login", json={"email": "partner_admin@test.example", "password": "nope-nope"}
    )
    assert r.status_code == 401
    assert r.json()["error"] == "Unauthenticated"


def test_api_key_is_stored_hashed_and_works(client: TestClient, world: World, database):
    from sqlalchemy import select

    from rerate.models import ApiKey

    with database.session() as s:
        hashes = list(s.scalars(select(ApiKey.key_hash)))
    assert world.keys["distributor"] not in hashes
    assert client.get("/api/v1/me", headers=world.headers("distributor")).status_code == 200
    bad = {"Authorization": "Bearer rr_not-a-key"}
    assert client.get("/api/v1/me", headers=bad).status_code == 401


def test_create_api_key_returns_secret_once(client: TestClient, world: World):
    r = client.post("/api/v1/api-keys", json={"name": "ci"}, headers=world.headers("partner_user"))
    assert r.status_code == 201
    key = r.json()["key"]
    assert key.startswith("rr_")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).json()["email"] == (
        "partner_user@test.example"
    )


def test_partner_admin_cannot_grant_platform_roles(client: TestClient, world: World):
    body = {
        "email": "x@test.example",
        "name": "x",
        "role": "platform_admin",
        "node_id": world.nodes["partner_a1"].id,
        "password": "long-enough",
    }
    # partner admins do not manage users at all
    assert (
        client.post("/api/v1/users", json=body, headers=world.headers("partner_admin")).status_code
        == 403
    )
    body["role"] = "customer_user"
    body["node_id"] = world.nodes["cust_a1x"].id
    r = client.post("/api/v1/users", json=body, headers=world.headers("platform_admin"))
    assert r.status_code == 201, r.text
