"""The invoice PDF, read back as text (pdftotext) and page sizes (pdfinfo).

The poppler tools are needed: without them the tests skip locally, and fail
where RERATE_TEST_REQUIRE_PDFTOOLS=1 or CI=true (.ci/run installs poppler-utils).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.invoicing import pdf
from rerate.kit.db import Database
from rerate.models import Contract, Invoice, InvoiceLine, Node
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import PARTNER, drain, submit

LONG_UNIT = "GiB-month of provisioned premium SSD capacity"
LONG_DESCRIPTION = (
    "Storage - Premium SSD managed disk P30 with zone-redundant replication, "
    "snapshots and a description long enough to wrap over several lines"
)


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path:
        return path
    reason = f"{tool} is not installed (apt-get install poppler-utils)"
    if os.environ.get("RERATE_TEST_REQUIRE_PDFTOOLS") == "1" or os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; RERATE_TEST_REQUIRE_PDFTOOLS=1 or CI=true makes this a failure")
    pytest.skip(reason)


def _text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(data)
    out = subprocess.run(
        [_require("pdftotext"), "-layout", str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def _info(data: bytes, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "invoice-info.pdf"
    path.write_bytes(data)
    out = subprocess.run(
        [_require("pdfinfo"), str(path)], check=True, capture_output=True, text=True
    ).stdout
    return {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in out.splitlines())}


def _line(position: int, kind: str, description: str, qty: str, unit: str, amount: str):
    return InvoiceLine(
        position=position,
        kind=kind,
        description=description,
        quantity=Decimal(qty),
        unit=unit,
        amount=Decimal(amount),
    )


def _invoice(lines: list[InvoiceLine], *, status: str = "issued") -> Invoice:
    """An invoice as stored: amounts at the column's 10 places."""
    ten = Decimal("1e-10")
    subtotal = sum((ln.amount for ln in lines), Decimal(0))
    tax = (subtotal * Decimal("0.2")).quantize(Decimal("0.01"))
    tax_line = _line(len(lines) + 1, "tax", "Tax 20 %", "1", "", str(tax))
    for ln in [*lines, tax_line]:
        ln.amount = ln.amount.quantize(ten)
        ln.quantity = ln.quantity.quantize(ten)
    return Invoice(
        id=7,
        customer_id=3,
        period="2026-09",
        type="monthly",
        status=status,
        version=2,
        series="S2",
        number="ACME-000042" if status != "ready" else None,
        currency="EUR",
        subtotal=subtotal.quantize(ten),
        tax_rate=Decimal("0.200000"),
        tax=tax.quantize(ten),
        total=(subtotal + tax).quantize(ten),
        rounding_mode="ROUND_HALF_UP",
        issued_at=datetime(2026, 10, 2, 9, 30, tzinfo=UTC) if status != "ready" else None,
        lines=[*lines, tax_line],
    )


FACTS = pdf.Facts(
    seller=pdf.Party("Société Générale Télécom SAS", "12 rue de la Paix\n75002 Paris", "FR123"),
    buyer=pdf.Party("Müller & Søn GmbH", "Königstraße 5\n70173 Stuttgart\nDeutschland", "DE999"),
    payment_terms_days=30,
    replaces_number="ACME-000041",
    amount_paid=Decimal(0),
)

LINES = [
    _line(1, "usage", "Compute - Standard_D2s_v5", "744", "h", "71.42"),
    _line(2, "usage", LONG_DESCRIPTION, "1024.5", LONG_UNIT, "57.43"),
    _line(3, "usage", "Calls to France Mobile", "1234.5678", "min", "43488.10"),
    _line(4, "support", "Support fee", "1", "", "100.00"),
    _line(5, "custom", "Goodwill credit", "1", "", "-250.00"),
]


def test_the_pdf_carries_every_field_a_finance_team_needs(tmp_path: Path):
    invoice = _invoice(LINES)
    text = _text(pdf.to_pdf(invoice, FACTS), tmp_path)
    flat = re.sub(r"\s+", " ", text)
    for expected in (
        "Invoice ACME-000042",
        "Société Générale Télécom SAS",  # embedded Unicode font: printed as written
        "12 rue de la Paix",
        "Tax ID: FR123",
        "Müller & Søn GmbH",
        "Königstraße 5",
        "Tax ID: DE999",
        "Issue date 2026-10-02",
        "Due date 2026-11-01",
        "Billing period 2026-09",
        "Payment terms 30 days net",
        "Replaces invoice ACME-000041",
        "Calls to France Mobile",
        "1,234.5678",  # a quantity with its places, grouped
        "43,488.10",
        "-250.00",
        "Subtotal Compute 71.42",
        "Subtotal Calls 43,488.10",
        "Subtotal Other charges and credits -250.00",
        "Tax summary",
        "20 % 43,466.95 8,693.39",  # rate, taxable amount, tax
        "Total (EUR) 52,160.34",
        "Amount paid 0.00",
        "Amount due (EUR) 52,160.34",
        "Page 1 of 1",
    ):
        assert expected in flat, expected
    assert "0000000" not in text  # no stored scale ("128.8500000000") anywhere
    assert "E-10" not in text
    assert "E+" not in text


def test_units_and_descriptions_wrap_instead_of_being_cut(tmp_path: Path):
    text = _text(pdf.to_pdf(_invoice(LINES), FACTS), tmp_path)
    words = re.sub(r"\s+", " ", text)
    for word in LONG_UNIT.split() + LONG_DESCRIPTION.split():
        assert word in words, word
    # every word of the unit is there, in order, once the wrapped lines are read back
    assert all(w in words for w in ("provisioned", "premium", "capacity"))


def test_paper_is_a4_unless_letter_is_asked_for(tmp_path: Path):
    invoice = _invoice(LINES)
    a4 = _info(pdf.to_pdf(invoice, FACTS), tmp_path)
    letter = _info(pdf.to_pdf(invoice, FACTS, paper=pdf.Paper.LETTER), tmp_path)
    assert "(A4)" in a4["Page size"]
    assert "(letter)" in letter["Page size"]


def test_a_300_line_invoice_spans_pages_numbered_x_of_y(tmp_path: Path):
    lines = [
        _line(i, "usage", f"Calls to destination group {i:03d}", "12.5", "min", "1.25")
        for i in range(1, 301)
    ]
    data = pdf.to_pdf(_invoice(lines), FACTS)
    pages = int(_info(data, tmp_path)["Pages"])
    assert pages > 3
    text = _text(data, tmp_path)
    for page in range(1, pages + 1):
        assert f"Page {page} of {pages}" in text
    for i in (1, 150, 300):
        assert f"Calls to destination group {i:03d}" in text
    flat = re.sub(r"\s+", " ", text)
    assert "Subtotal Calls 375.00" in flat
    assert "Total (EUR) 450.00" in flat  # 375.00 + 20 % tax
    # the table's heading repeats on every page it reaches (the last may hold only totals)
    assert text.count("Description") >= pages - 1


def test_a_draft_and_a_paid_invoice_say_so(tmp_path: Path):
    draft = _text(pdf.to_pdf(_invoice(LINES, status="ready"), FACTS), tmp_path)
    assert "Draft invoice - not issued (Ready)" in draft
    assert "not issued yet" in draft
    paid = _invoice(LINES, status="paid")
    facts = pdf.Facts(FACTS.seller, FACTS.buyer, 30, None, amount_paid=paid.total)
    flat = re.sub(r"\s+", " ", _text(pdf.to_pdf(paid, facts), tmp_path))
    assert "Amount paid 52,160.34" in flat
    assert "Amount due (EUR) 0.00" in flat


def test_lines_are_grouped_by_service_destination_or_kind():
    groups = pdf.grouped_lines(_invoice(LINES).lines)
    assert [g for g, _ in groups] == [
        "Compute",
        "Storage",
        "Calls",
        "Support",
        "Other charges and credits",
    ]
    assert all(ln.kind != "tax" for _, lines in groups for ln in lines)


# --- end to end: the API's PDF and CSV of a generated invoice ----------------------------------


@pytest.fixture
def billing(database: Database, data_dir: Path, world) -> Billing:  # type: ignore[no-untyped-def]
    return build_billing(database, data_dir, world)


def test_the_api_pdf_and_csv_match_the_invoice_to_the_cent(
    client: TestClient, billing: Billing, database: Database, data_dir: Path, tmp_path: Path
):
    w = billing.world
    customer_id = w.nodes["cust_a1x"].id
    with database.session() as s:
        customer = s.get(Node, customer_id)
        assert customer is not None
        customer.legal_name, customer.address, customer.tax_id = (
            "Société Générale Müller",
            "1 Place de l'Opéra\n75009 Paris",
            "FR00999",
        )
        contract = s.scalar(select(Contract).where(Contract.customer_id == customer_id))
        assert contract is not None
        seller = s.get(Node, contract.seller_id)
        assert seller is not None
        seller_name = seller.legal_name or seller.name
        terms = contract.payment_terms_days
    assert submit(client, w, "recalculations", "cust_a1x", ["2026-09"]).status_code == 202
    drain(database, data_dir)
    admin = w.headers("platform_admin")
    made = client.post(
        "/api/v1/invoices/generate",
        json={"customer_id": customer_id, "period": "2026-09"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    invoice = client.post(f"/api/v1/invoices/{made.json()['id']}/issue", headers=admin).json()

    r = client.get(f"/api/v1/invoices/{invoice['id']}/pdf?paper=letter", headers=w.headers(PARTNER))
    assert r.status_code == 200, r.text
    assert "(letter)" in _info(r.content, tmp_path)["Page size"]
    flat = re.sub(r"\s+", " ", _text(r.content, tmp_path))
    assert f"Invoice {invoice['number']}" in flat
    assert "Société Générale Müller" in flat
    assert "1 Place de l'Opéra" in flat
    assert seller_name in flat
    assert f"Payment terms {terms} days net" in flat
    for line in invoice["lines"]:
        assert "." in line["amount"]
        assert len(line["amount"].split(".")[1]) == 2
        shown = f"{Decimal(line['amount']):,.2f}"
        assert shown in flat, shown
    assert f"Total (EUR) {Decimal(invoice['total']):,.2f}" in flat
    assert "Page 1 of 1" in flat

    bad = client.get(f"/api/v1/invoices/{invoice['id']}/pdf?paper=a3", headers=admin)
    assert bad.status_code == 422

    csv_text = client.get(f"/api/v1/invoices/{invoice['id']}/csv", headers=admin).text
    assert "0000000" not in csv_text  # "128.85", never "128.8500000000"
    rows = [row.split(",") for row in csv_text.splitlines()]
    assert rows[-1][-2] == invoice["total"]
    amounts = [row[-2] for row in rows[1:]]
    assert amounts == [ln["amount"] for ln in invoice["lines"]] + [invoice["total"]]
