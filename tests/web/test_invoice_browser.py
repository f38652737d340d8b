"""Invoices a finance team sends, in a real browser (issue 14, "Done when").

One journey through the console, as the people who do it: the reseller
refreshes an issued invoice after a price change; the customer's user never
sees the Ready draft, and sees the new invoice once the platform issues it,
with the right PDF; the reseller records the payment and the invoice shows
Paid; a later refresh over the paid period yields a credit note and a new
invoice, which the credit note settles when it is issued.

The server runs with its in-process worker (jobs really run) on SQLite and,
when configured, PostgreSQL. The price change is written to the database as
a finance team's one-off charge would be (the catalogue's console has its own
browser tests).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rerate.app import create_app
from rerate.auth import service as auth
from rerate.auth.secrets import hash_password
from rerate.billing import utilities
from rerate.billing.tasks import handlers
from rerate.invoicing import service as invoicing
from rerate.invoicing.generate import generate_for
from rerate.jobs.worker import Worker
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from rerate.models import CustomLineItem, Invoice, Node, User
from rerate.models.enums import JobType, ReasonCode
from tests.billing.fixtures import build_billing
from tests.browser import PASSWORD
from tests.invoicing.test_pdf import _text as pdf_text
from tests.web.test_browser import (
    JOB_TIMEOUT_MS,
    Live,
    LiveServer,
    fill_operation,
    log_in,
    open_operation,
    shot,
)
from tests.world import World, build_world

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

PERIOD = "2026-08"


def _seed(db: Database, data_dir: Path, world: World) -> None:
    """Cust A1x's August: recalculated, invoiced and issued; the platform admin
    and the customer's user can log in."""
    with db.session() as s:
        for name in ("platform_admin", "customer_user"):
            user = s.get(User, world.users[name].id)
            assert user is not None
            user.password_hash = hash_password(PASSWORD)
        partner = s.get(User, world.users["partner_admin"].id)
        assert partner is not None
        utilities.submit(
            s,
            auth.principal_for(s, partner, via="session"),
            JobType.RECALCULATION,
            customer_id=world.nodes["cust_a1x"].id,
            periods=[PERIOD],
            reason=ReasonCode.PRICE_BOOK_UPDATE,
        )
    worker = Worker(db, handlers=handlers(data_dir), lease_s=30, expand=None)
    while worker.run_once():
        pass
    with db.session() as s:
        customer = s.get(Node, world.nodes["cust_a1x"].id)
        assert customer is not None
        invoicing.issue(s, generate_for(s, customer, PERIOD).invoice)


@pytest.fixture(scope="module")
def live(
    module_database: Database, tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("invoice-web-data")
    with module_database.session() as s:
        world = build_world(s)
    build_billing(module_database, data_dir, world)
    _seed(module_database, data_dir, world)
    settings = Settings(
        data_dir=data_dir, database_url=module_database.url, env="test", worker_poll_s=1.0
    )
    app = create_app(settings, module_database, in_process_worker=True)
    with LiveServer(app) as server:
        yield Live(server.url, world, module_database, None)


@pytest.fixture
def tab(browser: Any, live: Live) -> Iterator[Any]:
    context = _new_context(browser, live)
    yield context.new_page()
    context.close()


def _charge(live: Live, amount: str, description: str) -> None:
    """The price change: a one-off charge dated in August, agreed after it closed."""
    with live.db.session() as s:
        s.add(
            CustomLineItem(
                customer_id=live.node_id("cust_a1x"),
                description=description,
                amount=Decimal(amount),
                currency="EUR",
                one_off_date=date(2026, 8, 20),
            )
        )
        s.commit()


def _run(page: Any, button: str, title: str, kind: str, reason: str) -> None:
    """Run a billing-utilities operation for Cust A1x's August and wait for it."""
    from playwright.sync_api import expect

    page.goto("/billing/utilities")
    rows = page.locator("#job-log tbody tr[data-job-id]").filter(has_text=kind)
    rows = rows.filter(has_text="Cust A1x").filter(has_text=PERIOD)
    before = rows.count()
    dialog = open_operation(page, button, title)
    fill_operation(dialog, "Cust A1x", PERIOD, reason)
    dialog.get_by_role("button", name=f"Run {title.lower()}").click()
    try:
        expect(page.get_by_role("dialog", name=title)).to_have_count(0)
    except AssertionError:
        raise AssertionError(dialog.inner_text()) from None
    expect(rows).to_have_count(before + 1)  # the log lists the newest job first
    expect(rows.first.locator(".badge")).to_have_text("Complete", timeout=JOB_TIMEOUT_MS)


def _row(page: Any, invoice_id: str | int) -> Any:
    return page.locator(f"#invoice-{invoice_id}")


def _new_context(browser: Any, live: Live) -> Any:
    context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    # Generous: the periods of a dialog load over htmx, slow on a loaded machine.
    context.set_default_timeout(20_000)
    return context


def _issue(browser: Any, live: Live, invoices: str, invoice_id: str) -> str:
    """The platform admin issues a Ready invoice from the invoices page; its number."""
    from playwright.sync_api import expect

    context = _new_context(browser, live)
    try:
        admin = context.new_page()
        log_in(admin, "platform_admin@test.example", start=invoices)
        _row(admin, invoice_id).get_by_role("button", name=f"Issue invoice #{invoice_id}").click()
        expect(admin.locator(".alert-success")).to_contain_text(f"Invoice #{invoice_id} issued as")
        # Paid at once when open credit notes cover it.
        expect(_row(admin, invoice_id).locator(".badge").first).to_have_text(
            re.compile("^(Issued|Paid)$")
        )
        return str(_row(admin, invoice_id).locator("td[data-label=Number]").inner_text()).strip()
    finally:
        context.close()


def test_refresh_issue_pay_and_credit_note_journey(
    tab: Any, live: Live, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = tab
    cid = live.node_id("cust_a1x")
    invoices = f"/invoices?customer_id={cid}&period={PERIOD}"
    with live.db.session() as s:
        [first] = s.scalars(select(Invoice).where(Invoice.customer_id == cid)).all()
        first_id, first_number, first_total = first.id, first.number, first.total

    # 1. The reseller refreshes the issued invoice after a price change.
    log_in(page, "partner_admin@test.example")
    _charge(live, "40.00", "Port-out fee agreed in September")
    _run(page, "Run recalculation", "Data recalculation", "Recalc.", "Price book update")
    _run(page, "Run refresh", "Invoice refresh", "Refresh", "Incorrect charges")
    page.goto(invoices)
    expect(_row(page, first_id).locator(".badge").first).to_have_text("Cancelled")
    ready = page.locator("table.invoices tbody tr[data-status=ready]")
    expect(ready).to_have_count(1)
    second_id = ready.get_attribute("data-invoice-id")
    assert second_id is not None
    expect(ready).to_contain_text(f"Replaces #{first_id}")

    # 2. The customer's user never sees the draft: not listed, not reachable.
    customer_ctx = _new_context(browser, live)
    customer = customer_ctx.new_page()
    log_in(customer, "customer_user@test.example", start="/invoices")
    expect(_row(customer, first_id)).to_be_visible()  # the one it was sent
    expect(_row(customer, second_id)).to_have_count(0)
    assert customer.goto(f"/invoices/{second_id}").status == 404  # type: ignore[union-attr]

    # 3. The platform issues it; the customer sees it, with the right PDF.
    second_number = _issue(browser, live, invoices, second_id)
    customer.goto("/invoices")
    expect(_row(customer, second_id).locator(".badge").first).to_have_text("Issued")
    with live.db.session() as s:
        second = s.get(Invoice, int(second_id))
        assert second is not None
        second_total = second.total
    assert second_total == first_total + Decimal("48.00")  # 40.00 + 20 % tax
    got = customer.request.get(f"/api/v1/invoices/{second_id}/pdf")
    assert got.status == 200
    text = pdf_text(got.body(), tmp_path)
    assert second_number in text
    assert "Port-out fee agreed in September" in text
    assert f"{second_total:,.2f}" in text
    assert first_number in text  # "replaces" the cancelled one

    # 4. The reseller records the payment: the invoice shows Paid.
    page.goto(f"/invoices/{second_id}")
    form = page.get_by_role("form", name="Record payment")
    expect(form.get_by_label(re.compile("Amount"))).to_have_value(f"{second_total:.2f}")
    form.get_by_label("Reference").fill("SEPA 2026-09-14")
    form.get_by_role("button", name="Record payment").click()
    expect(page.locator(".lede .badge").first).to_have_text("Paid")
    expect(page.locator("[data-outstanding]")).to_have_text("0.00 EUR")
    customer.goto(f"/invoices/{second_id}")
    expect(customer.locator(".lede .badge").first).to_have_text("Paid")

    # 5. Another correction over the paid period: a credit note and a new invoice.
    _charge(live, "-15.00", "Goodwill for the port-out delay")
    _run(page, "Run recalculation", "Data recalculation", "Recalc.", "Price book update")
    _run(page, "Run refresh", "Invoice refresh", "Refresh", "Incorrect charges")
    page.goto(invoices)
    expect(_row(page, second_id).locator(".badge").first).to_have_text("Credited")
    note_row = page.locator("table.invoices tbody tr", has=page.locator(".badge-inv-credit-note"))
    expect(note_row).to_have_count(1)
    note_id = note_row.get_attribute("data-invoice-id")
    expect(note_row).to_contain_text(f"Credits #{second_id}")
    expect(_row(page, second_id)).to_contain_text(f"Credited by #{note_id}")
    third = page.locator("table.invoices tbody tr[data-status=ready]")
    expect(third).to_have_count(1)
    third_id = third.get_attribute("data-invoice-id")
    assert third_id is not None
    page.goto(f"/invoices/{note_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Credit note")
    expect(page.locator("[data-credits]")).to_contain_text(second_number)
    expect(page.locator("[data-open]")).to_have_text(f"{second_total:.2f} EUR")
    shot(live, page, "credit-note")

    # The new invoice, issued, is settled first by the open credit note.
    _issue(browser, live, invoices, third_id)
    page.goto(f"/invoices/{third_id}")
    with live.db.session() as s:
        third_inv = s.get(Invoice, int(third_id))
        assert third_inv is not None
        third_total = third_inv.total
    assert third_total == second_total - Decimal("18.00")  # -15.00 + 20 % tax
    # The credit note covers it in full: Paid, 18.00 of the credit note still open.
    expect(page.locator(".lede .badge").first).to_have_text("Paid")
    expect(page.locator("[data-credited]")).to_have_text(f"{third_total:.2f} EUR")
    page.goto(f"/invoices/{note_id}")
    expect(page.locator("[data-open]")).to_have_text("18.00 EUR")
    # The customer sees the credit note and its PDF.
    customer.goto("/invoices")
    expect(_row(customer, note_id)).to_be_visible()
    note_pdf = customer.request.get(f"/api/v1/invoices/{note_id}/pdf")
    assert note_pdf.status == 200
    note_text = re.sub(r"\s+", " ", pdf_text(note_pdf.body(), tmp_path))
    # It reads as a credit note citing the invoice it credits; nothing falls due.
    assert re.search(r"Credit note \S+-CN-000001", note_text), note_text
    assert f"Credits invoice {second_number} of " in note_text
    assert "Total credited (EUR) -" in note_text
    assert "Due date" not in note_text
    customer_ctx.close()
