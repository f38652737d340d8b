"""The console's Accounts, account, Audit log and node settings pages."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from rerate.kit.db import Database
from tests.accounts.test_billed_periods import _bill
from tests.billing.fixtures import Billing, build_billing
from tests.world import World

ADMIN = "partner_admin"


def test_accounts_page_creates_searches_and_pages(client: TestClient, world: World):
    admin = world.headers(ADMIN)
    page = client.get("/accounts", headers=admin)
    assert page.status_code == 200
    assert 'href="/accounts"' in page.text
    assert "Create an account" in page.text
    for i in range(23):
        r = client.post(
            "/accounts",
            data={"kind": "voip_peer", "external_ref": f"trunk-{i:02d}", "name": f"Trunk {i}"},
            headers=admin,
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
    opened = client.get(r.headers["location"], headers=admin)
    assert "Account trunk-22 created." in opened.text
    assert "No owner yet" in opened.text
    first = client.get("/accounts", headers=admin)
    assert "23 accounts" in first.text
    assert "Page 1 of 2" in first.text
    second = client.get("/accounts?page=2", headers=admin)
    assert len(re.findall(r"data-account-id=", second.text)) == 3
    found = client.get("/accounts?q=trunk-07", headers=admin)
    assert re.findall(r'class="mono"><a href="/accounts/\d+">([^<]+)<', found.text) == ["trunk-07"]
    twice = client.post(
        "/accounts", data={"kind": "voip_peer", "external_ref": "trunk-07"}, headers=admin
    )
    assert twice.status_code == 409
    assert "exists already under this seller" in twice.text
    viewer = client.get("/accounts", headers=world.headers("partner_user"))
    assert "Create an account" not in viewer.text
    refused = client.post(
        "/accounts",
        data={"kind": "voip_peer", "external_ref": "x"},
        headers=world.headers("partner_user"),
    )
    assert refused.status_code == 403


def test_account_page_moves_and_lists_the_affected_periods(
    client: TestClient, world: World, database: Database, data_dir: Path
):
    billing: Billing = build_billing(database, data_dir, world)
    _bill(client, database, data_dir, world, ("cust_a1x", "2026-09"))
    admin = world.headers(ADMIN)
    url = f"/accounts/{billing.accounts['acc-x']}"
    page = client.get(url, headers=admin)
    assert "Move to another customer" in page.text
    bad = client.post(
        f"{url}/move",
        data={"customer_id": world.nodes["cust_a1y"].id, "valid_from": "soon", "reason": "sold"},
        headers=admin,
    )
    assert bad.status_code == 422
    assert "2026-09-01T00:00:00Z" in bad.text
    moved = client.post(
        f"{url}/move",
        data={
            "customer_id": world.nodes["cust_a1y"].id,
            "valid_from": "2026-09-15T00:00:00Z",
            "reason": "sold",
        },
        headers=admin,
    )
    assert moved.status_code == 200, moved.text
    assert "Billed periods affected" in moved.text
    assert f'data-affected="{world.nodes["cust_a1x"].id}:2026-09"' in moved.text
    assert "Cust A1y" in moved.text  # the history's new interval
    trail = client.get("/audit?object_type=account_ownerships&actor=partner_admin", headers=admin)
    assert trail.status_code == 200
    assert "sold" in trail.text
    assert "valid_to: None →" in trail.text
    assert client.get("/accounts/999999", headers=admin).status_code == 404


def test_audit_page_is_scoped_and_filtered(client: TestClient, world: World):
    platform = client.get("/audit?object_type=users", headers=world.headers("platform_admin"))
    assert platform.status_code == 200
    assert "No entries" not in platform.text
    partner = client.get("/audit?object_type=users", headers=world.headers(ADMIN))
    assert "No entries for this selection." in partner.text
    nodes = client.get("/audit?object_type=nodes", headers=world.headers(ADMIN))
    objects = set(re.findall(r'data-object="nodes:(\d+)"', nodes.text))
    assert objects == {str(world.nodes[n].id) for n in ("partner_a1", "cust_a1x", "cust_a1y")}


def test_settings_page_sets_and_clears_an_override(client: TestClient, world: World):
    admin = world.headers(ADMIN)
    node = world.nodes["cust_a1x"].id
    page = client.get(f"/settings?node_id={node}", headers=admin)
    assert "Inherited from Default" in page.text
    assert "Decided above this node" in page.text  # the invoice visibility policies
    no_reason = client.post(
        f"/settings/{node}/UseOverlapUsageSelection", data={"value": "true"}, headers=admin
    )
    assert no_reason.status_code == 422
    done = client.post(
        f"/settings/{node}/UseOverlapUsageSelection",
        data={"value": "true", "reason": "overlaps", "action": "set"},
        headers=admin,
        follow_redirects=False,
    )
    assert done.status_code == 303
    after = client.get(f"/settings?node_id={node}", headers=admin)
    row = re.search(r'data-setting="UseOverlapUsageSelection".*?</tr>', after.text, re.S)
    assert row is not None
    assert "Set here" in row.group(0)
    cleared = client.post(
        f"/settings/{node}/UseOverlapUsageSelection",
        data={"reason": "undo", "action": "clear"},
        headers=admin,
        follow_redirects=False,
    )
    assert cleared.status_code == 303
    policy = client.post(
        f"/settings/{world.nodes['partner_a1'].id}/InvoicesVisibleToPartners",
        data={"value": "false", "reason": "hide"},
        headers=admin,
    )
    assert policy.status_code == 403
