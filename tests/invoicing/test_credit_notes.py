"""Credit notes and the correction policy (issue 14 §4): a refresh over a Paid
period credits it and makes a new invoice; the contract's policy decides how
an unpaid Issued one is corrected; credit notes have their own gapless series,
settle what was owed, and their open rest settles the next invoice."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import AuditEntry, Contract, Invoice, Payment
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import PARTNER, drain, job, submit
from tests.invoicing.ledger_helpers import ADMIN, add_one_off, generate, issue, recalc
from tests.operations.helpers import check, failing
from tests.world import World

PERIOD = "2026-09"


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


@pytest.fixture
def issued(client: TestClient, billing: Billing, database: Database, data_dir: Path) -> dict:
    """cust_a1x's September invoice, issued: 84.80 + 20 % tax = 101.76."""
    recalc(client, billing, database, data_dir, "cust_a1x", PERIOD)
    inv = issue(client, billing, generate(client, billing, "cust_a1x", PERIOD).json()["id"])
    assert inv["total"] == "101.76"
    return inv


def _get(client: TestClient, w: World, invoice_id: int, who: str = PARTNER) -> dict[str, Any]:
    r = client.get(f"/api/v1/invoices/{invoice_id}", headers=w.headers(who))
    assert r.status_code == 200, r.text
    return r.json()


def _pay(client: TestClient, w: World, invoice_id: int, amount: str) -> None:
    r = client.post(
        f"/api/v1/invoices/{invoice_id}/payments",
        json={"amount": amount, "date": date.today().isoformat(), "reference": "SEPA 7"},
        headers=w.headers(PARTNER),
    )
    assert r.status_code == 201, r.text


def _refresh(client: TestClient, billing: Billing, database: Database, data_dir: Path) -> dict:
    """A price change (a one-off item of 10.00 in September), recalculated and
    refreshed as a Billing Utilities Admin does."""
    add_one_off(database, billing, "cust_a1x", "10", date(2026, 9, 10))
    recalc(client, billing, database, data_dir, "cust_a1x", PERIOD)
    r = submit(
        client,
        billing.world,
        "invoice-refreshes",
        "cust_a1x",
        [PERIOD],
        reason="other",
        explanation="price change",
    )
    assert r.status_code == 202, r.text
    drain(database, data_dir)
    done = job(client, billing.world, r.json()["jobs"][0]["id"])
    assert done["status"] == "complete", done["error"]
    return {**done["result"], "job_id": done["id"]}


def _policy(database: Database, billing: Billing, policy: str) -> None:
    with database.session() as s:
        contract = s.scalars(
            select(Contract).where(Contract.customer_id == billing.world.nodes["cust_a1x"].id)
        ).one()
        contract.correction_policy = policy
        s.commit()


def test_a_refresh_over_a_paid_period_credits_it_and_makes_a_new_invoice(
    client: TestClient, billing: Billing, database: Database, data_dir: Path, issued: dict
) -> None:
    w = billing.world
    _pay(client, w, issued["id"], "101.76")
    result = _refresh(client, billing, database, data_dir)
    # The paid invoice is credited, never cancelled (default policy: replace).
    assert result["invoices_cancelled"] == []
    assert result["invoices_credited"] == [issued["id"]]
    [note_id] = result["credit_notes_created"]
    original = _get(client, w, issued["id"])
    note = _get(client, w, note_id)
    new = _get(client, w, result["invoice_id"])
    assert (original["status"], original["credited_by"]) == ("credited", note_id)
    assert (note["type"], note["status"], note["credits"]) == (
        "credit_note",
        "issued",
        issued["id"],
    )
    # The seller's own credit-note series: same prefix as its invoices, then CN-.
    seller_prefix = issued["number"].rsplit("-", 1)[0]
    assert note["number"] == f"{seller_prefix}-CN-000001"
    assert note["total"] == "-101.76"
    assert [(ln["description"], ln["amount"]) for ln in note["lines"]] == [
        (ln["description"], f"-{ln['amount']}" if ln["amount"] != "0.00" else "0.00")
        for ln in original["lines"]
    ]
    # Nothing was owed on it: the whole credit note is open for the next invoice.
    assert (note["applied"], note["open_amount"]) == ("0.00", "101.76")
    assert (new["status"], new["replaces"], new["total"]) == ("ready", issued["id"], "113.76")
    # The job page says what the refresh did, linking each document.
    job_page = client.get(f"/billing/jobs/{result['job_id']}", headers=w.headers(PARTNER)).text
    assert "Credit notes issued" in job_page
    assert f'href="/invoices/{note_id}"' in job_page
    assert "Invoices credited" in job_page
    # Issued: the open credit note settles it first; 12.00 is left to pay.
    done = issue(client, billing, new["id"])
    assert (done["status"], done["amount_credited"], done["outstanding"]) == (
        "issued",
        "101.76",
        "12.00",
    )
    assert _get(client, w, note_id)["open_amount"] == "0.00"
    balance = client.get(
        f"/api/v1/customers/{w.nodes['cust_a1x'].id}/balance", headers=w.headers(PARTNER)
    ).json()["items"][0]
    # Only invoices in force count: the credited one and its credit note cancel
    # out; the money paid on it reached the new invoice through the credit note.
    assert {k: balance[k] for k in ("invoiced", "paid", "credited", "outstanding")} == {
        "invoiced": "113.76",
        "paid": "0.00",
        "credited": "101.76",
        "outstanding": "12.00",
    }
    assert balance["open_credit_notes"] == "0.00"
    with database.session() as s:
        applied = s.scalars(select(Payment).where(Payment.credit_note_id == note_id)).all()
        assert [(p.invoice_id, p.amount) for p in applied] == [(new["id"], Decimal("101.76"))]
        audit = s.scalars(
            select(AuditEntry.action).where(
                AuditEntry.object_type == "invoices",
                AuditEntry.action.in_(["credit_note", "credit_applied"]),
            )
        ).all()
        assert sorted(audit) == ["credit_applied", "credit_note"]


def test_the_credit_note_policy_credits_an_unpaid_invoice_and_settles_what_was_owed(
    client: TestClient, billing: Billing, database: Database, data_dir: Path, issued: dict
) -> None:
    w = billing.world
    _policy(database, billing, "credit_note")
    _pay(client, w, issued["id"], "1.76")  # part paid: 100.00 still owed
    result = _refresh(client, billing, database, data_dir)
    [note_id] = result["credit_notes_created"]
    note = _get(client, w, note_id)
    original = _get(client, w, issued["id"])
    # The credit note first settles the 100.00 owed; the 1.76 paid stays open.
    assert (original["status"], original["outstanding"], original["amount_credited"]) == (
        "credited",
        "0.00",
        "100.00",
    )
    assert (note["applied"], note["open_amount"]) == ("100.00", "1.76")
    new = issue(client, billing, result["invoice_id"])
    assert (new["amount_credited"], new["outstanding"]) == ("1.76", "112.00")


def test_the_replace_policy_cancels_an_unpaid_invoice(
    client: TestClient, billing: Billing, database: Database, data_dir: Path, issued: dict
) -> None:
    result = _refresh(client, billing, database, data_dir)
    assert result["invoices_cancelled"] == [issued["id"]]
    assert result["credit_notes_created"] == []
    assert _get(client, billing.world, issued["id"])["status"] == "cancelled"


def test_a_manual_credit_note_numbers_gaplessly_and_is_refused_twice(
    client: TestClient, billing: Billing, database: Database, data_dir: Path, issued: dict
) -> None:
    w = billing.world
    url = f"/api/v1/invoices/{issued['id']}/credit-note"
    assert client.post(url, json={"reason": ""}, headers=w.headers(ADMIN)).status_code == 422
    # A Billing Utilities Admin refreshes; crediting by hand is invoice generation's.
    assert client.post(url, json={"reason": "x"}, headers=w.headers(PARTNER)).status_code == 403
    r = client.post(url, json={"reason": "wrong customer"}, headers=w.headers(ADMIN))
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["number"].endswith("-CN-000001")
    again = client.post(url, json={"reason": "again"}, headers=w.headers(ADMIN))
    assert again.status_code == 409
    assert "credited" in again.json()["detail"]
    # The period has no live invoice now: generation makes a new one, which
    # is credited in turn with the next number of the credit-note series.
    second = generate(client, billing, "cust_a1x", PERIOD).json()
    issue(client, billing, second["id"])
    r2 = client.post(
        f"/api/v1/invoices/{second['id']}/credit-note",
        json={"reason": "again wrong"},
        headers=w.headers(ADMIN),
    )
    assert r2.status_code == 201, r2.text
    assert r2.json()["number"].endswith("-CN-000002")
    # A credit note takes no payments and is not credited itself.
    pay = client.post(
        f"/api/v1/invoices/{first['id']}/payments",
        json={"amount": "1.00", "date": date.today().isoformat(), "reference": ""},
        headers=w.headers(PARTNER),
    )
    assert pay.status_code == 409
    assert (
        client.post(
            f"/api/v1/invoices/{first['id']}/credit-note",
            json={"reason": "x"},
            headers=w.headers(ADMIN),
        ).status_code
        == 409
    )
    # The customer's own user sees the credited invoice and the credit notes.
    listed = client.get(
        "/api/v1/invoices?type=credit_note", headers=w.headers("customer_user")
    ).json()
    assert {i["number"] for i in listed["items"]} == {first["number"], r2.json()["number"]}
    assert _get(client, w, issued["id"], "customer_user")["status"] == "credited"


def test_an_allocation_is_not_reversed_like_a_payment(
    client: TestClient, billing: Billing, database: Database, issued: dict
) -> None:
    w = billing.world
    _pay(client, w, issued["id"], "1.76")
    r = client.post(
        f"/api/v1/invoices/{issued['id']}/credit-note",
        json={"reason": "goodwill"},
        headers=w.headers(ADMIN),
    )
    assert r.status_code == 201, r.text
    with database.session() as s:
        allocation, money = (
            s.scalars(select(Payment).where(Payment.credit_note_id.is_not(None))).one(),
            s.scalars(select(Payment).where(Payment.credit_note_id.is_(None))).one(),
        )
    for payment_id, words in ((allocation.id, "not money received"), (money.id, "credited")):
        rev = client.post(
            f"/api/v1/payments/{payment_id}/reversal",
            json={"reason": "bounced"},
            headers=w.headers(PARTNER),
        )
        assert rev.status_code == 409, rev.text
        assert words in rev.json()["detail"]


def test_a_refresh_never_makes_a_period_s_first_invoice(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    recalc(client, billing, database, data_dir, "cust_a1x", PERIOD)
    r = submit(
        client,
        billing.world,
        "invoice-refreshes",
        "cust_a1x",
        [PERIOD],
        reason="other",
        explanation="first",
    )
    assert r.status_code == 422
    assert "no invoice for 2026-09 to refresh" in r.json()["detail"]
    with database.session() as s:
        assert s.scalars(select(Invoice)).all() == []


def test_the_policy_is_a_contract_term(client: TestClient, billing: Billing) -> None:
    w = billing.world
    [contract] = client.get(
        f"/api/v1/contracts?customer_id={w.nodes['cust_a1x'].id}", headers=w.headers(ADMIN)
    ).json()["items"]
    assert contract["correction_policy"] == "replace"  # the default
    url = f"/api/v1/contracts/{contract['id']}"
    bad = client.patch(
        url, json={"correction_policy": "void", "reason": "x"}, headers=w.headers(ADMIN)
    )
    assert bad.status_code == 422
    ok = client.patch(
        url,
        json={"correction_policy": "credit_note", "reason": "finance asks"},
        headers=w.headers(ADMIN),
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["correction_policy"] == "credit_note"
    assert ok.json()["changed"] == ["correction_policy"]


def test_rerate_check_accepts_credit_notes_and_their_series(
    client: TestClient, billing: Billing, database: Database, data_dir: Path, issued: dict
) -> None:
    _pay(client, billing.world, issued["id"], "101.76")
    result = _refresh(client, billing, database, data_dir)
    issue(client, billing, result["invoice_id"])
    report = check(database, data_dir)
    # Credit notes carry an issue record and their series runs 1, 2, 3 ...;
    # the credited invoice's lines still add up to its total.
    assert failing(report) == {}
