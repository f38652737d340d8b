"""A move (or a link from the past) answers with the already billed
(customer, period) pairs of both owners it affects, months read in each
contract's billing time zone; usage imported for an account with no owner is
reported, and billed once the account is linked."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import BillingCacheRow
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import drain, submit
from tests.world import World


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


def _bill(client: TestClient, database: Database, data_dir: Path, world: World, *pairs) -> None:
    for customer, period in pairs:
        r = submit(client, world, "recalculations", customer, [period])
        assert r.status_code == 202, r.text
        assert drain(database, data_dir) >= 1  # with the cascades to the other owner


def _move(client: TestClient, world: World, verb: str, account_id: int, customer: str, at: str):
    return client.post(
        f"/api/v1/accounts/{account_id}/{verb}",
        json={"customer_id": world.nodes[customer].id, "valid_from": at, "reason": "peer sold"},
        headers=world.headers("partner_admin"),
    )


def test_move_names_the_billed_periods_of_both_owners(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    _bill(
        client,
        database,
        data_dir,
        w,
        ("cust_a1x", "2026-08"),
        ("cust_a1x", "2026-09"),
        ("cust_a1y", "2026-08"),
        ("cust_a1y", "2026-09"),
    )
    # 22:30 UTC on 31 August is already September in Paris (both contracts'
    # zone): August is untouched for both customers.
    r = _move(client, w, "move", billing.accounts["acc-x"], "cust_a1y", "2026-08-31T22:30:00Z")
    assert r.status_code == 200, r.text
    affected = [(p["customer"], p["period"], p["owner"]) for p in r.json()["affected"]]
    assert affected == [("Cust A1x", "2026-09", "previous"), ("Cust A1y", "2026-09", "new")]


def test_unowned_usage_is_reported_then_billed_after_linking(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    _bill(client, database, data_dir, w, ("cust_a1x", "2026-09"))
    admin = w.headers("platform_admin")
    created = client.post(
        "/api/v1/accounts",
        json={
            "kind": "management_account",
            "external_ref": "late-1",
            "owner_node_id": w.nodes["partner_a1"].id,
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    account_id = created.json()["id"]
    record = {
        "kind": "cloud",
        "account_ref": "late-1",
        "service": "Compute",
        "sku": "vm.small",
        "quantity": "10",
        "unit": "h",
        "currency": "EUR",
    }
    records = [
        {
            **record,
            "record_id": f"late-{d}",
            "usage_start": f"2026-09-{d:02d}T08:00:00Z",
            "usage_end": f"2026-09-{d:02d}T09:00:00Z",
        }
        for d in (5, 6, 7)
    ]
    r = client.post("/api/v1/usage/records", json={"records": records}, headers=admin)
    assert r.status_code in (200, 201), r.text
    report = r.json()
    assert report["unowned_rows"] == 3
    assert report["unowned_accounts"] == ["late-1"]
    assert "3 rows will not be billed until its account has an owner (late-1)" in report["notice"]
    linked = _move(client, w, "link", account_id, "cust_a1x", "2026-09-01T00:00:00Z")
    assert linked.status_code == 200, linked.text
    assert [(p["customer"], p["period"]) for p in linked.json()["affected"]] == [
        ("Cust A1x", "2026-09")
    ]
    _bill(client, database, data_dir, w, ("cust_a1x", "2026-09"))
    with database.session() as s:
        row = s.scalar(
            select(BillingCacheRow).where(
                BillingCacheRow.account_id == account_id, BillingCacheRow.period == "2026-09"
            )
        )
    assert row is not None
    # 3 x 10 h of vm.small at 0.05, less A1x's 10 % Compute discount.
    assert row.quantity == Decimal("30")
    assert row.net_amount == Decimal("1.35")
