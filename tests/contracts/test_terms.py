"""A contract's terms edited after creation over the API: only the terms
given change, each reference checked as at creation (422 naming the field),
a reason required and recorded, and a billed period the change alters is
marked stale."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import AuditEntry, PriceBook
from tests.billing.fixtures import build_billing
from tests.world import World


def test_terms_change_field_by_field_checked_and_audited(
    client: TestClient, database: Database, data_dir: Path, world: World
) -> None:
    billing = build_billing(database, data_dir, world)
    admin = world.headers("partner_admin")
    contract = billing.contract_ids["cust_a1x"]
    with database.session() as s:
        usd = PriceBook(
            name="Cloud USD", kind="cloud", currency="USD",
            owner_node_id=world.nodes["partner_a1"].id,
        )  # fmt: skip
        s.add(usd)
        s.commit()
        usd_id = usd.id
    url = f"/api/v1/contracts/{contract}"
    before = client.get(url, headers=admin).json()

    no_reason = client.patch(url, json={"payment_terms_days": 10}, headers=admin)
    assert no_reason.status_code == 422
    wrong = client.patch(
        url, json={"cloud_price_book_id": usd_id, "reason": "switch"}, headers=admin
    )
    assert wrong.status_code == 422
    assert "cloud_price_book_id: Cloud USD prices in USD" in wrong.text
    missing_tt = client.patch(url, json={"timetable_id": 999999, "reason": "x"}, headers=admin)
    assert missing_tt.status_code == 422
    assert "timetable_id: no timetable 999999 that you can see" in missing_tt.text
    assert client.get(url, headers=admin).json() == before

    changed = client.patch(
        url, json={"payment_terms_days": 10, "coverage_end": None, "reason": "net 10"},
        headers=admin,
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["changed"] == ["payment_terms_days"]  # coverage_end was already open
    assert body["payment_terms_days"] == 10
    assert body["name"] == before["name"]  # not given: unchanged
    with database.session() as s:
        entry = s.scalars(
            select(AuditEntry).where(
                AuditEntry.object_type == "contracts",
                AuditEntry.object_id == str(contract),
                AuditEntry.action == "update",
            )
        ).one()
        assert (entry.reason, entry.actor) == ("net 10", "partner_admin@test.example")

    outside = client.patch(
        f"/api/v1/contracts/{billing.contract_ids['cust_a1x']}",
        json={"name": "x", "reason": "x"},
        headers=world.headers("partner_user"),
    )
    assert outside.status_code == 403
    assert (
        client.patch(
            url, json={"name": "x", "reason": "x"}, headers=world.headers("customer_user")
        ).status_code
        == 403
    )
