"""Payments: partial and full, reversal, over-payment, due date and overdue,
permissions and tenant scope, and what a customer user sees."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rerate.app import create_app
from rerate.auth import service as auth
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from rerate.models import AuditEntry, Invoice, Payment
from rerate.models.enums import Role
from tests.api.live import LiveServer
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_billing_utilities import PARTNER
from tests.invoicing.ledger_helpers import generate, issue, recalc
from tests.world import World

TODAY = datetime.now(UTC).astimezone(ZoneInfo("Europe/Paris")).date()


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


@pytest.fixture
def issued(client: TestClient, billing: Billing, database: Database, data_dir: Path) -> dict:
    """cust_a1x's September invoice, issued: 84.80 + 20 % tax = 101.76."""
    recalc(client, billing, database, data_dir, "cust_a1x", "2026-09")
    inv = issue(client, billing, generate(client, billing, "cust_a1x", "2026-09").json()["id"])
    assert inv["total"] == "101.76"
    return inv


def _pay(client: TestClient, w: World, invoice_id: int, amount: str, who: str = PARTNER):
    return client.post(
        f"/api/v1/invoices/{invoice_id}/payments",
        json={"amount": amount, "date": TODAY.isoformat(), "reference": "SEPA 42"},
        headers=w.headers(who),
    )


def test_due_date_is_set_at_issue_from_the_contract_terms(issued: dict) -> None:
    # The test contract keeps the default terms, 30 days.
    assert issued["due_date"] == (TODAY + timedelta(days=30)).isoformat()


def test_partial_then_full_payment_marks_paid_and_a_reversal_reopens_it(
    client: TestClient, billing: Billing, database: Database, issued: dict
) -> None:
    w = billing.world
    first = _pay(client, w, issued["id"], "50.00")
    assert first.status_code == 201, first.text
    assert first.json()["invoice"]["outstanding"] == "51.76"
    assert first.json()["invoice"]["invoice_status"] == "issued"
    over = _pay(client, w, issued["id"], "51.77")
    assert over.status_code == 422
    assert "more than the 51.76" in over.json()["detail"]
    assert _pay(client, w, issued["id"], "0.001").status_code == 422  # below the minor unit
    assert _pay(client, w, issued["id"], "-1").status_code == 422
    rest = _pay(client, w, issued["id"], "51.76")
    assert rest.status_code == 201, rest.text
    assert rest.json()["invoice"]["invoice_status"] == "paid"
    got = client.get(f"/api/v1/invoices/{issued['id']}", headers=w.headers(PARTNER)).json()
    assert (got["status"], got["amount_paid"], got["outstanding"]) == ("paid", "101.76", "0.00")
    assert _pay(client, w, issued["id"], "1.00").status_code == 409  # paid in full

    no_reason = client.post(
        f"/api/v1/payments/{rest.json()['id']}/reversal",
        json={"reason": ""},
        headers=w.headers(PARTNER),
    )
    assert no_reason.status_code == 422
    rev = client.post(
        f"/api/v1/payments/{rest.json()['id']}/reversal",
        json={"reason": "bounced"},
        headers=w.headers(PARTNER),
    )
    assert rev.status_code == 201, rev.text
    assert rev.json()["amount"] == "-51.76"
    assert rev.json()["invoice"]["invoice_status"] == "issued"
    assert rev.json()["invoice"]["outstanding"] == "51.76"
    twice = client.post(
        f"/api/v1/payments/{rest.json()['id']}/reversal",
        json={"reason": "again"},
        headers=w.headers(PARTNER),
    )
    assert twice.status_code == 409
    listed = client.get(
        f"/api/v1/invoices/{issued['id']}/payments", headers=w.headers(PARTNER)
    ).json()
    assert [p["amount"] for p in listed["items"]] == ["50.00", "51.76", "-51.76"]
    assert [p["reversed"] for p in listed["items"]] == [False, True, False]
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 3  # nothing deleted
        actions = set(
            s.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "invoices"))
        )
        assert {"payment", "payment_reversal"} <= actions


def test_overdue_is_derived_from_the_due_date_and_shows_in_the_balance(
    client: TestClient, billing: Billing, database: Database, issued: dict
) -> None:
    w = billing.world
    assert _pay(client, w, issued["id"], "1.76").status_code == 201
    with database.session() as s:
        inv = s.get(Invoice, issued["id"])
        assert inv is not None
        inv.due_date = TODAY - timedelta(days=1)
    got = client.get(f"/api/v1/invoices/{issued['id']}", headers=w.headers(PARTNER)).json()
    assert got["overdue"] is True
    assert got["status"] == "issued"  # overdue is not a stored status
    cust = w.nodes["cust_a1x"].id
    [eur] = client.get(f"/api/v1/customers/{cust}/balance", headers=w.headers(PARTNER)).json()[
        "items"
    ]
    assert eur == {
        "currency": "EUR",
        "invoiced": "101.76",
        "paid": "1.76",
        "credited": "0.00",
        "outstanding": "100.00",
        "overdue": "100.00",
        "credit": "0.00",
        "open_credit_notes": "0.00",
    }


def test_customer_users_cannot_record_payments_and_other_subtrees_get_404(
    client: TestClient, billing: Billing, database: Database, issued: dict
) -> None:
    w = billing.world
    assert _pay(client, w, issued["id"], "1.00", who="customer_user").status_code == 403
    assert _pay(client, w, issued["id"], "1.00", who="partner_user").status_code == 403
    assert _pay(client, w, issued["id"], "1.00", who="distributor").status_code == 201
    with database.session() as s:
        other = auth.create_user(s, "a2@test.example", name="a2", password=None)
        auth.assign_role(s, other, role=Role.PARTNER_ADMIN, node=s.merge(w.nodes["partner_a2"]))
        _key, secret = auth.create_api_key(s, other)
        payment_id = s.scalar(select(Payment.id))
    outsider = {"Authorization": f"Bearer {secret}"}
    r = client.post(
        f"/api/v1/invoices/{issued['id']}/payments",
        json={"amount": "1.00", "date": TODAY.isoformat()},
        headers=outsider,
    )
    assert r.status_code == 404
    r = client.post(
        f"/api/v1/payments/{payment_id}/reversal", json={"reason": "x"}, headers=outsider
    )
    assert r.status_code == 404
    cust = w.nodes["cust_a1x"].id
    assert client.get(f"/api/v1/customers/{cust}/balance", headers=outsider).status_code == 404


def test_customer_users_see_only_sent_invoices(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
) -> None:
    w = billing.world
    recalc(client, billing, database, data_dir, "cust_a1x", "2026-08", "2026-09")
    ready = generate(client, billing, "cust_a1x", "2026-08").json()
    sent = issue(client, billing, generate(client, billing, "cust_a1x", "2026-09").json()["id"])
    me = w.headers("customer_user")
    listed = client.get("/api/v1/invoices", headers=me).json()
    assert [i["id"] for i in listed["items"]] == [sent["id"]]
    assert listed["total"] == 1
    assert client.get(f"/api/v1/invoices/{ready['id']}", headers=me).status_code == 404
    assert client.get(f"/api/v1/invoices/{ready['id']}/pdf", headers=me).status_code == 404
    assert client.get(f"/api/v1/invoices/{sent['id']}", headers=me).status_code == 200
    # the reseller still sees its Ready draft
    partner = client.get("/api/v1/invoices", headers=w.headers(PARTNER)).json()
    assert {i["id"] for i in partner["items"]} == {ready["id"], sent["id"]}


def test_payments_at_once_never_over_pay(
    billing: Billing, database: Database, data_dir: Path, client: TestClient, issued: dict
) -> None:
    """Ten clients pay 60.00 each on a 101.76 invoice: the invoice row lock lets
    exactly one through; the others see 41.76 outstanding and get 422."""
    w = billing.world
    app = create_app(Settings(data_dir=data_dir, database_url=database.url, env="test"), database)
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=60) as http:

        def pay(_i: int) -> httpx.Response:
            return http.post(
                f"/api/v1/invoices/{issued['id']}/payments",
                json={"amount": "60.00", "date": TODAY.isoformat()},
                headers=w.headers(PARTNER),
            )

        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(pay, range(10)))
    assert sorted(r.status_code for r in answers) == [201] + [422] * 9, [r.text for r in answers]
    with database.session() as s:
        assert list(s.scalars(select(Payment.amount))) == [Decimal("60.00")]


def test_the_console_records_a_payment_and_shows_paid_and_overdue(
    client: TestClient, billing: Billing, database: Database, issued: dict
) -> None:
    w = billing.world
    page = client.get(f"/invoices/{issued['id']}", headers=w.headers(PARTNER))
    assert page.status_code == 200
    assert "Record payment" in page.text
    customer_page = client.get(f"/invoices/{issued['id']}", headers=w.headers("customer_user"))
    assert customer_page.status_code == 200
    assert "Record payment" not in customer_page.text  # customers never get the form
    with database.session() as s:
        inv = s.get(Invoice, issued["id"])
        assert inv is not None
        inv.due_date = TODAY - timedelta(days=3)
    listed = client.get("/invoices", headers=w.headers(PARTNER)).text
    assert ">Overdue</span>" in listed
    r = client.post(
        f"/invoices/{issued['id']}/payments",
        data={"amount": "101.76", "date": TODAY.isoformat(), "reference": "wire"},
        headers=w.headers(PARTNER),
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get(f"/invoices/{issued['id']}", headers=w.headers(PARTNER)).text
    assert ">Paid</span>" in page
    assert "Overdue" not in page
    refused = client.post(
        f"/invoices/{issued['id']}/payments",
        data={"amount": "1.00", "date": TODAY.isoformat()},
        headers=w.headers(PARTNER),
    )
    assert refused.status_code == 409
    assert "paid in full" in refused.text


def test_the_customer_page_shows_what_is_outstanding(
    client: TestClient, billing: Billing, issued: dict
) -> None:
    w = billing.world
    assert _pay(client, w, issued["id"], "1.76").status_code == 201
    page = client.get(f"/tenancy/{w.nodes['cust_a1x'].id}", headers=w.headers(PARTNER)).text
    assert 'data-outstanding="EUR">100.00' in page
