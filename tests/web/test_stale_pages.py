"""The "N periods out of date" panel of the Billing utilities page, through
TestClient, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from rerate.kit.db import Database
from tests.billing.fixtures import Billing
from tests.billing.test_stale import add_version, bill_both
from tests.web.test_pages import ADMIN, HX, drain
from tests.world import World


def panel(client: TestClient, world: World) -> str:
    r = client.get("/billing/utilities/stale", headers={**world.headers(ADMIN), **HX})
    assert r.status_code == 200, r.text
    return r.text


def rows(html: str) -> list[tuple[str, str]]:
    return re.findall(r'data-customer-id="(\d+)" data-period="([\d-]+)"', html)


def test_the_panel_lists_stale_periods_and_recalculates_them(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    page = client.get("/billing/utilities", headers=w.headers(ADMIN))
    assert 'hx-get="/billing/utilities/stale" hx-trigger="load"' in page.text
    bill_both(client, database, data_dir, w)
    empty = panel(client, w)
    assert "0 periods out of date" in empty
    assert "No billed period is out of date." in empty
    assert "Recalculate these" not in empty

    add_version(database, billing.price_book_id, datetime(2026, 9, 15, tzinfo=UTC), "0.06")
    html = panel(client, w)
    assert "2 periods out of date" in html
    assert sorted(rows(html)) == sorted(
        [(str(w.nodes["cust_a1x"].id), "2026-09"), (str(w.nodes["cust_a1y"].id), "2026-09")]
    )
    assert (
        "price book &#39;Cloud EUR&#39; version 2 effective 2026-09-15 00:00 UTC was published "
        "after this period was billed" in html
    )
    assert "Recalculate these" in html
    assert 'id="stale-dry-run"' in html

    dry = client.post(
        "/billing/utilities/stale/recalculations",
        data={"dry_run": "1"},
        headers={**w.headers(ADMIN), **HX},
    )
    assert dry.status_code == 202, dry.text
    message = json.loads(dry.headers["HX-Trigger"])["rerate:jobs-submitted"]["message"]
    assert message.startswith("Dry runs queued for 2 period(s): jobs #")
    drain(database, data_dir)
    assert "2 periods out of date" in panel(client, w)

    done = client.post(
        "/billing/utilities/stale/recalculations", data={}, headers={**w.headers(ADMIN), **HX}
    )
    assert done.status_code == 202, done.text
    assert "Recalculations queued for 2 period(s)" in done.headers["HX-Trigger"]
    drain(database, data_dir)
    assert "0 periods out of date" in panel(client, w)


def test_the_panel_needs_its_permissions(client: TestClient, billing: Billing):
    w = billing.world
    viewer = client.get("/billing/utilities/stale", headers=w.headers("customer_user"))
    assert viewer.status_code == 403
    denied = client.post(
        "/billing/utilities/stale/recalculations", data={}, headers=w.headers("distributor")
    )
    assert denied.status_code == 403
