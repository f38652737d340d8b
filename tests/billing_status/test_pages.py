"""The console: the Billing status tab, the menus following the invoice
visibility settings, and the settings page where platform roles change them."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from rerate.kit.db import Database
from tests.billing_status.status_world import MONTH, build_status_world
from tests.world import World


@pytest.fixture
def status_world(database: Database, world: World):
    with database.session() as session:
        return build_status_world(session, world)


def _hide(client: TestClient, world: World, key: str) -> None:
    r = client.put(
        f"/api/v1/settings/{key}",
        json={"value": "false", "reason": "test"},
        headers=world.headers("platform_admin"),
    )
    assert r.status_code == 200, r.text


def test_the_status_page_as_a_partner(client: TestClient, world, status_world):
    page = client.get(
        "/billing/status", params={"month": MONTH}, headers=world.headers("partner_admin")
    )
    assert page.status_code == 200, page.text
    html = page.text
    assert 'href="/billing/status"' in html  # in the Billing menu
    assert "Cust A1x" in html
    assert "Cust A1y" in html
    assert "Cust A2x" not in html
    row = re.search(
        r'data-tenant="\d+">\s*<h2[^>]*>Cust A1x</h2>.*?data-window="last_quarter"'
        r' data-currency="EUR">(.*?)</tr>',
        html,
        re.S,
    )
    assert row is not None
    cells = dict(re.findall(r'data-bucket="(\w+)">([^<]+)<', row.group(1)))
    assert {k: v.strip() for k, v in cells.items()} == {
        "overdue": "200.00",
        "issued": "0.00",
        "uninvoiced": "50.00",
        "paid": "163.00",
    }
    assert "sub-1" in html
    assert "sub-2" in html


def test_one_tenant_and_a_bad_month(client: TestClient, world, status_world):
    a1y = world.nodes["cust_a1y"].id
    page = client.get(
        "/billing/status",
        params={"month": "2026-99", "customer_id": a1y},
        headers=world.headers("partner_user"),
    )
    assert page.status_code == 200  # an unreadable month shows the current one
    assert f'<option value="{a1y}" selected>' in page.text
    outside = client.get(
        "/billing/status",
        params={"customer_id": world.nodes["cust_b1x"].id},
        headers=world.headers("partner_user"),
    )
    assert outside.status_code == 404


def test_menus_and_pages_follow_visibility(client: TestClient, world, status_world):
    h = world.headers("partner_admin")
    home = client.get("/settings", headers=h).text
    assert 'href="/invoices"' in home
    assert 'href="/billing/status"' in home
    _hide(client, world, "InvoicesVisibleToPartners")
    home = client.get("/settings", headers=h).text
    assert 'href="/invoices"' not in home
    assert 'href="/billing/status"' not in home
    for path in ("/invoices", "/billing/status", f"/invoices/{status_world.invoices['issued']}"):
        page = client.get(path, headers=h)
        assert page.status_code == 403, path
        assert "not visible to your role" in page.text
    # The customer page's balance widget goes too.
    node = client.get(f"/tenancy/{world.nodes['cust_a1x'].id}", headers=h).text
    assert "data-outstanding" not in node
    assert "data-billing-status" not in node
    # The distributor's setting is another one; platform roles always see invoices.
    dist = client.get("/settings", headers=world.headers("distributor")).text
    assert 'href="/invoices"' in dist
    node = client.get(
        f"/tenancy/{world.nodes['cust_a1x'].id}", headers=world.headers("distributor")
    ).text
    assert 'data-outstanding="EUR"' in node
    assert f'href="/billing/status?customer_id={world.nodes["cust_a1x"].id}"' in node
    admin = client.get("/billing/status", headers=world.headers("platform_admin"))
    assert admin.status_code == 200
    assert 'href="/invoices"' in admin.text


def test_platform_roles_change_the_visibility_in_the_console(
    client: TestClient, world, status_world
):
    admin = world.headers("platform_admin")
    page = client.get("/settings", headers=admin).text
    assert 'action="/settings/global/InvoicesVisibleToPartners"' in page
    done = client.post(
        "/settings/global/InvoicesVisibleToPartners",
        data={"value": "false", "reason": "not yet"},
        headers=admin,
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    got = client.get("/api/v1/settings", headers=admin).json()["InvoicesVisibleToPartners"]
    assert got["value"] == "false"
    assert got["source"]["level"] == "global"
    assert client.get("/billing/status", headers=world.headers("partner_admin")).status_code == 403
    cleared = client.post(
        "/settings/global/InvoicesVisibleToPartners",
        data={"action": "clear", "reason": "now"},
        headers=admin,
        follow_redirects=False,
    )
    assert cleared.status_code == 303
    assert client.get("/billing/status", headers=world.headers("partner_admin")).status_code == 200
    # Not a platform role: refused, nothing changed.
    partner = world.headers("partner_admin")
    assert 'action="/settings/global/' not in client.get("/settings", headers=partner).text
    refused = client.post(
        "/settings/global/InvoicesVisibleToPartners",
        data={"value": "false", "reason": "hide"},
        headers=partner,
    )
    assert refused.status_code == 403
    assert client.get("/billing/status", headers=partner).status_code == 200
    # A missing reason is refused with the field named.
    bad = client.post(
        "/settings/global/InvoicesVisibleToTenants", data={"value": "false"}, headers=admin
    )
    assert bad.status_code == 422
    assert "reason" in bad.text


def test_the_busy_page_of_a_partner_does_not_fail_on_the_menu(
    database: Database, data_dir, world: World
):
    """The menu asks the database whether invoices are visible; on the 503 page
    (no free connection) it must not fail a second time (a 500)."""
    from rerate.app import create_app
    from rerate.kit.settings import Settings

    settings = Settings(
        data_dir=data_dir,
        database_url=database.url,
        env="test",
        db_pool_size=1,
        db_max_overflow=0,
        db_pool_timeout_s=0.2,
    )
    app = create_app(settings)
    h = world.headers("partner_admin")
    with TestClient(app) as client:
        assert client.get("/billing/status", headers=h).status_code == 200  # credential cached
        with app.state.db.engine.connect():
            page = client.get("/billing/status", headers=h)
    assert page.status_code == 503
    assert "try again" in page.text
