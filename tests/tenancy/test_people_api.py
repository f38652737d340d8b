"""Invitations, role grants and user deactivation, inside the caller's subtree."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from rerate.kit.db import Database
from rerate.models import AuditEntry, Invitation, RoleAssignment, User
from rerate.models.base import utcnow
from tests.world import World

PASSWORD = "a-long-enough-secret"


def _invite(client: TestClient, world: World, who: str, node: str, role: str, email: str):
    return client.post(
        "/api/v1/invitations",
        json={
            "email": email,
            "name": "Invitee",
            "role": role,
            "node_id": world.nodes[node].id,
            "reason": "new staff",
        },
        headers=world.headers(who),
    )


def _user_id(database: Database, email: str) -> int:
    with database.session() as s:
        return s.scalars(select(User.id).where(User.email == email)).one()


def _grant_id(database: Database, user: str, role: str) -> int:
    with database.session() as s:
        return s.scalars(
            select(RoleAssignment.id)
            .join(User, User.id == RoleAssignment.user_id)
            .where(User.email == f"{user}@test.example", RoleAssignment.role == role)
        ).one()


def test_invited_person_sets_a_password_once_and_logs_in_with_the_role(
    client: TestClient, world: World, database: Database
):
    r = _invite(client, world, "partner_admin", "cust_a1x", "customer_user", "Ann@Cust.example")
    assert r.status_code == 201, r.text
    invitation = r.json()
    token = invitation["token"]
    assert invitation["accept_path"] == f"/invitations/{token}"
    assert invitation["email"] == "ann@cust.example"
    with database.session() as s:
        stored = s.scalars(select(Invitation)).one()
        assert stored.token_hash != token
        assert token not in stored.token_hash
        entry = s.scalars(select(AuditEntry).where(AuditEntry.object_type == "invitations")).one()
    assert (entry.actor, entry.reason) == ("partner_admin@test.example", "new staff")
    assert token not in entry.changes

    weak = client.post(f"/api/v1/invitations/{token}/accept", json={"password": "short"})
    assert weak.status_code == 422  # the token is not spent by a refused password
    ok = client.post(f"/api/v1/invitations/{token}/accept", json={"password": PASSWORD})
    assert ok.status_code == 201, ok.text
    assert [g["role"] for g in ok.json()["grants"]] == ["customer_user"]
    again = client.post(f"/api/v1/invitations/{token}/accept", json={"password": PASSWORD})
    assert again.status_code == 404
    login = client.post(
        "/api/v1/auth/login", json={"email": "ann@cust.example", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    me = client.get("/api/v1/me").json()
    assert [(g["node_id"], g["role"]) for g in me["grants"]] == [
        (world.nodes["cust_a1x"].id, "customer_user")
    ]


def test_expired_or_unknown_tokens_are_refused(
    client: TestClient, world: World, database: Database
):
    r = _invite(client, world, "distributor", "partner_a1", "partner_admin", "bob@p.example")
    token = r.json()["token"]
    with database.session() as s:
        s.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
    late = client.post(f"/api/v1/invitations/{token}/accept", json={"password": PASSWORD})
    assert late.status_code == 404
    unknown = client.post(
        "/api/v1/invitations/rri_nothing-here/accept", json={"password": PASSWORD}
    )
    assert unknown.status_code == 404


def test_invitation_rules(client: TestClient, world: World):
    # An existing user is granted a role, not invited.
    r = _invite(
        client, world, "partner_admin", "cust_a1x", "customer_user", "partner_user@test.example"
    )
    assert r.status_code == 409
    # Only platform administrators hand out platform roles.
    r = _invite(client, world, "distributor", "platform", "platform_admin", "x@y.example")
    assert r.status_code == 404  # the platform node is outside a distributor's subtree
    r = _invite(client, world, "platform_admin", "platform", "platform_admin", "x@y.example")
    assert r.status_code == 201
    # The role must fit the node kind.
    r = _invite(client, world, "partner_admin", "partner_a1", "customer_user", "c@y.example")
    assert r.status_code == 422
    assert "role" in r.json()["detail"]
    r = _invite(client, world, "partner_admin", "cust_a1x", "billing_utilities_admin", "b@y.e")
    assert r.status_code == 201
    # Outside the subtree: 404; without manage_users: 403.
    assert (
        _invite(
            client, world, "partner_admin", "cust_b1x", "customer_user", "d@y.example"
        ).status_code
        == 404
    )
    assert (
        _invite(
            client, world, "partner_user", "cust_a1x", "customer_user", "d@y.example"
        ).status_code
        == 403
    )


def test_pending_invitations_are_listed_and_revoked_in_the_subtree(
    client: TestClient, world: World
):
    token = _invite(client, world, "partner_admin", "cust_a1x", "customer_user", "e@y.example")
    invitation_id = token.json()["id"]
    node = world.nodes["cust_a1x"].id
    listed = client.get(
        f"/api/v1/invitations?node_id={node}", headers=world.headers("partner_admin")
    ).json()
    assert [i["email"] for i in listed["items"]] == ["e@y.example"]
    assert "token" not in listed["items"][0]
    foreign = client.post(
        f"/api/v1/invitations/{invitation_id}/revoke", json={}, headers=world.headers("distributor")
    )
    assert foreign.status_code == 200  # the distributor is above the customer
    r = client.post(
        f"/api/v1/invitations/{token.json()['token']}/accept", json={"password": PASSWORD}
    )
    assert r.status_code == 404
    r = _invite(client, world, "platform_admin", "cust_b1x", "customer_user", "f@y.example")
    other = r.json()["id"]
    r = client.post(
        f"/api/v1/invitations/{other}/revoke", json={}, headers=world.headers("partner_admin")
    )
    assert r.status_code == 404


def test_grant_and_revoke_within_the_subtree(client: TestClient, world: World, database: Database):
    admin = world.headers("partner_admin")
    customer_user = world.users["customer_user"].id
    r = client.post(
        f"/api/v1/users/{customer_user}/grants",
        json={"role": "customer_user", "node_id": world.nodes["cust_a1y"].id, "reason": "covers"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    grant = r.json()["id"]
    dup = client.post(
        f"/api/v1/users/{customer_user}/grants",
        json={"role": "customer_user", "node_id": world.nodes["cust_a1y"].id},
        headers=admin,
    )
    assert dup.status_code == 409
    outside = client.post(
        f"/api/v1/users/{customer_user}/grants",
        json={"role": "customer_user", "node_id": world.nodes["cust_b1x"].id},
        headers=admin,
    )
    assert outside.status_code == 404
    wrong_kind = client.post(
        f"/api/v1/users/{customer_user}/grants",
        json={"role": "partner_admin", "node_id": world.nodes["cust_a1y"].id},
        headers=admin,
    )
    assert wrong_kind.status_code == 422
    platform = client.post(
        f"/api/v1/users/{customer_user}/grants",
        json={"role": "platform_admin", "node_id": world.nodes["platform"].id},
        headers=world.headers("distributor"),
    )
    assert platform.status_code == 404
    # A user outside the subtree cannot be reached at all.
    foreign = client.post(
        f"/api/v1/users/{world.users['platform_service'].id}/grants",
        json={"role": "customer_user", "node_id": world.nodes["cust_a1y"].id},
        headers=admin,
    )
    assert foreign.status_code == 404
    r = client.post(f"/api/v1/grants/{grant}/revoke", json={"reason": "gone"}, headers=admin)
    assert r.status_code == 200
    assert client.post(f"/api/v1/grants/{grant}/revoke", json={}, headers=admin).status_code == 404
    # Revoking a platform grant: outside the subtree for everyone but the platform.
    pgrant = _grant_id(database, "platform_service", "platform_service")
    assert client.post(f"/api/v1/grants/{pgrant}/revoke", json={}, headers=admin).status_code == 404
    with database.session() as s:
        entries = s.scalars(
            select(AuditEntry).where(AuditEntry.object_type == "role_assignments")
        ).all()
    assert {(e.action, e.reason) for e in entries} >= {("insert", "covers"), ("delete", "gone")}


def test_nobody_removes_their_own_last_admin_grant_or_deactivates_themselves(
    client: TestClient, world: World, database: Database
):
    own = _grant_id(database, "partner_admin", "partner_admin")
    admin = world.headers("partner_admin")
    r = client.post(f"/api/v1/grants/{own}/revoke", json={}, headers=admin)
    assert r.status_code == 409
    me = world.users["partner_admin"].id
    assert client.post(f"/api/v1/users/{me}/deactivate", json={}, headers=admin).status_code == 409
    # With a second admin grant, the first may go.
    extra = client.post(
        f"/api/v1/users/{me}/grants",
        json={"role": "partner_admin", "node_id": world.nodes["partner_a2"].id},
        headers=world.headers("distributor"),
    )
    assert extra.status_code == 201
    assert client.post(f"/api/v1/grants/{own}/revoke", json={}, headers=admin).status_code == 200


def test_deactivated_user_is_locked_out_at_once_and_can_come_back(client: TestClient, world: World):
    admin = world.headers("partner_admin")
    victim = world.users["customer_user"].id
    # Warm the credential cache first: deactivation must not wait for it.
    assert client.get("/api/v1/me", headers=world.headers("customer_user")).status_code == 200
    r = client.post(f"/api/v1/users/{victim}/deactivate", json={"reason": "left"}, headers=admin)
    assert r.status_code == 200
    assert r.json()["active"] is False
    assert client.get("/api/v1/me", headers=world.headers("customer_user")).status_code == 401
    listed = client.get("/api/v1/users", headers=admin).json()
    assert "customer_user@test.example" not in {u["email"] for u in listed["items"]}
    listed = client.get("/api/v1/users?include_inactive=true", headers=admin).json()
    assert "customer_user@test.example" in {u["email"] for u in listed["items"]}
    r = client.post(f"/api/v1/users/{victim}/activate", json={}, headers=admin)
    assert r.status_code == 200
    assert client.get("/api/v1/me", headers=world.headers("customer_user")).status_code == 200


def test_a_user_holding_roles_elsewhere_is_not_managed_by_a_lower_admin(
    client: TestClient, world: World
):
    # The distributor also holds a customer_user role under partner A1.
    dist_user = world.users["distributor"].id
    r = client.post(
        f"/api/v1/users/{dist_user}/grants",
        json={"role": "customer_user", "node_id": world.nodes["cust_a1x"].id},
        headers=world.headers("platform_admin"),
    )
    assert r.status_code == 201
    r = client.post(
        f"/api/v1/users/{dist_user}/deactivate", json={}, headers=world.headers("partner_admin")
    )
    assert r.status_code == 403
    # Users wholly outside: 404 on every route.
    other = world.users["platform_service"].id
    for method, path in (
        ("GET", f"/api/v1/users/{other}"),
        ("POST", f"/api/v1/users/{other}/deactivate"),
        ("POST", f"/api/v1/users/{other}/activate"),
    ):
        r = client.request(method, path, json={}, headers=world.headers("partner_admin"))
        assert r.status_code == 404, path


def test_users_list_is_scoped_paginated_and_searchable(client: TestClient, world: World):
    admin = world.headers("partner_admin")
    listed = client.get("/api/v1/users", headers=admin).json()
    assert {u["email"] for u in listed["items"]} == {
        "partner_admin@test.example",
        "partner_user@test.example",
        "customer_user@test.example",
    }
    page = client.get("/api/v1/users?limit=1&offset=1", headers=admin).json()
    assert page["total"] == 3
    assert [u["email"] for u in page["items"]] == ["partner_admin@test.example"]
    found = client.get("/api/v1/users?q=CUSTOMER", headers=admin).json()
    assert [u["email"] for u in found["items"]] == ["customer_user@test.example"]
    at_node = client.get(
        f"/api/v1/users?node_id={world.nodes['cust_a1x'].id}", headers=admin
    ).json()
    assert [u["email"] for u in at_node["items"]] == ["customer_user@test.example"]
    r = client.get(f"/api/v1/users?node_id={world.nodes['cust_b1x'].id}", headers=admin)
    assert r.status_code == 404
    everyone = client.get("/api/v1/users", headers=world.headers("platform_admin")).json()
    assert everyone["total"] == 6
