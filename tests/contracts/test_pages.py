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
