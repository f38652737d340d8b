"""The console's commissions page: scope, figures, charts and the rule forms."""

from __future__ import annotations

from fastapi.testclient import TestClient

from rerate.kit.db import Database
from tests.commissions.docs import build_example
from tests.world import World

RANGE = "from=2026-09&to=2026-10"


def test_partner_sees_its_own_figures_and_no_one_elses(
    client: TestClient, world: World, database: Database
):
    build_example(database, world)
    h = world.headers("partner_admin")
    page = client.get(f"/commissions?{RANGE}", headers=h)
    assert page.status_code == 200, page.text
    text = page.text
    assert "Partner A1" in text
    assert "Partner A2" not in text
    assert "Dist A" not in text
    assert "24.85 EUR" in text  # the summary's commission, Sep + Oct
    assert "386.83 EUR" in text
    assert "20.34 EUR" in text  # October's statement (the range's last month)
    assert 'data-chart="by-month-EUR"' in text
    assert 'data-chart="by-service-EUR"' in text
    assert '<svg class="cchart-bar"' in text
    assert f"/api/v1/commissions/statements/{world.nodes['partner_a1'].id}/2026-10/pdf" in text
    assert 'action="/commissions/rules"' not in text  # the platform sets rules
    for other in ("partner_a2", "dist_a", "partner_b1", "cust_a1x"):
        r = client.get(f"/commissions?node_id={world.nodes[other].id}&{RANGE}", headers=h)
        assert r.status_code == 404, other
        assert world.nodes[other].name not in r.text
    september = client.get(f"/commissions?{RANGE}&period=2026-09", headers=h).text
    assert "4.51 EUR" in september


def test_distributor_sees_its_partners(client: TestClient, world: World, database: Database):
    build_example(database, world)
    h = world.headers("distributor")
    own = client.get(f"/commissions?{RANGE}", headers=h).text
    for name in ("Dist A", "Partner A1", "Partner A2"):
        assert name in own
    assert "7.94 EUR" in own  # Dist A's October
    a1 = client.get(f"/commissions?node_id={world.nodes['partner_a1'].id}&{RANGE}", headers=h)
    assert "20.34 EUR" in a1.text
    r = client.get(f"/commissions?node_id={world.nodes['partner_b1'].id}", headers=h)
    assert r.status_code == 404


def test_roles_without_commissions_get_no_menu_and_a_403(client: TestClient, world: World):
    for who in ("customer_user", "partner_user"):
        h = world.headers(who)
        assert 'href="/commissions"' not in client.get("/invoices", headers=h).text
        assert client.get("/commissions", headers=h).status_code == 403
    assert (
        'href="/commissions"' in client.get("/invoices", headers=world.headers("distributor")).text
    )


def test_platform_creates_and_ends_rules_from_the_page(
    client: TestClient, world: World, database: Database
):
    h = world.headers("platform_admin")
    a2 = world.nodes["partner_a2"].id
    page = client.get(f"/commissions?node_id={a2}", headers=h).text
    assert 'action="/commissions/rules"' in page
    form = {
        "node_id": str(a2),
        "rate_percent": "4.5",
        "service": "Compute",
        "valid_from": "2026-01-01",
        "valid_to": "",
        "reason": "signed",
    }
    done = client.post("/commissions/rules", data=form, headers=h, follow_redirects=False)
    assert done.status_code == 303, done.text
    shown = client.get(done.headers["location"], headers=h).text
    assert "created" in shown
    assert "4.5 %" in shown
    clash = client.post("/commissions/rules", data=form, headers=h, follow_redirects=False)
    assert clash.status_code == 409
    assert "overlaps rule #" in clash.text
    bad = client.post("/commissions/rules", data={**form, "rate_percent": "150"}, headers=h)
    assert bad.status_code == 422
    assert "rate" in bad.text
    rule_id = done.headers["location"].split("created=")[1].split("#")[0]
    ended = client.post(
        f"/commissions/rules/{rule_id}/end",
        data={"valid_to": "2026-06-01"},
        headers=h,
        follow_redirects=False,
    )
    assert ended.status_code == 303
    assert "2026-06-01" in client.get(ended.headers["location"], headers=h).text
    # A distributor has no rule form and cannot post one.
    d = world.headers("distributor")
    assert client.post("/commissions/rules", data=form, headers=d).status_code == 403


def test_odd_query_values_fall_back_to_the_defaults(client: TestClient, world: World):
    h = world.headers("partner_admin")
    for query in (
        "from=0000-01&to=0000-02",
        "from=2026-13",
        "from=2026-10&to=2026-01",  # reversed: an error note, the current month shown
        "from=2000-01&to=2026-10",  # more than 36 months
        "node_id=abc&period=9999-12",
        "node_id=99999999999",
    ):
        r = client.get(f"/commissions?{query}", headers=h)
        assert r.status_code == 200, (query, r.text)
    r = client.post(
        "/commissions/rules/99999999999/end",
        data={"valid_to": "2026-01-01"},
        headers=world.headers("platform_admin"),
    )
    assert r.status_code == 404
