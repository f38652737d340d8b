"""A credit note's own documents (issue 14 §4): its PDF, CSV and EN 16931
e-invoice (UBL CreditNote, CII/Factur-X type 381) citing the credited invoice,
downloadable from the API, the CLI and the console like an invoice's; the
credited invoice stays exportable.

The story: cust_a1x's September invoice (84.80 + 20 % = 101.76) is issued,
1.76 of it is paid, then it is credited in full by hand ("Price list error").
The credit note settles the 100.00 still owed; the 1.76 paid stays open and
settles the next invoice."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import facturx
import pytest
from fastapi.testclient import TestClient
from lxml import etree

from rerate.kit.db import Database
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import PARTNER
from tests.cli.test_cli_invoices import _run
from tests.invoicing.einvoice import rules
from tests.invoicing.einvoice.test_endpoints import _fill_parties
from tests.invoicing.einvoice.test_formats import assert_valid_cii, assert_valid_ubl
from tests.invoicing.ledger_helpers import ADMIN, generate, issue, recalc
from tests.invoicing.test_pdf import _text
from tests.world import World

PERIOD = "2026-09"
REASON = "Price list error in September"


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


@pytest.fixture
def story(client: TestClient, billing: Billing, database: Database, data_dir: Path) -> dict:
    w = billing.world
    _fill_parties(database, w)
    recalc(client, billing, database, data_dir, "cust_a1x", PERIOD)
    original = issue(client, billing, generate(client, billing, "cust_a1x", PERIOD).json()["id"])
    assert original["total"] == "101.76"
    paid = client.post(
        f"/api/v1/invoices/{original['id']}/payments",
        json={"amount": "1.76", "date": date.today().isoformat(), "reference": "SEPA 7"},
        headers=w.headers(PARTNER),
    )
    assert paid.status_code == 201, paid.text
    r = client.post(
        f"/api/v1/invoices/{original['id']}/credit-note",
        json={"reason": REASON},
        headers=w.headers(ADMIN),
    )
    assert r.status_code == 201, r.text
    note = r.json()
    # The period has no live invoice now: a new one is generated and issued;
    # the credit note's open 1.76 settles part of it.
    new = issue(client, billing, generate(client, billing, "cust_a1x", PERIOD).json()["id"])
    assert new["amount_credited"] == "1.76"
    return {
        "original": _get(client, w, original["id"]),
        "note": _get(client, w, note["id"]),
        "new": new,
    }


def _get(client: TestClient, w: World, invoice_id: int) -> dict[str, Any]:
    r = client.get(f"/api/v1/invoices/{invoice_id}", headers=w.headers(PARTNER))
    assert r.status_code == 200, r.text
    return r.json()


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _day(iso: str) -> str:
    return iso[:10]


def test_the_credit_note_pdf_reads_as_a_credit_note(
    client: TestClient, billing: Billing, story: dict, tmp_path: Path
) -> None:
    w = billing.world
    original, note, new = story["original"], story["note"], story["new"]
    r = client.get(f"/api/v1/invoices/{note['id']}/pdf", headers=w.headers(PARTNER))
    assert r.status_code == 200, r.text
    assert f'filename="{note["number"]}.pdf"' in r.headers["content-disposition"]
    flat = _flat(_text(r.content, tmp_path))
    issued_on = _day(note["issued_at"])
    for expected in (
        f"Credit note {note['number']}",
        f"Credit note no. {note['number']}",
        f"Issue date {issued_on}",
        f"Credits invoice {original['number']} of {_day(original['issued_at'])}",
        f"Reason {REASON}",
        "Payment none due (see below)",
        "Société Générale des Télécoms SA",  # the seller, as on the invoice
        "Credit to",
        "Müller & Söhne GmbH",
        "Total credited (EUR) -101.76",
        "Tax -16.96",
        "How this credit is applied",
        f"settles the 100.00 EUR still owed on invoice {original['number']}; the other "
        "1.76 EUR is set against your next invoices",
        f"Set against invoice {original['number']} on {issued_on} 100.00",
        f"Set against invoice {new['number']} on {_day(new['issued_at'])} 1.76",
        "Open, for your next invoices (EUR) 0.00",
        "Page 1 of 1",
    ):
        assert expected in flat, expected
    # Every line at the minor unit, with its sign turned.
    for line in note["lines"]:
        assert line["amount"].startswith("-") or line["amount"] == "0.00"
        assert f"{Decimal(line['amount']):,.2f}" in flat
    # Nothing falls due on a credit note.
    for absent in (
        "Due date",
        "Payment terms",
        "Amount due",
        "Invoice number",
        "Bill to",
        "0000000",
    ):
        assert absent not in flat, absent


def test_the_credited_invoice_pdf_names_its_credit_note(
    client: TestClient, billing: Billing, story: dict, tmp_path: Path
) -> None:
    original, note = story["original"], story["note"]
    r = client.get(f"/api/v1/invoices/{original['id']}/pdf", headers=billing.world.headers(ADMIN))
    assert r.status_code == 200, r.text
    flat = _flat(_text(r.content, tmp_path))
    for expected in (
        f"Invoice {original['number']} (Credited)",
        f"CREDITED in full by credit note {note['number']} of {_day(note['issued_at'])}",
        "Total (EUR) 101.76",
        "Amount paid 1.76",
        "Settled by credit notes 100.00",
        "Amount due (EUR) 0.00",
    ):
        assert expected in flat, expected


def test_the_credit_note_csv(client: TestClient, billing: Billing, story: dict) -> None:
    original, note = story["original"], story["note"]
    r = client.get(f"/api/v1/invoices/{note['id']}/csv", headers=billing.world.headers(PARTNER))
    assert r.status_code == 200, r.text
    assert f'filename="{note["number"]}.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {(row["type"], row["number"], row["credits"], row["status"]) for row in rows} == {
        ("credit_note", note["number"], original["number"], "issued")
    }
    *lines, total = rows
    assert [(row["description"], row["amount"]) for row in lines] == [
        (ln["description"], ln["amount"]) for ln in note["lines"]
    ]
    assert (total["kind"], total["description"], total["amount"]) == (
        "total",
        "Total credited",
        "-101.76",
    )
    assert sum(Decimal(row["amount"]) for row in lines) == Decimal(total["amount"])
    # The invoice's own CSV says what it is, and cites nothing.
    inv = client.get(f"/api/v1/invoices/{original['id']}/csv", headers=billing.world.headers(ADMIN))
    first = next(csv.DictReader(io.StringIO(inv.text)))
    assert (first["type"], first["credits"], first["status"]) == ("monthly", "", "credited")


def _dec(node: Any, path: str, ns: dict[str, str]) -> Decimal:
    [found] = node.xpath(path, namespaces=ns)
    return Decimal(found.text)


def test_the_credit_note_is_a_ubl_credit_note_citing_its_invoice(
    client: TestClient, billing: Billing, story: dict
) -> None:
    original, note = story["original"], story["note"]
    w = billing.world
    r = client.get(f"/api/v1/invoices/{note['id']}/einvoice?format=ubl", headers=w.headers(PARTNER))
    assert r.status_code == 200, r.text
    assert f'filename="{note["number"]}.ubl.xml"' in r.headers["content-disposition"]
    assert_valid_ubl(r.content)
    figures = rules.ubl_figures(r.content)
    assert rules.violations(figures) == []
    root = etree.fromstring(r.content)
    ns = rules.UBL_NS
    assert etree.QName(root).localname == "CreditNote"
    assert root.xpath("cbc:CreditNoteTypeCode/text()", namespaces=ns) == ["381"]
    assert root.xpath("cbc:DueDate|cbc:InvoiceTypeCode|cac:InvoiceLine", namespaces=ns) == []
    ref = root.xpath("cac:BillingReference/cac:InvoiceDocumentReference", namespaces=ns)
    assert len(ref) == 1  # BG-3: BT-25 number and BT-26 issue date of the credited invoice
    assert ref[0].xpath("cbc:ID/text()", namespaces=ns) == [original["number"]]
    assert ref[0].xpath("cbc:IssueDate/text()", namespaces=ns) == [_day(original["issued_at"])]
    assert figures.fields["BT-1"] == note["number"]
    assert figures.fields["BT-3"] == "381"
    assert "still owed on invoice " + original["number"] in figures.fields["BT-20"]
    assert root.xpath("cbc:Note/text()", namespaces=ns) == [f"Reason: {REASON}"]
    # Positive amounts, as a credit note states them, adding up.
    lines = root.xpath("cac:CreditNoteLine", namespaces=ns)
    assert len(lines) == len(note["lines"]) - 1  # every line but the tax line
    assert all(line.xpath("cbc:CreditedQuantity", namespaces=ns) for line in lines)
    nets = [_dec(line, "cbc:LineExtensionAmount", ns) for line in lines]
    total = "cac:LegalMonetaryTotal/cbc:"
    assert sum(nets) == _dec(root, total + "LineExtensionAmount", ns) == Decimal("84.80")
    assert _dec(root, "cac:TaxTotal/cbc:TaxAmount", ns) == Decimal("16.96")
    assert _dec(root, total + "TaxInclusiveAmount", ns) == Decimal("101.76")
    assert _dec(root, total + "PayableAmount", ns) == -Decimal(note["total"])
    for line in lines:  # quantity x price = net, the price never negative
        qty = _dec(line, "cbc:CreditedQuantity", ns)
        price = _dec(line, "cac:Price/cbc:PriceAmount", ns)
        assert price >= 0
        assert abs(qty * price - _dec(line, "cbc:LineExtensionAmount", ns)) < Decimal("0.005")


def test_the_credit_note_cii_and_facturx_are_type_381_with_the_reference(
    client: TestClient, billing: Billing, story: dict
) -> None:
    original, note = story["original"], story["note"]
    w = billing.world
    url = f"/api/v1/invoices/{note['id']}/einvoice?format="
    cii = client.get(url + "cii", headers=w.headers(PARTNER))
    assert cii.status_code == 200, cii.text
    assert_valid_cii(cii.content)
    figures = rules.cii_figures(cii.content)
    assert rules.violations(figures) == []
    assert (figures.fields["BT-3"], figures.fields["BT-25"]) == ("381", original["number"])
    assert figures.fields["BT-9"] == ""
    assert figures.amounts["BT-112"] == "101.76"
    root = etree.fromstring(cii.content)
    ns = rules.CII_NS
    referenced = root.xpath("//ram:InvoiceReferencedDocument", namespaces=ns)
    assert len(referenced) == 1
    when = referenced[0].xpath("ram:FormattedIssueDateTime/*/text()", namespaces=ns)
    assert when == [_day(original["issued_at"]).replace("-", "")]  # BT-26, CCYYMMDD
    nets = [Decimal(t) for t in root.xpath("//ram:LineTotalAmount/text()", namespaces=ns)]
    *line_nets, header_net = nets
    assert sum(line_nets) == header_net == Decimal("84.80")

    fx = client.get(url + "facturx", headers=w.headers(PARTNER))
    assert fx.status_code == 200, fx.text
    assert fx.headers["content-type"] == "application/pdf"
    name, embedded = facturx.get_xml_from_pdf(fx.content, check_xsd=True)
    assert (name, embedded) == ("factur-x.xml", cii.content)


def test_the_credited_invoice_stays_exportable(
    client: TestClient, billing: Billing, story: dict
) -> None:
    original, new = story["original"], story["new"]
    w = billing.world
    ubl = client.get(
        f"/api/v1/invoices/{original['id']}/einvoice?format=ubl", headers=w.headers(PARTNER)
    )
    assert ubl.status_code == 200, ubl.text
    assert_valid_ubl(ubl.content)
    figures = rules.ubl_figures(ubl.content)
    assert (figures.fields["BT-1"], figures.fields["BT-3"]) == (original["number"], "380")
    assert figures.amounts["BT-112"] == "101.76"  # as issued: the credit note is its own document
    # The next invoice, part settled by the credit note, states its own total:
    # what settled it is not deducted from the e-invoice (BT-115 = BT-112).
    cii = client.get(f"/api/v1/invoices/{new['id']}/einvoice?format=cii", headers=w.headers(ADMIN))
    assert cii.status_code == 200, cii.text
    assert_valid_cii(cii.content)
    figures = rules.cii_figures(cii.content)
    assert figures.amounts["BT-115"] == figures.amounts["BT-112"] == new["total"]


def test_console_links_and_the_customer_downloads(
    client: TestClient, billing: Billing, story: dict
) -> None:
    note, original = story["note"], story["original"]
    w = billing.world
    for who in (PARTNER, "customer_user"):
        page = client.get(f"/invoices/{note['id']}", headers=w.headers(who))
        assert page.status_code == 200, page.text
        assert f"Credit note {note['number']}" in page.text
        for path in ("pdf", "csv", "einvoice?format=ubl", "einvoice?format=cii",
                     "einvoice?format=facturx"):  # fmt: skip
            href = f"/api/v1/invoices/{note['id']}/{path}"
            assert href in page.text, href
            assert client.get(href, headers=w.headers(who)).status_code == 200, (who, href)
        credited = client.get(f"/invoices/{original['id']}", headers=w.headers(who)).text
        assert f"/api/v1/invoices/{original['id']}/einvoice?format=ubl" in credited
    listing = client.get("/invoices", headers=w.headers(PARTNER)).text
    assert f"/api/v1/invoices/{note['id']}/einvoice?format=ubl" in listing


def test_cli_exports_the_credit_note(
    billing: Billing, database: Database, data_dir: Path, story: dict, tmp_path: Path
) -> None:
    note, original = story["note"], story["original"]
    partner = billing.world.users[PARTNER].email
    out = tmp_path / "note.csv"
    done = _run(database, data_dir, "export", str(note["id"]), "--out", str(out), "--as", partner)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[-1]["amount"] == "-101.76"
    assert rows[0]["credits"] == original["number"]
    pdf = tmp_path / "note.pdf"
    done = _run(database, data_dir, "export", str(note["id"]), "--out", str(pdf), "--as", partner)
    assert done.returncode == 0, done.stderr
    assert f"Credit note {note['number']}" in _flat(_text(pdf.read_bytes(), tmp_path))
    xml = tmp_path / "note.xml"
    done = _run(database, data_dir, "download", str(note["id"]), "--format", "ubl", "-o", str(xml),
                "--as", partner)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_valid_ubl(xml.read_bytes())
    assert etree.QName(etree.fromstring(xml.read_bytes())).localname == "CreditNote"


def test_a_refresh_s_credit_note_carries_its_reason_and_the_new_invoice_cites_the_old(
    client: TestClient, billing: Billing, database: Database, data_dir: Path, tmp_path: Path
) -> None:
    """The contract's policy is credit_note: a refresh credits the unpaid
    Issued invoice; the credit note's reason is the refresh's, and the new
    invoice cites the one it follows (BG-3)."""
    from tests.invoicing.test_credit_notes import _policy, _refresh

    w = billing.world
    _fill_parties(database, w)
    recalc(client, billing, database, data_dir, "cust_a1x", PERIOD)
    original = issue(client, billing, generate(client, billing, "cust_a1x", PERIOD).json()["id"])
    _policy(database, billing, "credit_note")
    result = _refresh(client, billing, database, data_dir)
    [note_id] = result["credit_notes_created"]
    new = issue(client, billing, result["invoice_id"])
    ubl = client.get(f"/api/v1/invoices/{note_id}/einvoice?format=ubl", headers=w.headers(ADMIN))
    assert ubl.status_code == 200, ubl.text
    root = etree.fromstring(ubl.content)
    ns = rules.UBL_NS
    assert root.xpath("cbc:Note/text()", namespaces=ns) == [
        "Reason: invoice refresh: other price change"
    ]
    # Nothing was paid: all of it settled the credited invoice.
    assert root.xpath("cac:PaymentTerms/cbc:Note/text()", namespaces=ns) == [
        f"No payment is due. This credit note settles the 101.76 EUR still owed on invoice "
        f"{original['number']}."
    ]
    cii = client.get(f"/api/v1/invoices/{new['id']}/einvoice?format=cii", headers=w.headers(ADMIN))
    assert rules.cii_figures(cii.content).fields["BT-25"] == original["number"]
    pdf = client.get(f"/api/v1/invoices/{note_id}/pdf", headers=w.headers(ADMIN))
    flat = _flat(_text(pdf.content, tmp_path))
    assert "Reason invoice refresh: other price change" in flat
    assert "Open, for your next invoices (EUR) 0.00" in flat
