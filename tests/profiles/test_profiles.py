"""Consumption profiles: versions effective from an instant, assignments that
never overlap for one account (the service answers 409, the database refuses
what slips past it)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import DBAPIError

from rerate.billing.plan_builder import build_plan
from rerate.kit.db import Database
from rerate.models import AccountProfile
from rerate.models.tenancy import Node
from tests.billing.fixtures import build_billing
from tests.world import World

PARTNER = "partner_admin"


def _profile(client: TestClient, world: World) -> dict:
    r = client.post(
        "/api/v1/profiles",
        json={
            "owner_node_id": world.nodes["partner_a1"].id,
            "name": "Included minutes",
            "unit": "minutes",
            "included_quantity": "100",
            "effective_from": "2026-01-01T00:00:00Z",
            "reason": "new offer",
        },
        headers=world.headers(PARTNER),
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_a_period_uses_the_profile_version_in_force_at_its_start(
    client: TestClient, database: Database, data_dir: Path, world: World
) -> None:
    billing = build_billing(database, data_dir, world)
    profile = _profile(client, world)
    admin = world.headers(PARTNER)
    v2 = client.post(
        f"/api/v1/profiles/{profile['id']}/versions",
        json={
            "effective_from": "2026-08-15T00:00:00Z",
            "included_quantity": "250",
            "tier_mode": "graduated",
            "tiers": [
                {"from_quantity": "0", "rate": "0.05"},
                {"from_quantity": "1000", "rate": "0.04"},
            ],
        },
        headers=admin,
    )
    assert v2.status_code == 201, v2.text
    assert v2.json()["tiers"] == [
        {"from_quantity": "0", "rate": "0.05"},
        {"from_quantity": "1000", "rate": "0.04"},
    ]
    r = client.post(
        f"/api/v1/profiles/{profile['id']}/assignments",
        json={"account_id": billing.accounts["acc-x"], "valid_from": "2026-01-01T00:00:00Z"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    with database.session() as s:
        customer = s.get(Node, world.nodes["cust_a1x"].id)
        assert customer is not None
        aug, _ = build_plan(
            s, customer, datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)
        )
        sep, _ = build_plan(
            s, customer, datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
        )
    assert [p.included_quantity for p in aug.profiles] == [Decimal(100)]
    assert [p.included_quantity for p in sep.profiles] == [Decimal(250)]
    assert [t.from_qty for t in sep.profiles[0].tiers] == [Decimal(0), Decimal(1000)]
    shown = client.get(f"/api/v1/profiles/{profile['id']}", headers=admin).json()
    assert [v["version"] for v in shown["versions"]] == [1, 2]


def test_assignments_of_one_account_never_overlap(
    client: TestClient, database: Database, data_dir: Path, world: World
) -> None:
    billing = build_billing(database, data_dir, world)
    account = billing.accounts["acc-x"]
    one, two = _profile(client, world), _profile(client, world)
    admin = world.headers(PARTNER)
    first = client.post(
        f"/api/v1/profiles/{one['id']}/assignments",
        json={"account_id": account, "valid_from": "2026-01-01T00:00:00Z"},
        headers=admin,
    ).json()
    clash = client.post(
        f"/api/v1/profiles/{two['id']}/assignments",
        json={"account_id": account, "valid_from": "2026-06-01T00:00:00Z"},
        headers=admin,
    )
    assert clash.status_code == 409
    assert f"assignment {first['id']}" in clash.json()["detail"]
    ended = client.post(
        f"/api/v1/profile-assignments/{first['id']}/end",
        json={"valid_to": "2026-06-01T00:00:00Z", "reason": "switching offer"},
        headers=admin,
    )
    assert ended.status_code == 200, ended.text
    follow = client.post(
        f"/api/v1/profiles/{two['id']}/assignments",
        json={"account_id": account, "valid_from": "2026-06-01T00:00:00Z"},
        headers=admin,
    )
    assert follow.status_code == 201, follow.text
    listed = client.get(f"/api/v1/profiles/{one['id']}/assignments", headers=admin).json()
    assert listed["items"][0]["valid_to"].startswith("2026-06-01")
    # Past the service, the database refuses an overlapping row itself.
    with database.session() as s:
        s.add(
            AccountProfile(
                account_id=account,
                profile_id=one["id"],
                valid_from=datetime(2026, 3, 1, tzinfo=UTC),
                valid_to=datetime(2026, 7, 1, tzinfo=UTC),
            )
        )
        with pytest.raises(DBAPIError, match="account_profiles_overlap"):
            s.flush()
        s.rollback()
