"""No invoice that should not exist: a month with nothing billable, and an
invoice refresh that would issue the same invoice again."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rerate.kit.db import Database
from rerate.models import Invoice
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import PARTNER, drain, job, submit
from tests.invoicing.ledger_helpers import add_credit, add_one_off, generate, issue, recalc
from tests.world import World


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


def test_a_month_without_accounts_usage_or_one_off_item_gets_no_invoice(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    # cust_a1y's only account moved to cust_a1x on 15 August: September has no
    # account, no usage; a recurring credit alone does not make an invoice.
    add_credit(database, billing, "cust_a1y", "300")
    recalc(client, billing, database, data_dir, "cust_a1y", "2026-09")
    r = generate(client, billing, "cust_a1y", "2026-09")
    assert r.status_code == 422, r.text
    assert "nothing billable" in r.json()["detail"]
    refresh = submit(
        client,
        billing.world,
        "invoice-refreshes",
        "cust_a1y",
        ["2026-09"],
        reason="other",
        explanation="resend",
    )
    assert refresh.status_code == 422, refresh.text  # refused for refresh
    # A refresh corrects an invoice: August is offered once it has one (its
    # first invoice is invoice generation's, not a refresh's).
    recalc(client, billing, database, data_dir, "cust_a1y", "2026-08")
    cid = billing.world.nodes["cust_a1y"].id
    before = client.get(
        f"/api/v1/billing-utilities/customers/{cid}/periods?operation=invoice_refresh",
        headers=billing.world.headers(PARTNER),
    ).json()["items"]
    assert "2026-08" not in before  # billable, but no invoice to refresh yet
    assert generate(client, billing, "cust_a1y", "2026-08").status_code == 201
    offered = client.get(
        f"/api/v1/billing-utilities/customers/{billing.world.nodes['cust_a1y'].id}/periods"
        "?operation=invoice_refresh",
        headers=billing.world.headers(PARTNER),
    ).json()["items"]
    assert "2026-08" in offered  # the account was there until 15 August
    assert "2026-09" not in offered  # and is not offered
    # The console's dialogs offer the same: the refresh dialog leaves
    # September out, the recalculation dialog still has it.
    headers = billing.world.headers(PARTNER)
    dialog = client.get(
        f"/billing/utilities/periods?op=invoice_refresh&customer_id={cid}", headers=headers
    )
    assert dialog.status_code == 200
    assert 'value="2026-08"' in dialog.text
    assert 'value="2026-09"' not in dialog.text
    recalc_dialog = client.get(
        f"/billing/utilities/periods?op=recalculation&customer_id={cid}", headers=headers
    ).text
    assert 'value="2026-09"' in recalc_dialog
    form = client.get("/billing/utilities/operations/invoice_refresh", headers=headers).text
    assert "/billing/utilities/periods?op=invoice_refresh" in form
    # August still had the account for two weeks: invoiced, credit capped at
    # its amount (generated above; generating again answers the same invoice).
    aug = generate(client, billing, "cust_a1y", "2026-08")
    assert aug.status_code == 200, aug.text
    assert Decimal(aug.json()["total"]) == 0
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Invoice)) == 1


def test_a_one_off_item_dated_in_the_month_makes_it_billable(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    add_one_off(database, billing, "cust_a1y", "120", date(2026, 9, 3))
    recalc(client, billing, database, data_dir, "cust_a1y", "2026-09")
    r = generate(client, billing, "cust_a1y", "2026-09")
    assert r.status_code == 201, r.text
    assert r.json()["subtotal"] == "120.00"


def test_a_refresh_that_changes_nothing_keeps_the_issued_invoice(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    w = billing.world
    recalc(client, billing, database, data_dir, "cust_a1x", "2026-09")
    issued = issue(client, billing, generate(client, billing, "cust_a1x", "2026-09").json()["id"])
    r = submit(
        client,
        w,
        "invoice-refreshes",
        "cust_a1x",
        ["2026-09"],
        reason="other",
        explanation="resend",
    )
    assert r.status_code == 202, r.text
    drain(database, data_dir)
    done = job(client, w, r.json()["jobs"][0]["id"])
    assert done["status"] == "complete", done["error"]
    assert done["result"]["unchanged"] is True
    assert done["result"]["invoice_id"] == issued["id"]
    assert done["result"]["invoices_cancelled"] == []
    with database.session() as s:
        [only] = s.scalars(select(Invoice)).all()
        assert (only.status, only.number) == ("issued", issued["number"])


def test_the_diff_of_a_credit_change_counts_it_and_adds_up_to_the_delta(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    w = billing.world
    recalc(client, billing, database, data_dir, "cust_a1x", "2026-09")
    add_credit(database, billing, "cust_a1x", "250")
    [done] = recalc(client, billing, database, data_dir, "cust_a1x", "2026-09")
    result = done["result"]
    assert Decimal(result["delta"]) == Decimal("-250.00")
    assert result["changed_items"] == 1
    text = client.get(f"/api/v1/jobs/{done['id']}/diff.csv", headers=w.headers(PARTNER)).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["item"] == "credit: Migration credit"  # changed items first
    assert Decimal(rows[0]["delta_amount"]) == Decimal("-250")
    total = rows[-1]
    assert total["account_id"] == "TOTAL"
    assert Decimal(total["delta_amount"]) == Decimal(result["delta"])
    assert Decimal(total["new_amount"]) == Decimal(result["total_after"])
    assert Decimal(total["old_amount"]) == Decimal(result["total_before"])
