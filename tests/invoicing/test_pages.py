"""The invoices page generates an invoice (Ready) for a customer and period."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from rerate.kit.db import Database
from tests.billing.fixtures import Billing
from tests.web.test_pages import drain


def test_generate_from_the_page_then_issue(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    cust = w.nodes["cust_a1x"].id
    client.post(
        "/api/v1/billing-utilities/recalculations",
        headers=w.headers("partner_admin"),
        json={"customer_id": cust, "periods": ["2026-09"], "reason": "incorrect_charges"},
    )
    drain(database, data_dir)
    platform = w.headers("platform_admin")
    assert 'action="/invoices/generate"' in client.get("/invoices", headers=platform).text
    # The partner admin may see invoices but not generate them: no form.
    assert (
        'action="/invoices/generate"'
        not in client.get("/invoices", headers=w.headers("partner_admin")).text
    )

    done = client.post(
        "/invoices/generate",
        data={"customer_id": str(cust), "period": "2026-09"},
        headers=platform,
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = client.get(done.headers["location"], headers=platform).text
    assert "is Ready: check it, then issue it." in page
    assert ">Ready</span>" in page
    # Twice gives the same invoice (generation reuses an unchanged Ready one).
    again = client.post(
        "/invoices/generate",
        data={"customer_id": str(cust), "period": "2026-09"},
        headers=platform,
        follow_redirects=False,
    )
    assert again.headers["location"] == done.headers["location"]

    bad = client.post(
        "/invoices/generate", data={"customer_id": str(cust), "period": "09-2026"}, headers=platform
    )
    assert bad.status_code == 422
    outside = client.post(
        "/invoices/generate",
        data={"customer_id": str(w.nodes["cust_b1x"].id), "period": "2026-09"},
        headers=w.headers("partner_admin"),
    )
    assert outside.status_code in (403, 404)
