"""Contracts: created with references checked field by field, rules written
as new versions (the previous stays readable, the audit says who and why),
one active contract per customer (409 naming it; the database index too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from rerate.kit.db import Database
from rerate.models import AuditEntry, Contract, PriceBook
from tests.billing.fixtures import Billing, build_billing
from tests.world import World

PARTNER = "partner_admin"


def _body(world: World, billing: Billing, **extra: object) -> dict:
    return {
        "customer_id": world.nodes["cust_a1x"].id,
        "seller_id": world.nodes["partner_a1"].id,
        "name": "2027 agreement",
        "currency": "EUR",
        "billing_tz": "Europe/Paris",
        "coverage_start": "2027-01-01",
        "coverage_end": "2028-01-01",
        "rounding_mode": "ROUND_HALF_EVEN",
        "payment_terms_days": 45,
        "cloud_price_book_id": billing.price_book_id,
        "rules": [{"kind": "discount", "service": "Compute", "percent": "10"}],
        "reason": "renewal",
        **extra,
    }


def test_a_contract_is_created_its_rules_versioned_and_activated_once(
    client: TestClient, database: Database, data_dir: Path, world: World
) -> None:
    billing = build_billing(database, data_dir, world)
    admin = world.headers(PARTNER)
    made = client.post("/api/v1/contracts", json=_body(world, billing), headers=admin)
    assert made.status_code == 201, made.text
    contract = made.json()
    assert (contract["active"], contract["rules_version"], contract["payment_terms_days"]) == (
        False,
        1,
        45,
    )
    assert contract["rules"][0]["percent"] == "10"

    changed = client.put(
        f"/api/v1/contracts/{contract['id']}/rules",
        json={
            "rules": [
                {"kind": "markup", "percent": "5"},
                {"kind": "support_fee", "percent": "3.5"},
                {"kind": "minimum_commitment", "amount": "1000.00"},
                {"kind": "unit_price_override", "sku": "vm.small", "unit_price": "0.04"},
                {"kind": "credit", "amount": "50"},
            ],
            "reason": "price review",
        },
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["rules_version"] == 2
    versions = client.get(f"/api/v1/contracts/{contract['id']}/rules", headers=admin).json()
    assert [(v["version"], v["current"], len(v["rules"])) for v in versions["items"]] == [
        (2, True, 5),
        (1, False, 1),
    ]
    assert versions["items"][0]["reason"] == "price review"
    assert versions["items"][0]["created_by"] == "partner_admin@test.example"

    # The fixture's contract is active: 409 naming it.
    existing = billing.contract_ids["cust_a1x"]
    refused = client.post(f"/api/v1/contracts/{contract['id']}/activate", headers=admin)
    assert refused.status_code == 409
    assert f"active contract: {existing}" in refused.json()["detail"]
    off = client.post(
        f"/api/v1/contracts/{existing}/deactivate", json={"reason": "renewal"}, headers=admin
    )
    assert off.status_code == 200
    assert off.json()["active"] is False
    on = client.post(f"/api/v1/contracts/{contract['id']}/activate", headers=admin)
    assert on.status_code == 200
    assert on.json()["active"] is True
    listed = client.get(
        f"/api/v1/contracts?customer_id={world.nodes['cust_a1x'].id}&active=true", headers=admin
    ).json()
    assert [c["id"] for c in listed["items"]] == [contract["id"]]

    with database.session() as s:
        audit = s.scalars(
            select(AuditEntry).where(AuditEntry.object_type == "contract_rules")
        ).all()
    mine = [a for a in audit if a.actor == "partner_admin@test.example"]
    assert {a.reason for a in mine} == {"renewal", "price review"}


def test_the_database_keeps_one_active_contract_per_customer(
    database: Database, data_dir: Path, world: World
) -> None:
    billing = build_billing(database, data_dir, world)
    with database.session() as s:
        other = s.get(Contract, billing.contract_ids["cust_a1x"])
        assert other is not None
        s.add(
            Contract(
                customer_id=other.customer_id,
                seller_id=other.seller_id,
                currency="EUR",
                coverage_start=other.coverage_start,
                active=True,
            )
        )
        with pytest.raises(IntegrityError):
            s.flush()
        s.rollback()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"coverage_start": "2027-01-15"}, "coverage_start"),
        ({"coverage_end": "2026-12-01"}, "coverage_end"),
        ({"currency": "XXX"}, "currency"),
        ({"billing_tz": "Nowhere/Else"}, "billing_tz"),
        ({"rounding_mode": "ROUND_NEAREST"}, "rounding_mode"),
        ({"seller_id": "cust_a1y"}, "seller_id"),
        ({"cloud_price_book_id": "other_book"}, "cloud_price_book_id"),
        ({"voip_price_book_id": "book"}, "voip_price_book_id"),
        ({"cloud_price_book_id": "usd_book"}, "cloud_price_book_id"),
        ({"timetable_id": 999}, "timetable_id"),
        ({"rules": [{"kind": "discount", "percent": "120"}]}, "rules[1]"),
        ({"rules": [{"kind": "unit_price_override", "unit_price": "1"}]}, "rules[1]"),
        ({"rules": [{"kind": "refund"}]}, "rules[1].kind"),
    ],
)
def test_a_contract_is_refused_whole_naming_the_field(
    client: TestClient, database: Database, data_dir: Path, world: World, change, field
) -> None:
    billing = build_billing(database, data_dir, world)
    with database.session() as s:
        books = {
            "book": billing.price_book_id,
            "other_book": _book(s, world, "partner_b1", "cloud", "EUR"),
            "usd_book": _book(s, world, "partner_a1", "cloud", "USD"),
        }
    refs = {"cust_a1y": world.nodes["cust_a1y"].id, **books}
    resolved = {k: refs.get(v, v) if isinstance(v, str) else v for k, v in change.items()}
    body = _body(world, billing, **resolved)
    before = client.get("/api/v1/contracts", headers=world.headers(PARTNER)).json()["total"]
    r = client.post("/api/v1/contracts", json=body, headers=world.headers(PARTNER))
    assert r.status_code == 422, r.text
    assert field in str(r.json()["detail"])
    after = client.get("/api/v1/contracts", headers=world.headers(PARTNER)).json()["total"]
    assert after == before


def _book(s, world: World, owner: str, kind: str, currency: str) -> int:  # type: ignore[no-untyped-def]
    book = PriceBook(
        name=f"{kind} {currency}", kind=kind, currency=currency, owner_node_id=world.nodes[owner].id
    )
    s.add(book)
    s.flush()
    return book.id


def test_contracts_outside_the_subtree_are_not_found_and_need_manage_catalog(
    client: TestClient, database: Database, data_dir: Path, world: World
) -> None:
    billing = build_billing(database, data_dir, world)
    contract = billing.contract_ids["cust_a1x"]
    other = client.get(f"/api/v1/contracts/{contract}", headers=world.headers("customer_user"))
    assert other.status_code == 200  # the customer's own user may read it
    r = client.put(
        f"/api/v1/contracts/{contract}/rules",
        json={"rules": [], "reason": "x"},
        headers=world.headers("partner_user"),
    )
    assert r.status_code == 403
    body = _body(world, billing, customer_id=world.nodes["cust_b1x"].id)
    assert (
        client.post("/api/v1/contracts", json=body, headers=world.headers(PARTNER)).status_code
        == 404
    )
    no_reason = client.put(
        f"/api/v1/contracts/{contract}/rules", json={"rules": []}, headers=world.headers(PARTNER)
    )
    assert no_reason.status_code == 422
