"""Verified credentials are reused for a few seconds, but never past a change
this process commits to who may do what (auth/cache.py)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import RoleAssignment, User
from tests.world import World


def test_a_deactivated_user_is_refused_at_once(
    client: TestClient, world: World, database: Database
) -> None:
    headers = world.headers("partner_user")
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # now cached
    with database.session() as s:
        user = s.get(User, world.users["partner_user"].id)
        assert user is not None
        user.active = False
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_a_removed_role_applies_at_once(
    client: TestClient, world: World, database: Database
) -> None:
    headers = world.headers("partner_admin")
    assert client.get("/api/v1/billing-utilities/customers", headers=headers).status_code == 200
    with database.session() as s:
        mine = select(RoleAssignment).where(
            RoleAssignment.user_id == world.users["partner_admin"].id
        )
        for assignment in s.scalars(mine):
            s.delete(assignment)
    assert client.get("/api/v1/billing-utilities/customers", headers=headers).status_code == 403


def test_a_logged_out_session_is_refused_at_once(client: TestClient, world: World) -> None:
    login = {"email": "partner_admin@test.example", "password": "correct-horse"}
    assert client.post("/api/v1/auth/login", json=login).status_code == 200
    assert client.get("/api/v1/me").status_code == 200  # now cached
    token = client.cookies.get("rerate_session")
    assert client.post("/api/v1/auth/logout").status_code == 200
    client.cookies.set("rerate_session", token)  # a stolen copy of the cookie
    assert client.get("/api/v1/me").status_code == 401
