"""`GET /api/v1/billing/status`: amounts as strings at the minor unit, scope
per role, the customer filter checked, bad input named, visibility enforced."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from rerate.kit.db import Database
from tests.billing_status.status_world import MONTH, build_status_world
from tests.world import World

URL = "/api/v1/billing/status"


@pytest.fixture
def status_world(database: Database, world: World):
    with database.session() as session:
        return build_status_world(session, world)


def test_a_partner_reads_its_tenants_and_subscriptions(client: TestClient, world, status_world):
    r = client.get(URL, params={"month": MONTH}, headers=world.headers("partner_admin"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["month"] == MONTH
    assert [(w["key"], w["first"], w["last"]) for w in body["windows"]] == [
        ("last_month", "2026-04", "2026-04"),
        ("last_quarter", "2026-01", "2026-03"),
        ("month", "2026-05", "2026-05"),
        ("quarter_to_date", "2026-04", "2026-05"),
    ]
    assert [t["name"] for t in body["tenants"]] == ["Cust A1x", "Cust A1y"]
    a1x = body["tenants"][0]
    assert a1x["rows"][0]["currency"] == "EUR"
    # The real clock: Feb (due 2026-03-15) is overdue whenever this runs.
    assert a1x["rows"][0]["windows"]["last_quarter"] == {
        "overdue": "200.00",
        "issued": "0.00",
        "uninvoiced": "50.00",
        "paid": "163.00",
    }
    subs = {s["external_ref"]: s for s in a1x["subscriptions"]}
    # April's invoice was due 2026-05-30: overdue by the real clock too.
    assert subs["sub-2"]["rows"][0]["windows"]["quarter_to_date"]["overdue"] == "80.00"
    # 29.996 billed: rounded at the boundary, never a 500 (schemathesis found one).
    assert subs["sub-1"]["rows"][0]["windows"]["month"]["uninvoiced"] == "30.00"
    assert [row["currency"] for row in body["totals"]] == ["EUR", "USD"]
    assert body["totals"][1]["windows"]["quarter_to_date"]["uninvoiced"] == "15.00"


def test_the_customer_filter_is_scope_checked(client: TestClient, world, status_world):
    n = world.nodes
    own = client.get(
        URL,
        params={"month": MONTH, "customer_id": n["cust_a1y"].id},
        headers=world.headers("partner_user"),
    )
    assert own.status_code == 200
    assert [t["name"] for t in own.json()["tenants"]] == ["Cust A1y"]
    for who, other in (
        ("partner_admin", "cust_a2x"),
        ("distributor", "cust_b1x"),
        ("customer_user", "cust_a1y"),
    ):
        r = client.get(
            URL, params={"month": MONTH, "customer_id": n[other].id}, headers=world.headers(who)
        )
        assert r.status_code == 404, (who, other, r.text)
    # A node that is not a customer: 404 as well.
    r = client.get(
        URL,
        params={"customer_id": n["partner_a1"].id},
        headers=world.headers("platform_admin"),
    )
    assert r.status_code == 404


def test_bad_input_names_the_field(client: TestClient, world, status_world):
    for params, field in (
        ({"month": "2026-13"}, "month"),
        ({"month": "May"}, "month"),
        ({"customer_id": "0"}, "customer_id"),
        ({"customer_id": "x"}, "customer_id"),
    ):
        r = client.get(URL, params=params, headers=world.headers("partner_admin"))
        assert r.status_code == 422, r.text
        assert field in r.text


def test_the_first_month_there_is(client: TestClient, world, status_world):
    r = client.get(URL, params={"month": "1900-01"}, headers=world.headers("platform_admin"))
    assert r.status_code == 200, r.text  # its windows reach 1899: empty, not a 500
    assert r.json()["windows"][1]["first"] == "1899-10"


def test_the_current_month_by_default(client: TestClient, world, status_world):
    r = client.get(URL, headers=world.headers("distributor"))
    assert r.status_code == 200
    from rerate.models.base import utcnow

    assert r.json()["month"] == utcnow().strftime("%Y-%m")


def test_hidden_invoices_hide_the_status(client: TestClient, world, status_world):
    hide = client.put(
        "/api/v1/settings/InvoicesVisibleToDistributors",
        json={"value": "false", "reason": "test"},
        headers=world.headers("platform_admin"),
    )
    assert hide.status_code == 200, hide.text
    r = client.get(URL, params={"month": MONTH}, headers=world.headers("distributor"))
    assert r.status_code == 403
    assert r.json()["error"] == "InvoicesHidden"
    # Partners keep theirs: a separate setting.
    assert client.get(URL, headers=world.headers("partner_admin")).status_code == 200
    assert client.get(URL, headers=world.headers("platform_admin")).status_code == 200
