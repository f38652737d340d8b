"""The console's contract pages: rules edited as a new version from the
contract page, activation refused in plain words, custom line items added and
deleted on the customer's page."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from rerate.kit.db import Database
from tests.billing.fixtures import build_billing
from tests.world import World


def test_rules_edited_and_items_managed_from_the_console(
    client: TestClient, database: Database, data_dir: Path, world: World
) -> None:
    billing = build_billing(database, data_dir, world)
    admin = world.headers("partner_admin")
    contract = billing.contract_ids["cust_a1x"]
    listed = client.get("/contracts?q=Cust A1x", headers=admin)
    assert listed.status_code == 200
    assert f'href="/contracts/{contract}"' in listed.text
    assert f'href="/contracts/{billing.contract_ids["cust_a1y"]}"' not in listed.text

    saved = client.post(
        f"/contracts/{contract}/rules",
        data={"rules": "kind,percent\nmarkup,7\n", "reason": "console edit"},
        headers=admin,
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = client.get(f"/contracts/{contract}", headers=admin).text
    assert "Version 2 (in force)" in page
    assert "console edit" in page
    assert "markup" in page
    bad = client.post(
        f"/contracts/{contract}/rules",
        data={"rules": "kind,percent\ndiscount,150\n", "reason": "x"},
        headers=admin,
    )
    assert bad.status_code == 422
    assert "discount above 100%" in bad.text
    # A partner user sees the contract but no form to change it.
    viewer = client.get(f"/contracts/{contract}", headers=world.headers("partner_user")).text
    assert 'action="/contracts/' not in viewer

    customer = world.nodes["cust_a1x"].id
    added = client.post(
        f"/customers/{customer}/custom-items",
        data={"description": "Setup fee", "amount": "120.00", "one_off_date": "2026-08-03"},
        headers=admin,
        follow_redirects=False,
    )
    assert added.status_code == 303
    page = client.get(f"/customers/{customer}/custom-items", headers=admin).text
    assert "Setup fee" in page
    assert "once, 2026-08-03" in page
    item_id = page.split('action="/custom-items/')[1].split("/")[0]
    gone = client.post(f"/custom-items/{item_id}/delete", headers=admin, follow_redirects=False)
    assert gone.status_code == 303
    assert "Setup fee" not in client.get(f"/customers/{customer}/custom-items", headers=admin).text
    other = client.get(f"/customers/{world.nodes['cust_b1x'].id}/custom-items", headers=admin)
    assert other.status_code == 404


def _book(database: Database, world: World, name: str, kind: str, currency: str, owner: str) -> int:
    from rerate.models import PriceBook

    with database.session() as s:
        book = PriceBook(
            name=name, kind=kind, currency=currency, owner_node_id=world.nodes[owner].id
        )
        s.add(book)
        s.commit()
        return book.id


def _count_contracts(database: Database) -> int:
    from sqlalchemy import func, select

    from rerate.models import Contract

    with database.session() as s:
        return int(s.scalar(select(func.count()).select_from(Contract)) or 0)


def test_a_contract_is_created_from_the_form_and_its_terms_edited(
    client: TestClient, database: Database, data_dir: Path, world: World
) -> None:
    billing = build_billing(database, data_dir, world)
    admin = world.headers("partner_admin")
    deck = _book(database, world, "Voice EUR", "voip", "EUR", "partner_a1")
    usd = _book(database, world, "Cloud USD", "cloud", "USD", "partner_a1")
    hidden = _book(database, world, "Cloud B1", "cloud", "EUR", "partner_b1")
    customer, partner = world.nodes["cust_a1y"].id, world.nodes["partner_a1"].id

    page = client.get("/contracts", headers=admin).text
    cloud_select = page.split('name="cloud_price_book_id"')[1].split("</select>")[0]
    voip_select = page.split('name="voip_price_book_id"')[1].split("</select>")[0]
    customers = page.split('name="customer_id"')[1].split("</select>")[0]
    # Only what the admin may see, and of the right kind.
    assert f'value="{billing.price_book_id}"' in cloud_select
    assert f'value="{deck}"' not in cloud_select
    assert f'value="{hidden}"' not in cloud_select
    assert f'value="{deck}"' in voip_select
    assert f'value="{usd}"' not in voip_select
    assert "Cust A1y" in customers
    assert "Cust B1x" not in customers

    form = {
        "customer_id": str(customer),
        "seller_id": str(partner),
        "name": "2027 terms",
        "currency": "EUR",
        "billing_tz": "Europe/Paris",
        "coverage_start": "2027-01",
        "coverage_end": "",
        "rounding_mode": "ROUND_HALF_EVEN",
        "payment_terms_days": "45",
        "cloud_price_book_id": str(usd),
        "voip_price_book_id": str(deck),
        "timetable_id": "",
        "reason": "renewal",
    }
    before = _count_contracts(database)
    wrong_currency = client.post("/contracts", data=form, headers=admin)
    assert wrong_currency.status_code == 422
    assert "Cloud price book: Cloud USD prices in USD, the contract bills in EUR" in (
        wrong_currency.text
    )
    assert 'value="2027 terms"' in wrong_currency.text  # what was typed is kept
    wrong_kind = client.post(
        "/contracts", data={**form, "cloud_price_book_id": str(deck)}, headers=admin
    )
    assert wrong_kind.status_code == 422
    assert "Voice EUR is a voip book, not a cloud one" in wrong_kind.text
    unseen = client.post(
        "/contracts", data={**form, "cloud_price_book_id": str(hidden)}, headers=admin
    )
    assert unseen.status_code == 422
    assert f"no price book {hidden} that you can see" in unseen.text
    mid_month = client.post(
        "/contracts", data={**form, "coverage_start": "2027-01-15", "cloud_price_book_id": ""},
        headers=admin,
    )  # fmt: skip
    assert mid_month.status_code == 422
    assert "Coverage start: coverage is in whole months" in mid_month.text
    assert _count_contracts(database) == before

    made = client.post(
        "/contracts",
        data={**form, "cloud_price_book_id": str(billing.price_book_id)},
        headers=admin,
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    contract = int(made.headers["location"].rsplit("/", 1)[1])
    shown = client.get(f"/api/v1/contracts/{contract}", headers=admin).json()
    assert (shown["coverage_start"], shown["rounding_mode"], shown["voip_price_book_id"]) == (
        "2027-01-01",
        "ROUND_HALF_EVEN",
        deck,
    )
    page = client.get(f"/contracts/{contract}", headers=admin).text
    assert "Voice EUR" in page
    assert "Cloud EUR" in page
    assert "Partner A1" in page

    terms = {
        "name": "2027 terms, amended",
        "coverage_end": "2028-01",
        "payment_terms_days": "60",
        "cloud_price_book_id": str(billing.price_book_id),
        "voip_price_book_id": "",
        "timetable_id": "",
        "reason": "amendment 1",
    }
    bad_end = client.post(
        f"/contracts/{contract}/terms", data={**terms, "coverage_end": "2026-06"}, headers=admin
    )
    assert bad_end.status_code == 422
    assert "Coverage end: must be after coverage_start" in bad_end.text
    assert 'value="amendment 1"' in bad_end.text
    no_reason = client.post(
        f"/contracts/{contract}/terms", data={**terms, "reason": ""}, headers=admin
    )
    assert no_reason.status_code == 422
    assert client.get(f"/api/v1/contracts/{contract}", headers=admin).json()["name"] == "2027 terms"

    saved = client.post(
        f"/contracts/{contract}/terms", data=terms, headers=admin, follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    shown = client.get(f"/api/v1/contracts/{contract}", headers=admin).json()
    assert (
        shown["name"],
        shown["coverage_end"],
        shown["payment_terms_days"],
        shown["voip_price_book_id"],
    ) == ("2027 terms, amended", "2028-01-01", 60, None)
    audit = client.get(
        f"/api/v1/audit?object_type=contracts&object_id={contract}", headers=admin
    ).json()
    update = next(e for e in audit["items"] if e["action"] == "update")
    assert update["reason"] == "amendment 1"
    assert update["actor"] == "partner_admin@test.example"

    viewer = client.get(f"/contracts/{contract}", headers=world.headers("partner_user")).text
    assert "/terms" not in viewer
    refused = client.post(
        f"/contracts/{contract}/terms", data=terms, headers=world.headers("partner_user")
    )
    assert refused.status_code == 403
