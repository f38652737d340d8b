"""E-invoice downloads over the API and the CLI: same access checks as the PDF,
only for invoices that were sent, refused with the missing field named."""

from __future__ import annotations

from pathlib import Path

import facturx
import pytest
from fastapi.testclient import TestClient

from rerate.kit.db import Database
from rerate.models import Node
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import PARTNER, drain, submit
from tests.cli.test_cli_invoices import _run
from tests.invoicing.einvoice import rules
from tests.invoicing.einvoice.test_formats import assert_valid_cii, assert_valid_ubl
from tests.world import World


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


def _ready_invoice(client: TestClient, billing: Billing, database: Database, data_dir: Path) -> int:
    w = billing.world
    assert submit(client, w, "recalculations", "cust_a1x", ["2026-09"]).status_code == 202
    drain(database, data_dir)
    r = client.post(
        "/api/v1/invoices/generate",
        json={"customer_id": w.nodes["cust_a1x"].id, "period": "2026-09"},
        headers=w.headers("platform_admin"),
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _fill_parties(database: Database, world: World) -> None:
    with database.session() as s:
        seller = s.get(Node, world.nodes["partner_a1"].id)
        buyer = s.get(Node, world.nodes["cust_a1x"].id)
        assert seller is not None
        assert buyer is not None
        seller.legal_name = "Société Générale des Télécoms SA"
        seller.address = "12 rue de la Paix\n75002 Paris\nFR"
        seller.tax_id = "FR40303265045"
        buyer.legal_name = "Müller & Söhne GmbH"
        buyer.address = "Hauptstraße 5\n10115 Berlin\nDE"
        s.commit()


def _get(client: TestClient, world: World, invoice_id: int, fmt: str, who: str = PARTNER):
    return client.get(
        f"/api/v1/invoices/{invoice_id}/einvoice?format={fmt}", headers=world.headers(who)
    )


def test_einvoice_downloads_of_an_issued_invoice(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    w = billing.world
    invoice_id = _ready_invoice(client, billing, database, data_dir)
    _fill_parties(database, w)

    ready = _get(client, w, invoice_id, "ubl")
    assert ready.status_code == 409
    assert "only an Issued, Paid, Credited or" in ready.json()["detail"]

    link = f"/api/v1/invoices/{invoice_id}/einvoice?format=facturx"
    assert link not in client.get("/invoices", headers=w.headers(PARTNER)).text  # Ready: none
    issued = client.post(
        f"/api/v1/invoices/{invoice_id}/issue", headers=w.headers("platform_admin")
    ).json()
    page = client.get("/invoices", headers=w.headers(PARTNER)).text
    for fmt in ("ubl", "cii", "facturx"):
        assert f"/api/v1/invoices/{invoice_id}/einvoice?format={fmt}" in page

    ubl = _get(client, w, invoice_id, "ubl")
    assert ubl.status_code == 200, ubl.text
    assert ubl.headers["content-type"].startswith("application/xml")
    assert f'filename="{issued["number"]}.ubl.xml"' in ubl.headers["content-disposition"]
    assert_valid_ubl(ubl.content)
    figures = rules.ubl_figures(ubl.content)
    assert rules.violations(figures) == []
    assert figures.fields["BT-1"] == issued["number"]
    assert figures.fields["BT-27"] == "Société Générale des Télécoms SA"
    assert figures.fields["BT-44"] == "Müller & Söhne GmbH"
    assert figures.amounts["BT-112"] == issued["total"]

    cii = _get(client, w, invoice_id, "cii")
    assert cii.status_code == 200, cii.text
    assert_valid_cii(cii.content)
    assert rules.violations(rules.cii_figures(cii.content)) == []

    pdf = _get(client, w, invoice_id, "facturx")
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    _name, embedded = facturx.get_xml_from_pdf(pdf.content, check_xsd=True)
    assert embedded == cii.content

    assert _get(client, w, invoice_id, "docx").status_code == 422
    # Another partner's user cannot tell the invoice exists.
    assert _get(client, w, invoice_id + 1000, "ubl").status_code == 404


def test_a_seller_without_a_vat_id_is_refused_naming_the_field(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    w = billing.world
    invoice_id = _ready_invoice(client, billing, database, data_dir)
    client.post(f"/api/v1/invoices/{invoice_id}/issue", headers=w.headers("platform_admin"))
    r = _get(client, w, invoice_id, "ubl")  # nobody filled in addresses or tax ids
    assert r.status_code == 422
    assert r.json()["error"] == "EInvoiceRefused"
    assert "seller (node" in r.json()["detail"]
    assert "tax_id is empty" in r.json()["detail"]


def test_cli_download_writes_each_format(
    client: TestClient, billing: Billing, database: Database, data_dir: Path, tmp_path: Path
) -> None:
    w = billing.world
    invoice_id = _ready_invoice(client, billing, database, data_dir)
    _fill_parties(database, w)
    partner = w.users[PARTNER].email
    draft = _run(
        database, data_dir, "download", str(invoice_id), "--format", "ubl", "-o",
        str(tmp_path / "x.xml"), "--as", partner,
    )  # fmt: skip
    assert draft.returncode != 0
    assert "only an Issued, Paid, Credited or" in draft.stderr
    assert "Traceback" not in draft.stderr
    client.post(f"/api/v1/invoices/{invoice_id}/issue", headers=w.headers("platform_admin"))
    for fmt, check in (("ubl", assert_valid_ubl), ("cii", assert_valid_cii)):
        out = tmp_path / f"inv.{fmt}.xml"
        done = _run(
            database, data_dir, "download", str(invoice_id), "--format", fmt, "-o", str(out),
            "--as", partner,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        check(out.read_bytes())
    pdf = tmp_path / "inv.pdf"
    done = _run(
        database, data_dir, "download", str(invoice_id), "--format", "facturx", "-o", str(pdf),
        "--as", partner,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert facturx.get_xml_from_pdf(pdf.read_bytes(), check_xsd=True)[0] == "factur-x.xml"
    bad = _run(
        database, data_dir, "download", str(invoice_id), "--format", "docx", "-o", str(pdf),
        "--as", partner,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "--format" in bad.stderr
