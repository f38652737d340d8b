"""The "Billing" tab of a call: how the published run rated one usage row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from rerate.kit.db import Database
from rerate.usage.schema import USAGE_SCHEMA
from tests.billing.fixtures import Billing, add_voip_deck, build_billing, cdr_row, import_table
from tests.billing.test_billing_utilities import PARTNER, drain, submit
from tests.world import World

CALL_AT = datetime(2026, 8, 12, 21, 30, tzinfo=UTC)  # 23:30 in Paris


def _billing(client: TestClient, account_id: int, record_id: str, start: datetime, **kw):
    return client.get(
        f"/api/v1/billing/records/{record_id}",
        params={"account_id": account_id, "usage_start": start.isoformat()},
        **kw,
    )


@pytest.fixture
def billed(
    client: TestClient, database: Database, data_dir: Path, world: World
) -> tuple[Billing, int, int]:
    """Cust A1x's August billed with a VoIP deck and one call: (billing, version, entry)."""
    billing = build_billing(database, data_dir, world)
    _, version_id, entry_id = add_voip_deck(database, world, billing.contract_ids["cust_a1x"])
    account = billing.accounts["acc-x"]
    rows = [cdr_row("call-1", account, CALL_AT, "33123456789", 61)]
    import_table(database, data_dir, pa.Table.from_pylist(rows, schema=USAGE_SCHEMA))
    assert submit(client, world, "recalculations", "cust_a1x", ["2026-08"]).status_code == 202
    drain(database, data_dir)
    return billing, version_id, entry_id


def test_a_calls_billing_tab_shows_its_tariff_version_band_seconds_and_charge(
    client: TestClient,
    database: Database,
    data_dir: Path,
    world: World,
    billed: tuple[Billing, int, int],
) -> None:
    billing, version_id, entry_id = billed
    account = billing.accounts["acc-x"]

    got = _billing(client, account, "call-1", CALL_AT, headers=world.headers(PARTNER))
    assert got.status_code == 200, got.text
    tab = got.json()
    assert (tab["status"], tab["kind"], tab["period"]) == ("rated", "cdr", "2026-08")
    assert tab["billed_seconds"] == 120  # 61 s in 60/60 increments
    assert tab["list_amount"] == "1.2"  # 2 min at 0.60
    assert tab["net_amount"] == "1.2"
    assert tab["currency"] == "EUR"
    assert tab["entry"]["id"] == entry_id
    assert tab["entry"]["prefix"] == "33"
    assert tab["entry"]["increments"] == "60/60"
    assert tab["price_book_version"]["id"] == version_id
    assert tab["price_book_version"]["price_book"] == "Voice EUR"
    assert tab["run"]["status"] == "published"

    # A cloud row of the same run has its price entry and version.
    disk = _billing(
        client,
        account,
        "acc-x-disk.gb-2026-08-10",
        datetime(2026, 8, 10, tzinfo=UTC),
        headers=world.headers(PARTNER),
    ).json()
    assert (disk["kind"], disk["entry"]["sku"], disk["quantity"]) == ("cloud", "disk.gb", "100")
    assert disk["price_book_version"]["price_book"] == "Cloud EUR"

    # Unknown rows get 404; so does a row of a customer outside the caller's
    # subtree (acc-mover belonged to Cust A1y until mid-August).
    missing = _billing(client, account, "call-2", CALL_AT, headers=world.headers(PARTNER))
    assert missing.status_code == 404
    naive = _billing(
        client, account, "call-1", CALL_AT.replace(tzinfo=None), headers=world.headers(PARTNER)
    )
    assert naive.status_code == 422
    assert "needs a time zone" in naive.text
    assert submit(client, world, "recalculations", "cust_a1y", ["2026-08"]).status_code == 202
    drain(database, data_dir)
    mover = billing.accounts["acc-mover"]
    other = ("acc-mover-vm.small-2026-08-10", datetime(2026, 8, 10, tzinfo=UTC))
    seen = _billing(client, mover, *other, headers=world.headers(PARTNER))
    assert seen.status_code == 200, seen.text
    assert seen.json()["customer_id"] == world.nodes["cust_a1y"].id
    hidden = _billing(client, mover, *other, headers=world.headers("customer_user"))
    assert hidden.status_code == 404  # customer_user sees Cust A1x only


def test_the_billing_details_page_shows_the_same_row(
    client: TestClient, world: World, billed: tuple[Billing, int, int]
) -> None:
    billing, version_id, _ = billed
    query = {
        "record_id": "call-1",
        "account_id": billing.accounts["acc-x"],
        "usage_start": "2026-08-12T21:30:00Z",
    }
    page = client.get("/billing/records", params=query, headers=world.headers(PARTNER))
    assert page.status_code == 200
    html = page.text
    assert '<h2 id="billing-h">Billing</h2>' in html
    assert "prefix 33 (France)" in html
    assert f"Voice EUR v1 (#{version_id})" in html
    assert "1.2 EUR" in html
    assert "increments 60/60" in html
    assert 'href="/billing/records" aria-current="page"' in html  # in the Billing menu
    wrong = client.get(
        "/billing/records",
        params={**query, "record_id": "nope"},
        headers=world.headers(PARTNER),
    )
    assert "not in a published run" in wrong.text
    bad = client.get(
        "/billing/records",
        params={**query, "usage_start": "yesterday"},
        headers=world.headers(PARTNER),
    )
    assert "with its UTC offset" in bad.text
