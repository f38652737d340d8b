"""The invoices list is a page of summaries: lines only when asked for.

It used to load every line of every invoice in the caller's scope (the
relationship loads eagerly) and send them with the page: half a megabyte and
~150 ms of CPU per call on the demo, the slowest of the main reads under load.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rerate.kit.db import Database
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import PARTNER, drain, submit
from tests.world import World


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


def _two_invoices(client: TestClient, billing: Billing, database: Database, data_dir: Path) -> None:
    w = billing.world
    assert (
        submit(client, w, "recalculations", "cust_a1x", ["2026-08", "2026-09"]).status_code == 202
    )
    drain(database, data_dir)
    for period in ("2026-08", "2026-09"):
        r = client.post(
            "/api/v1/invoices/generate",
            json={"customer_id": w.nodes["cust_a1x"].id, "period": period},
            headers=w.headers("platform_admin"),
        )
        assert r.status_code == 201, r.text


def test_the_list_pages_summaries_and_lines_come_when_asked(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    _two_invoices(client, billing, database, data_dir)
    headers = billing.world.headers(PARTNER)

    listed = client.get("/api/v1/invoices", headers=headers).json()
    assert listed["total"] == 2
    assert [i["period"] for i in listed["items"]] == ["2026-09", "2026-08"]  # newest first
    assert all("lines" not in i for i in listed["items"])

    page = client.get("/api/v1/invoices?limit=1&offset=1", headers=headers).json()
    assert page["total"] == 2
    assert [i["period"] for i in page["items"]] == ["2026-08"]

    full = client.get("/api/v1/invoices?include_lines=true", headers=headers).json()
    for item in full["items"]:
        assert item["lines"]
        assert sum(Decimal(ln["amount"]) for ln in item["lines"]) == Decimal(item["total"])
        one = client.get(f"/api/v1/invoices/{item['id']}", headers=headers).json()
        assert one["lines"] == item["lines"]


def test_the_list_follows_the_visibility_policy(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    _two_invoices(client, billing, database, data_dir)
    w = billing.world
    hidden = client.put(
        "/api/v1/settings/InvoicesVisibleToPartners",
        # A platform policy: set globally (a customer-level override is refused).
        json={"value": "false"},
        headers=w.headers("platform_admin"),
    )
    assert hidden.status_code == 200, hidden.text
    listed = client.get("/api/v1/invoices", headers=w.headers(PARTNER)).json()
    assert listed == {"items": [], "total": 0}
    assert client.get("/api/v1/invoices", headers=w.headers("platform_admin")).json()["total"] == 2
