"""Quarterly invoices (issue 15 §4): the two worked examples of docs/invoicing.md,
"Quarterly invoices", to the cent on both databases; the refusals; the guards
that keep an issued quarterly invoice's projection and its true-up unchanged;
and the property that projection + true-up = actual."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from rerate.invoicing import quarterly
from rerate.kit.db import Database
from rerate.kit.money import RoundingMode, round_money
from rerate.models import AuditEntry, CustomLineItem, Invoice
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import PARTNER
from tests.invoicing.einvoice import rules
from tests.invoicing.einvoice.test_formats import assert_valid_cii, assert_valid_ubl
from tests.invoicing.ledger_helpers import ADMIN, recalc
from tests.invoicing.test_pdf import _text
from tests.world import World

BASIS = ("2026-01", "2026-02", "2026-03")
ACTUAL = ("2026-04", "2026-05", "2026-06")


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


def _months(database: Database, billing: Billing, customer: str, amounts: dict[str, str]) -> None:
    """One one-off item per month: the month's billed amount (no usage then)."""
    with database.session() as s:
        for period, amount in amounts.items():
            year, month = map(int, period.split("-"))
            s.add(
                CustomLineItem(
                    customer_id=billing.world.nodes[customer].id,
                    description=f"Services {period}",
                    amount=Decimal(amount),
                    currency="EUR",
                    one_off_date=date(year, month, 10),
                )
            )


def _quarterly_contract(client: TestClient, billing: Billing, customer: str) -> None:
    """The reseller sets the customer's invoice type, as a person would (API)."""
    r = client.patch(
        f"/api/v1/contracts/{billing.contract_ids[customer]}",
        json={"invoice_type": "quarterly", "reason": "customer asked for quarterly invoices"},
        headers=billing.world.headers(PARTNER),
    )
    assert r.status_code == 200, r.text
    assert (r.json()["invoice_type"], r.json()["changed"]) == ("quarterly", ["invoice_type"])


def _tax(database: Database, billing: Billing, customer: str, rate: str) -> None:
    with database.session() as s:
        node = s.merge(billing.world.nodes[customer])
        node.tax_rate = Decimal(rate)


def _post(client: TestClient, billing: Billing, path: str, body: Any = None, who: str = ADMIN):
    return client.post(f"/api/v1{path}", json=body, headers=billing.world.headers(who))


def _get(client: TestClient, billing: Billing, invoice_id: int) -> dict[str, Any]:
    r = client.get(f"/api/v1/invoices/{invoice_id}", headers=billing.world.headers(ADMIN))
    assert r.status_code == 200, r.text
    return r.json()


def _einvoices(client: TestClient, billing: Billing, database: Database, invoice_id: int) -> None:
    """Both EN 16931 syntaxes of a quarterly document validate against the
    schemas and the business rules, with the quarter as the billing period."""
    with database.session() as s:
        for name, legal, address, tax_id in (
            (
                "partner_a1",
                "Acme Cloud SARL",
                "12 rue de la Paix\n75002 Paris\nFR",
                "FR40303265045",
            ),
            ("cust_a1x", "Müller & Söhne GmbH", "Hauptstraße 5\n10115 Berlin\nDE", None),
            ("cust_a1y", "Globex SA", "1 place du Marché\n69001 Lyon\nFR", None),
        ):
            node = s.merge(billing.world.nodes[name])
            node.legal_name, node.address = legal, address
            if tax_id:
                node.tax_id = tax_id
    for fmt, check, figures in (
        ("ubl", assert_valid_ubl, rules.ubl_figures),
        ("cii", assert_valid_cii, rules.cii_figures),
    ):
        r = client.get(
            f"/api/v1/invoices/{invoice_id}/einvoice?format={fmt}",
            headers=billing.world.headers(ADMIN),
        )
        assert r.status_code == 200, r.text
        check(r.content)
        assert rules.violations(figures(r.content)) == []
        assert b"2026-04-01" in r.content or b"20260401" in r.content


def _lines(inv: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(ln["kind"], ln["quantity"], ln["unit"], ln["amount"]) for ln in inv["lines"]]


def test_example_1_projection_then_a_true_up_invoice(
    client: TestClient, billing: Billing, database: Database, data_dir: Path, tmp_path: Path
) -> None:
    """docs/invoicing.md, Quarterly invoices, example 1."""
    w = billing.world
    _quarterly_contract(client, billing, "cust_a1x")
    _months(
        database,
        billing,
        "cust_a1x",
        {"2026-01": "1000.00", "2026-02": "1100.00", "2026-03": "1200.02"},
    )
    recalc(client, billing, database, data_dir, "cust_a1x", *BASIS)
    r = _post(
        client,
        billing,
        "/invoices/quarterly",
        {"customer_id": w.nodes["cust_a1x"].id, "quarter": "2026-Q2"},
    )
    assert r.status_code == 201, r.text
    inv = r.json()
    assert (inv["type"], inv["period"], inv["status"]) == ("quarterly", "2026-Q2", "ready")
    assert inv["projection"]["method"] == "average_3_months_x3"
    assert inv["projection"]["basis"] == [
        {"period": "2026-01", "amount": "1000.00"},
        {"period": "2026-02", "amount": "1100.00"},
        {"period": "2026-03", "amount": "1200.02"},
    ]
    # 3,300.02 / 3 = 1,100.00666... -> 1,100.01 a month -> 3,300.03 the quarter.
    assert (inv["projection"]["projected_amount"], inv["projection"]["override_amount"]) == (
        "3300.03",
        None,
    )
    assert _lines(inv) == [("projection", "3", "month", "3300.03"), ("tax", "1", "", "660.01")]
    assert (inv["subtotal"], inv["tax"], inv["total"]) == ("3300.03", "660.01", "3960.04")

    issued = _post(client, billing, f"/invoices/{inv['id']}/issue").json()
    assert issued["status"] == "issued"
    prefix = issued["number"].rsplit("-", 1)[0]

    # Too early for the true-up? No: every month of 2026-Q2 has closed, but
    # they are not billed yet (accounts owned, no published run).
    early = _post(client, billing, f"/invoices/{inv['id']}/true-up")
    assert early.status_code == 409, early.text
    assert "2026-04 has no published billing run" in early.json()["detail"]

    _months(
        database,
        billing,
        "cust_a1x",
        {"2026-04": "1150.00", "2026-05": "1180.00", "2026-06": "1240.00"},
    )
    recalc(client, billing, database, data_dir, "cust_a1x", *ACTUAL)
    r = _post(client, billing, f"/invoices/{inv['id']}/true-up")
    assert r.status_code == 201, r.text
    done = r.json()
    assert (done["actual"], done["charged"], done["difference"]) == (
        "3570.00",
        "3300.03",
        "269.97",
    )
    doc = done["document"]
    assert (doc["type"], doc["period"], doc["status"], doc["true_up_of"]) == (
        "true_up",
        "2026-Q2",
        "ready",
        inv["id"],
    )
    assert _lines(doc) == [("true_up", "1", "", "269.97"), ("tax", "1", "", "53.99")]
    assert (doc["subtotal"], doc["tax"], doc["total"]) == ("269.97", "53.99", "323.96")
    quarter = _get(client, billing, inv["id"])
    assert quarter["trued_up_by"] == doc["id"]
    assert quarter["projection"]["actuals"] == [
        {"period": "2026-04", "amount": "1150.00"},
        {"period": "2026-05", "amount": "1180.00"},
        {"period": "2026-06", "amount": "1240.00"},
    ]
    assert (quarter["projection"]["actual_amount"], quarter["projection"]["difference"]) == (
        "3570.00",
        "269.97",
    )
    # Same gapless series as the quarterly invoice.
    true_up = _post(client, billing, f"/invoices/{doc['id']}/issue").json()
    assert true_up["number"] == f"{prefix}-000002"
    assert issued["number"] == f"{prefix}-000001"
    # Written once.
    again = _post(client, billing, f"/invoices/{inv['id']}/true-up")
    assert again.status_code == 409
    assert "trued up" in again.json()["detail"]

    # The PDF states the method, the basis and the true-up; the CSV works.
    pdf = client.get(f"/api/v1/invoices/{inv['id']}/pdf", headers=w.headers(ADMIN))
    assert pdf.status_code == 200
    words = " ".join(_text(pdf.content, tmp_path).split())
    assert "Projection method: average of the 3 completed months before the quarter × 3" in (words)
    assert "Basis: 2026-01 1,000.00; 2026-02 1,100.00; 2026-03 1,200.02" in words
    assert "Projected: 3,300.03 EUR" in words
    assert "Trued up: actual 3,570.00 EUR" in words
    assert "difference 269.97 EUR" in words
    csv = client.get(f"/api/v1/invoices/{doc['id']}/csv", headers=w.headers(ADMIN))
    assert csv.status_code == 200
    assert "269.97" in csv.text
    assert "323.96" in csv.text
    _einvoices(client, billing, database, inv["id"])
    _einvoices(client, billing, database, doc["id"])
    # The list filters by the new type.
    listed = client.get("/api/v1/invoices?type=true_up", headers=w.headers(ADMIN)).json()
    assert [i["id"] for i in listed["items"]] == [doc["id"]]
    assert listed["items"][0]["true_up_of"] == inv["id"]


def test_example_2_override_then_a_true_up_credit_note(
    client: TestClient, billing: Billing, database: Database, data_dir: Path, tmp_path: Path
) -> None:
    """docs/invoicing.md, Quarterly invoices, example 2."""
    w = billing.world
    _tax(database, billing, "cust_a1y", "0.20")
    _quarterly_contract(client, billing, "cust_a1y")
    _months(
        database,
        billing,
        "cust_a1y",
        {"2026-01": "500.00", "2026-02": "520.00", "2026-03": "540.00"},
    )
    recalc(client, billing, database, data_dir, "cust_a1y", *BASIS)
    body = {"customer_id": w.nodes["cust_a1y"].id, "quarter": "2026-Q2"}
    # An override needs its reason.
    r = _post(client, billing, "/invoices/quarterly", {**body, "override_amount": "1800.00"})
    assert r.status_code == 422, r.text
    assert "reason" in r.json()["detail"]
    r = _post(
        client,
        billing,
        "/invoices/quarterly",
        {**body, "override_amount": "1800.00", "reason": "40 VMs migrate in May"},
    )
    assert r.status_code == 201, r.text
    inv = r.json()
    projection = inv["projection"]
    assert (
        projection["projected_amount"],
        projection["override_amount"],
        projection["override_reason"],
        projection["charged_amount"],
    ) == ("1560.00", "1800.00", "40 VMs migrate in May", "1800.00")
    assert _lines(inv) == [("projection", "1", "quarter", "1800.00"), ("tax", "1", "", "360.00")]
    assert inv["total"] == "2160.00"
    # The override and its reason are in the audit log.
    with database.session() as s:
        entry = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "projection",
                AuditEntry.object_type == "invoices",
                AuditEntry.object_id == str(inv["id"]),
            )
        ).one()
        changes = json.loads(entry.changes)
        assert "40 VMs migrate in May" in json.dumps(changes)
        assert "1800.00" in json.dumps(changes)
    issued = _post(client, billing, f"/invoices/{inv['id']}/issue").json()
    pdf = client.get(f"/api/v1/invoices/{inv['id']}/pdf", headers=w.headers(ADMIN))
    words = " ".join(_text(pdf.content, tmp_path).split())
    assert "Override: 1,800.00 EUR charged instead of the projection." in words
    assert "Reason: 40 VMs migrate in May" in words
    assert "Projected: 1,560.00 EUR" in words

    _months(
        database,
        billing,
        "cust_a1y",
        {"2026-04": "520.00", "2026-05": "560.00", "2026-06": "580.00"},
    )
    recalc(client, billing, database, data_dir, "cust_a1y", *ACTUAL)
    r = _post(client, billing, f"/invoices/{inv['id']}/true-up")
    assert r.status_code == 201, r.text
    done = r.json()
    assert (done["actual"], done["charged"], done["difference"]) == (
        "1660.00",
        "1800.00",
        "-140.00",
    )
    note = done["document"]
    assert (note["type"], note["status"], note["credits"], note["true_up_of"]) == (
        "credit_note",
        "issued",
        inv["id"],
        inv["id"],
    )
    assert note["number"] == issued["number"].rsplit("-", 1)[0] + "-CN-000001"
    assert _lines(note) == [("true_up", "1", "", "-140.00"), ("tax", "1", "", "-28.00")]
    assert note["total"] == "-168.00"
    # The credit note settles what was owed on the quarterly invoice, which
    # stays Issued (not Credited: it was right for what it said).
    assert (note["applied"], note["open_amount"]) == ("168.00", "0.00")
    quarter = _get(client, billing, inv["id"])
    assert (quarter["status"], quarter["trued_up_by"], quarter["credited_by"]) == (
        "issued",
        note["id"],
        None,
    )
    assert (quarter["amount_credited"], quarter["outstanding"]) == ("168.00", "1992.00")
    _einvoices(client, billing, database, inv["id"])
    _einvoices(client, billing, database, note["id"])
    # Paying the rest marks it Paid.
    r = client.post(
        f"/api/v1/invoices/{inv['id']}/payments",
        json={"amount": "1992.00", "date": date.today().isoformat(), "reference": "SEPA"},
        headers=w.headers(PARTNER),
    )
    assert r.status_code == 201, r.text
    assert _get(client, billing, inv["id"])["status"] == "paid"


def test_quarterly_refusals(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    w = billing.world
    cust = w.nodes["cust_a1x"].id
    body = {"customer_id": cust, "quarter": "2026-Q2"}
    # A monthly contract: the field to change is named.
    r = _post(client, billing, "/invoices/quarterly", body)
    assert r.status_code == 422
    assert "invoice_type" in r.json()["detail"]
    # A monthly invoice in the quarter: billed twice otherwise.
    _months(database, billing, "cust_a1x", dict.fromkeys((*BASIS, *ACTUAL), "100.00"))
    recalc(client, billing, database, data_dir, "cust_a1x", *BASIS, "2026-04")
    monthly = _post(
        client, billing, "/invoices/generate", {"customer_id": cust, "period": "2026-04"}
    )
    assert monthly.status_code == 201, monthly.text
    _quarterly_contract(client, billing, "cust_a1x")
    r = _post(client, billing, "/invoices/quarterly", body)
    assert r.status_code == 409
    assert "2026-04" in r.json()["detail"]
    # A quarterly customer gets no monthly invoice.
    r = _post(client, billing, "/invoices/generate", {"customer_id": cust, "period": "2026-03"})
    assert r.status_code == 422
    assert "invoiced quarterly" in r.json()["detail"]
    # Bad input names the field; a basis month still open is refused.
    for bad, field in (
        ({**body, "quarter": "2026-Q5"}, "quarter"),
        ({**body, "quarter": "2026-07"}, "quarter"),
        ({**body, "quarter": "0000-Q1"}, "quarter"),
        ({**body, "quarter": "1999-Q4"}, "quarter"),
        ({**body, "override_amount": 100.5}, "override_amount"),
        ({**body, "override_amount": "-5.00", "reason": "x"}, "override_amount"),
        ({**body, "override_amount": "10.001", "reason": "x"}, "override_amount"),
        ({**body, "reason": "no override"}, "reason"),
    ):
        r = _post(client, billing, "/invoices/quarterly", bad)
        assert r.status_code == 422, (bad, r.text)
        assert field in r.text, (bad, r.text)
    r = _post(client, billing, "/invoices/quarterly", {**body, "quarter": "2027-Q1"})
    assert r.status_code == 422
    assert "has not closed yet" in r.json()["detail"]
    # Only platform roles generate invoices (seed 003).
    r = _post(client, billing, "/invoices/quarterly", {**body, "quarter": "2026-Q1"}, who=PARTNER)
    assert r.status_code == 403
    # A customer outside the caller's subtree reads as missing... for the
    # platform there is none; an unknown id is 404.
    r = _post(client, billing, "/invoices/quarterly", {**body, "customer_id": 99999})
    assert r.status_code == 404
    # A true-up of a monthly invoice, or of a Ready quarterly one, is refused.
    r = _post(client, billing, f"/invoices/{monthly.json()['id']}/true-up")
    assert r.status_code == 409
    r = _post(client, billing, "/invoices/quarterly", {**body, "quarter": "2026-Q1"})
    assert r.status_code == 422  # 2025-10..12 are before the contract: nothing to project
    assert "override_amount" in r.json()["detail"]


def test_a_new_version_supersedes_a_ready_one_and_an_issued_one_is_kept(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    w = billing.world
    _quarterly_contract(client, billing, "cust_a1x")
    _months(database, billing, "cust_a1x", dict.fromkeys(BASIS, "300.00"))
    recalc(client, billing, database, data_dir, "cust_a1x", *BASIS)
    body = {"customer_id": w.nodes["cust_a1x"].id, "quarter": "2026-Q2"}
    first = _post(client, billing, "/invoices/quarterly", body).json()
    second = _post(
        client, billing, "/invoices/quarterly", {**body, "override_amount": "1000", "reason": "cap"}
    ).json()
    assert _get(client, billing, first["id"])["status"] == "superseded"
    assert (second["replaces"], second["version"], second["total"]) == (first["id"], 2, "1200.00")
    _post(client, billing, f"/invoices/{second['id']}/issue")
    r = _post(client, billing, "/invoices/quarterly", body)
    assert r.status_code == 409
    assert "true-up corrects it" in r.json()["detail"]
    # Credited in full, the quarter has no live invoice: a new one may be made.
    r = _post(client, billing, f"/invoices/{second['id']}/credit-note", {"reason": "wrong cap"})
    assert r.status_code == 201, r.text
    assert (r.json()["total"], r.json()["credits"]) == ("-1200.00", second["id"])
    r = _post(client, billing, "/invoices/quarterly", body)
    assert r.status_code == 201, r.text
    third = r.json()
    assert (third["total"], third["projection"]["projected_amount"]) == ("1080.00", "900.00")
    _post(client, billing, f"/invoices/{third['id']}/issue")
    # Months of a quarter with a live quarterly invoice get no monthly invoice,
    # even after the contract goes back to monthly.
    r = client.patch(
        f"/api/v1/contracts/{billing.contract_ids['cust_a1x']}",
        json={"invoice_type": "monthly", "reason": "back to monthly"},
        headers=w.headers(PARTNER),
    )
    assert r.status_code == 200
    _months(database, billing, "cust_a1x", {"2026-05": "10.00"})
    recalc(client, billing, database, data_dir, "cust_a1x", "2026-05")
    r = _post(
        client,
        billing,
        "/invoices/generate",
        {"customer_id": w.nodes["cust_a1x"].id, "period": "2026-05"},
    )
    assert r.status_code == 422
    assert "covered by" in r.json()["detail"]


def test_the_database_keeps_an_issued_projection_and_a_true_up_unchanged(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    w = billing.world
    _quarterly_contract(client, billing, "cust_a1x")
    _months(database, billing, "cust_a1x", dict.fromkeys((*BASIS, *ACTUAL), "300.00"))
    recalc(client, billing, database, data_dir, "cust_a1x", *BASIS, *ACTUAL)
    inv = _post(
        client,
        billing,
        "/invoices/quarterly",
        {"customer_id": w.nodes["cust_a1x"].id, "quarter": "2026-Q2"},
    ).json()
    _post(client, billing, f"/invoices/{inv['id']}/issue")
    for column, value in (
        ("projection_basis", "'[]'"),
        ("projected_amount", "1"),
        ("override_amount", "1"),
        ("override_reason", "'later'"),
        ("projection_method", "'other'"),
    ):
        with pytest.raises(DBAPIError, match="never edited"), database.session() as s:
            s.execute(text(f"UPDATE invoices SET {column} = {value} WHERE id = {inv['id']}"))
    # Actual = charged: trued up with no document, recorded once.
    done = _post(client, billing, f"/invoices/{inv['id']}/true-up")
    assert done.status_code == 200, done.text
    assert (done.json()["difference"], done.json()["document"]) == ("0.00", None)
    for column, value in (("true_up_actual", "1"), ("trued_up_at", "NULL")):
        with pytest.raises(DBAPIError, match="written once"), database.session() as s:
            s.execute(text(f"UPDATE invoices SET {column} = {value} WHERE id = {inv['id']}"))
    with database.session() as s:
        row = s.get(Invoice, inv["id"])
        assert row is not None
        assert row.true_up_actual == Decimal("900.00")


def _cli(database: Database, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RERATE_DATABASE_URL": database.url,
        "RERATE_DATA_DIR": str(data_dir),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return subprocess.run(
        [sys.executable, "-m", "rerate.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_journey(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    """Invoice type, quarterly invoice with an override, issue, true-up: from the shell."""
    w = billing.world
    admin = w.users["platform_admin"].email
    partner = w.users["partner_admin"].email
    cust = str(w.nodes["cust_a1x"].id)
    _months(database, billing, "cust_a1x", dict.fromkeys(BASIS, "100.00"))
    _months(database, billing, "cust_a1x", dict.fromkeys(ACTUAL, "90.00"))
    recalc(client, billing, database, data_dir, "cust_a1x", *BASIS, *ACTUAL)
    contract = str(billing.contract_ids["cust_a1x"])
    r = _cli(database, data_dir, "contracts", "edit", contract, "--invoice-type", "quarterly",
             "--reason", "quarterly from Q2", "--as", partner)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "invoice_type" in r.stdout
    r = _cli(database, data_dir, "invoices", "quarterly", "--customer", cust, "--quarter",
             "2026-Q2", "--override", "330.00", "--as", admin)  # fmt: skip
    assert r.returncode != 0
    assert "reason" in r.stderr
    r = _cli(database, data_dir, "invoices", "quarterly", "--customer", cust, "--quarter",
             "2026-Q2", "--as", partner)  # fmt: skip
    assert r.returncode != 0  # a reseller does not generate invoices
    r = _cli(database, data_dir, "invoices", "quarterly", "--customer", cust, "--quarter",
             "2026-Q2", "--override", "330.00", "--reason", "rounded up",
             "--as", admin)  # fmt: skip
    assert r.returncode == 0, r.stderr
    invoice_id = r.stdout.split("\t")[0]
    assert "\tquarterly" in r.stdout
    said = " ".join(r.stderr.split())
    assert "(2026-01 100.00, 2026-02 100.00, 2026-03 100.00) = 300.00" in said
    assert "override 330.00 (rounded up)" in said
    r = _cli(database, data_dir, "invoices", "issue", invoice_id, "--as", admin)
    assert r.returncode == 0, r.stderr
    r = _cli(database, data_dir, "invoices", "true-up", invoice_id, "--as", admin)
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stderr.split())
    assert "actual 270.00 less charged 330.00 = -60.00 EUR" in said
    assert "credit note" in said
    assert "\tcredit_note" in r.stdout
    r = _cli(database, data_dir, "invoices", "list", "--type", "quarterly", "--as", admin)
    assert r.returncode == 0, r.stderr
    assert invoice_id in r.stdout


# ------------------------------------------------------------------ property

_CENTS = st.integers(min_value=-10_000_000, max_value=100_000_000).map(
    lambda c: Decimal(c).scaleb(-2)
)


@given(
    basis=st.lists(_CENTS, min_size=3, max_size=3),
    actual=st.lists(_CENTS, min_size=3, max_size=3),
    mode=st.sampled_from(list(RoundingMode)),
    currency=st.sampled_from(["EUR", "JPY", "BHD"]),
)
def test_projection_plus_true_up_is_actual(
    basis: list[Decimal], actual: list[Decimal], mode: RoundingMode, currency: str
) -> None:
    """For any monthly amounts: the projection is three equal months at the
    minor unit, within 3 minor units of the basis sum, and the quarter's
    charge plus its true-up difference is the actual charges, exactly."""
    basis = [round_money(a, currency) for a in basis]
    actual = [round_money(a, currency) for a in actual]
    p = quarterly.project(basis, currency, mode)
    assert p.quarter == 3 * p.monthly
    assert round_money(p.monthly, currency) == p.monthly
    unit = Decimal(1).scaleb(-{"EUR": 2, "JPY": 0, "BHD": 3}[currency])
    assert abs(p.quarter - sum(basis)) <= 3 * unit
    diff = quarterly.difference(sum(actual, Decimal(0)), p.quarter)
    assert p.quarter + diff == sum(actual, Decimal(0))
    assert round_money(diff, currency) == diff


def test_quarters_parse_and_step() -> None:
    q = quarterly.Quarter.parse("2026-Q1")
    assert str(q.previous()) == "2025-Q4"
    assert [str(m) for m in q.months()] == ["2026-01", "2026-02", "2026-03"]
    assert [str(m) for m in q.previous().months()] == ["2025-10", "2025-11", "2025-12"]
    for bad in ("2026-Q0", "2026-Q5", "2026-3", "26-Q1", " "):
        with pytest.raises(ValueError, match="YYYY-Qn"):
            quarterly.Quarter.parse(bad)


def test_the_console_journey(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    """Set the invoice type on the contract page, generate a quarterly invoice
    with an override from the invoices page, issue it, true it up, and read
    the projection and the true-up on the invoice page."""
    w = billing.world
    platform = w.headers(ADMIN)
    contract = billing.contract_ids["cust_a1x"]
    page = client.get(f"/contracts/{contract}", headers=w.headers(PARTNER)).text
    assert 'name="invoice_type"' in page
    r = client.post(
        f"/contracts/{contract}/terms",
        data={
            "name": "A1X",
            "payment_terms_days": "30",
            "invoice_type": "quarterly",
            "reason": "quarterly from Q2",
        },
        headers=w.headers(PARTNER),
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get(f"/contracts/{contract}", headers=w.headers(PARTNER)).text
    assert "Quarterly (in advance, trued up)</dd>" in page
    _months(database, billing, "cust_a1x", dict.fromkeys(BASIS, "100.00"))
    _months(database, billing, "cust_a1x", dict.fromkeys(ACTUAL, "120.00"))
    recalc(client, billing, database, data_dir, "cust_a1x", *BASIS, *ACTUAL)

    listing = client.get("/invoices", headers=platform).text
    assert 'action="/invoices/quarterly"' in listing
    # A reseller does not generate invoices: no form.
    assert (
        'action="/invoices/quarterly"'
        not in client.get("/invoices", headers=w.headers(PARTNER)).text
    )
    form = {"customer_id": str(w.nodes["cust_a1x"].id), "quarter": "2026-Q2"}
    refused = client.post(
        "/invoices/quarterly", data={**form, "override_amount": "350"}, headers=platform
    )
    assert refused.status_code == 422
    assert "reason" in refused.text.lower()
    done = client.post(
        "/invoices/quarterly",
        data={**form, "override_amount": "350.00", "reason": "growth expected"},
        headers=platform,
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    location = done.headers["location"]
    invoice_id = int(location.rsplit("/", 1)[1])
    page = client.get(location, headers=platform).text
    assert "average of the 3 completed months before the quarter × 3" in page
    assert "2026-01: 100.00; 2026-02: 100.00; 2026-03: 100.00" in page
    assert "300.00 EUR" in page  # projected
    assert "350.00 EUR: growth expected" in page  # the override and its reason
    assert "True up</button>" not in page  # Ready: issue it first
    listing = client.get("/invoices", headers=platform).text
    assert ">Quarterly</span>" in listing
    r = client.post(f"/invoices/{invoice_id}/issue", headers=platform, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(location, headers=platform).text
    assert "True up</button>" in page
    r = client.post(f"/invoices/{invoice_id}/true-up", headers=platform, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(location, headers=platform).text
    # 3 x 120.00 = 360.00 actual, 350.00 charged: 10.00 more, a true-up invoice.
    assert "actual 360.00 EUR (2026-04: 120.00; 2026-05: 120.00; 2026-06: 120.00)" in page
    assert "difference 10.00 EUR" in page
    assert "true-up invoice #" in page
    assert "True up</button>" not in page
    with database.session() as s:
        doc_id = s.scalars(select(Invoice.id).where(Invoice.true_up_of_id == invoice_id)).one()
    doc_page = client.get(f"/invoices/{doc_id}", headers=platform).text
    assert f'href="/invoices/{invoice_id}"' in doc_page
    assert "True-up of" in doc_page
    # Again: refused with the reason, on the invoice page.
    again = client.post(f"/invoices/{invoice_id}/true-up", headers=platform)
    assert again.status_code == 409
    assert "trued up" in again.text
