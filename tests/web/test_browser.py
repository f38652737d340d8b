"""The console in a real browser: Debian's Chromium, headless, through Playwright.

The app runs under uvicorn in a background thread with its in-process worker,
so jobs really run; the database is a SQLite file (and PostgreSQL when
configured) holding the billing fixtures. Nothing is mocked: the failing job
is an invoice refresh whose invoice was credited by hand while it waited in
the queue, so it has nothing left to refresh when it runs.

Without /usr/bin/chromium the tests skip, unless RERATE_TEST_REQUIRE_BROWSER=1.
RERATE_UPDATE_SCREENSHOT=1 rewrites docs/screenshot-billing-utilities.png;
RERATE_WEB_SCREENSHOTS=<dir> saves every page looked at into <dir>.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from rerate.app import create_app
from rerate.auth import service as auth
from rerate.auth.secrets import hash_password
from rerate.billing import utilities
from rerate.billing.tasks import handlers
from rerate.invoicing import credit_notes
from rerate.invoicing import service as invoicing
from rerate.invoicing.generate import generate_for
from rerate.jobs import queue
from rerate.jobs.worker import Worker
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from rerate.models import Node, User
from rerate.models.enums import JobType, ReasonCode
from tests.billing.fixtures import build_billing
from tests.browser import PASSWORD
from tests.world import World, build_world

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
JOB_TIMEOUT_MS = 30_000
# Chromium logs every 4xx answer; these are the ones the scenarios provoke on purpose
# (an inline validation error, the 403 page).
EXPECTED_ERRORS = re.compile(r"^Failed to load resource: .* status of (403|409|422)\b")


# --- the live server ---------------------------------------------------------------------------


class LiveServer:
    """uvicorn in a thread on a free 127.0.0.1 port (the socket is bound before start)."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", ws="none", http="h11", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self.sock]},
            name="live-uvicorn",
            daemon=True,
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=40)
        self.sock.close()


@dataclass
class Live:
    url: str
    world: World
    db: Database
    shots: Path | None

    def node_id(self, name: str) -> int:
        return self.world.nodes[name].id


def _seed(db: Database, data_dir: Path, world: World) -> None:
    """A log with history: a recalculation (and its cascade), a cache sync, a cancelled one,
    a dry run with reason Other; then the August invoice of Cust A1x generated and issued;
    and Cust A1y's July invoice, issued, then credited by hand while a refresh of it
    waited in the queue (the refresh fails: nothing left to refresh)."""
    with db.session() as s:
        user = s.get(User, world.users["partner_admin"].id)
        assert user is not None
        principal = auth.principal_for(s, user, via="session")
        a1x, a1y = world.nodes["cust_a1x"].id, world.nodes["cust_a1y"].id
        utilities.submit(
            s,
            principal,
            JobType.RECALCULATION,
            customer_id=a1x,
            periods=["2026-08"],
            reason=ReasonCode.PRICE_BOOK_UPDATE,
        )
        utilities.submit(
            s,
            principal,
            JobType.RECALCULATION,
            customer_id=a1y,
            periods=["2026-07"],
            reason=ReasonCode.PRICE_BOOK_UPDATE,
        )
        # the customer-level user logs in in one scenario
        customer_user = s.get(User, world.users["customer_user"].id)
        assert customer_user is not None
        customer_user.password_hash = hash_password(PASSWORD)
    worker = Worker(db, handlers=handlers(data_dir), lease_s=30, expand=None)
    while worker.run_once():
        pass
    with db.session() as s:
        july = s.get(Node, a1y)
        assert july is not None
        issued_july = invoicing.issue(s, generate_for(s, july, "2026-07").invoice)
        user = s.get(User, world.users["partner_admin"].id)
        assert user is not None
        principal = auth.principal_for(s, user, via="session")
        utilities.submit(
            s,
            principal,
            JobType.CACHE_SYNC,
            customer_id=a1x,
            periods=["2026-08"],
            reason=ReasonCode.DATA_CORRECTION,
        )
        cancelled = utilities.submit(
            s,
            principal,
            JobType.CACHE_SYNC,
            customer_id=a1y,
            periods=["2026-07"],
            reason=ReasonCode.DATA_CORRECTION,
        )
        queue.cancel(s, cancelled.jobs[0].id)
        utilities.submit(
            s,
            principal,
            JobType.INVOICE_REFRESH,
            customer_id=a1y,
            periods=["2026-07"],
            reason=ReasonCode.INCORRECT_CHARGES,
        )
        credit_notes.credit_in_full(s, issued_july, reason="billed to the wrong entity")
        utilities.submit(
            s,
            principal,
            JobType.RECALCULATION,
            customer_id=a1y,
            periods=["2026-09"],
            reason=ReasonCode.OTHER,
            dry_run=True,
            explanation="Check the September contract change before publishing.",
        )
    while worker.run_once():
        pass
    with db.session() as s:
        customer = s.get(Node, a1x)
        assert customer is not None
        outcome = generate_for(s, customer, "2026-08")
        invoicing.issue(s, outcome.invoice)


@pytest.fixture(scope="module")
def live(
    module_database: Database, tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("web-data")
    with module_database.session() as s:
        world = build_world(s)
    build_billing(module_database, data_dir, world)
    _seed(module_database, data_dir, world)
    settings = Settings(
        data_dir=data_dir,
        database_url=module_database.url,
        env="test",
        worker_poll_s=1.0,
    )
    app = create_app(settings, module_database, in_process_worker=True)
    shots = os.environ.get("RERATE_WEB_SCREENSHOTS")
    with LiveServer(app) as server:
        yield Live(server.url, world, module_database, Path(shots) if shots else None)


@pytest.fixture
def page(browser: Any, live: Live) -> Iterator[Any]:
    context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    yield tab
    context.close()
    unexpected = [p for p in problems if not EXPECTED_ERRORS.search(p)]
    assert unexpected == [], f"browser console errors: {unexpected}"


def log_in(page: Any, email: str, *, start: str = "/billing/utilities") -> None:
    page.goto(start)
    assert "/login?next=" in page.url
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(start) + r"$"))


def shot(live: Live, page: Any, name: str) -> None:
    if live.shots is not None:
        live.shots.mkdir(parents=True, exist_ok=True)
        # caret="initial": hiding the caret injects a <style>, which the CSP refuses
        # (a console error that would fail the test only when screenshots are on)
        page.screenshot(path=str(live.shots / f"{name}.png"), full_page=True, caret="initial")


def open_operation(page: Any, button: str, title: str) -> Any:
    page.get_by_role("button", name=button).click()
    dialog = page.get_by_role("dialog", name=title)
    dialog.wait_for(state="visible")
    # focus moved into the dialog
    assert page.evaluate("document.activeElement && !!document.activeElement.closest('dialog')")
    return dialog


def fill_operation(dialog: Any, customer: str, period: str, reason: str) -> None:
    dialog.get_by_label("Search customers").fill(customer[-3:])
    dialog.get_by_role("listbox", name="Customer").select_option(label=customer)
    dialog.get_by_role("checkbox", name=period).check()  # periods load when the customer changes
    dialog.get_by_label("Reason").select_option(label=reason)


def job_row(page: Any, kind: str, customer: str, period: str) -> Any:
    rows = page.locator("#job-log tbody tr[data-job-id]")
    return rows.filter(has_text=kind).filter(has_text=customer).filter(has_text=period).first


WATCH_STATUSES = """() => {
  window.__seen = new Set();
  window.__noReload = true;
  const record = () => document.querySelectorAll('#job-log tr[data-job-id]').forEach(
    (tr) => window.__seen.add(tr.dataset.jobId + ':' + tr.dataset.status));
  new MutationObserver(record).observe(document.body, {childList: true, subtree: true});
  record();
}"""


# --- scenarios ---------------------------------------------------------------------------------


def test_recalculation_runs_and_the_log_updates_in_place(page: Any, live: Live) -> None:
    from playwright.sync_api import expect

    log_in(page, "partner_admin@test.example")
    expect(page.get_by_role("heading", name="Operations")).to_be_visible()
    page.evaluate(WATCH_STATUSES)

    dialog = open_operation(page, "Run recalculation", "Data recalculation")
    fill_operation(dialog, "Cust A1x", "2026-09", "Price book update")
    dialog.get_by_role("button", name="Run data recalculation").click()
    expect(page.get_by_role("dialog", name="Data recalculation")).to_have_count(0)
    expect(page.locator("#toast")).to_contain_text("Data recalculation queued")

    row = job_row(page, "Recalc.", "Cust A1x", "2026-09")
    expect(row).to_be_visible()
    job_id = row.get_attribute("data-job-id")
    expect(row.locator(".badge")).to_have_text("Complete", timeout=JOB_TIMEOUT_MS)
    seen = page.evaluate("Array.from(window.__seen)")
    assert {f"{job_id}:queued", f"{job_id}:running"} & set(seen), seen
    assert f"{job_id}:complete" in seen
    assert page.evaluate("window.__noReload === true"), "the page was reloaded"
    expect(page.locator("#job-log")).to_have_attribute("data-polling", "off")  # polling stopped
    expect(page.locator("#log-status")).to_have_text("No jobs queued or running.")

    # the job page: result summary and the diff
    row.get_by_role("link", name=f"#{job_id}").click()
    expect(page.get_by_role("heading", name=f"Job #{job_id}")).to_be_visible()
    expect(page.get_by_text("Rows re-rated")).to_be_visible()
    expect(page.get_by_role("link", name="Download CSV")).to_have_attribute(
        "href", f"/api/v1/jobs/{job_id}/diff.csv"
    )
    csv = page.request.get(f"/api/v1/jobs/{job_id}/diff.csv")  # the session cookie is enough
    assert csv.status == 200
    assert csv.text().startswith("account_id,item")
    shot(live, page, "job-detail")


def test_a_failed_job_shows_its_error(page: Any, live: Live) -> None:
    from playwright.sync_api import expect

    log_in(page, "partner_admin@test.example")
    # The seeded refresh of July: its invoice was credited while it was queued.
    row = job_row(page, "Refresh", "Cust A1y", "2026-07")
    badge = row.get_by_role("button", name="Failed")
    expect(badge).to_be_visible(timeout=JOB_TIMEOUT_MS)
    badge.click()
    detail = page.get_by_role("dialog", name=re.compile(r"Job #\d+ failed"))
    expect(detail).to_be_visible()
    expect(detail).to_contain_text("has no invoice for 2026-07 to refresh")
    shot(live, page, "failed-error")
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()
    assert page.evaluate("document.activeElement.textContent.trim()") == "Failed"

    # the explanation of a reason "Other" (the seeded dry run)
    other = job_row(page, "Recalc.", "Cust A1y", "2026-09").get_by_role("button", name="Other")
    other.click()
    expect(page.get_by_role("dialog", name=re.compile("reason Other"))).to_contain_text(
        "Check the September contract change"
    )
    page.keyboard.press("Escape")


def test_refreshing_an_issued_invoice_cancels_it_and_adds_a_ready_version(
    page: Any, live: Live
) -> None:
    from playwright.sync_api import expect

    invoices = f"/invoices?customer_id={live.node_id('cust_a1x')}&period=2026-08"
    log_in(page, "partner_admin@test.example", start=invoices)
    rows = page.locator("table.invoices tbody tr[data-invoice-id]")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".badge")).to_have_text("Issued")
    issued_id = rows.first.get_attribute("data-invoice-id")
    # Something to refresh: the customer's tax rate changed after the invoice
    # went out (a refresh that would issue the same invoice changes nothing).
    with live.db.session() as s:
        customer = s.get(Node, live.node_id("cust_a1x"))
        assert customer is not None
        customer.tax_rate = Decimal("0.10")

    page.locator("summary", has_text="Billing").click()
    shot(live, page, "menu")
    page.get_by_role("link", name=re.compile("Billing utilities")).click()
    dialog = open_operation(page, "Run refresh", "Invoice refresh")
    fill_operation(dialog, "Cust A1x", "2026-08", "Other")
    expect(dialog.get_by_label(re.compile("Explanation"))).to_be_visible()
    dialog.get_by_role("button", name="Run invoice refresh").click()
    alert = dialog.get_by_role("alert")
    expect(alert).to_contain_text("needs an explanation")  # the server's answer, inline
    expect(alert).to_be_focused()
    shot(live, page, "refresh-inline-error")
    dialog.get_by_label(re.compile("Explanation")).fill("Credit note agreed with the customer.")
    dialog.get_by_role("button", name="Run invoice refresh").click()
    expect(page.get_by_role("dialog", name="Invoice refresh")).to_have_count(0)
    row = job_row(page, "Refresh", "Cust A1x", "2026-08")
    expect(row.locator(".badge")).to_have_text("Complete", timeout=JOB_TIMEOUT_MS)

    page.goto(invoices)
    expect(rows).to_have_count(2)
    old = page.locator(f"#invoice-{issued_id}")
    expect(old.locator(".badge")).to_have_text("Cancelled")
    new = rows.filter(has=page.locator(".badge", has_text="Ready"))
    expect(new).to_have_count(1)
    new_id = new.get_attribute("data-invoice-id")
    expect(old).to_contain_text(f"Replaced by #{new_id}")
    expect(new).to_contain_text(f"Replaces #{issued_id}")
    pdf = page.request.get(f"/api/v1/invoices/{new_id}/pdf")
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    shot(live, page, "invoices")


def test_a_customer_level_user_cannot_reach_billing_utilities(page: Any, live: Live) -> None:
    from playwright.sync_api import expect

    log_in(page, "customer_user@test.example", start="/invoices")
    page.locator("summary", has_text="Billing").click()
    expect(page.get_by_role("link", name=re.compile("Invoices"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Billing utilities"))).to_have_count(0)
    response = page.goto("/billing/utilities")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="You don't have access to this page")).to_be_visible()
    expect(page.get_by_text("Billing Utilities Admin")).to_be_visible()


def test_keyboard_and_phone_width(page: Any, live: Live) -> None:
    from playwright.sync_api import expect

    log_in(page, "partner_admin@test.example")
    button = page.get_by_role("button", name="Run cache sync")
    button.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Cache sync")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("checkbox", name="Dry run")).to_have_count(0)  # recalculation only
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(button).to_be_focused()

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.get_by_role("heading", name="Run queue & log")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at phone width"
    shot(live, page, "phone")


def test_screenshot_of_billing_utilities(page: Any, live: Live) -> None:
    """Last: the log holds the jobs of the scenarios above (when run together)."""
    from playwright.sync_api import expect

    log_in(page, "partner_admin@test.example")
    expect(page.locator("#job-log tbody tr[data-job-id]").first).to_be_visible()
    page.mouse.move(0, 0)
    shot(live, page, "billing-utilities")
    if os.environ.get("RERATE_UPDATE_SCREENSHOT") == "1" and module_is_sqlite(live):
        page.screenshot(
            path=str(REPO / "docs" / "screenshot-billing-utilities.png"), full_page=True
        )


def module_is_sqlite(live: Live) -> bool:
    return live.db.url.startswith("sqlite")


def test_bill_every_eligible_customer_runs_one_job_each(page: Any, live: Live) -> None:
    """The Billing utilities card: one click queues a job per eligible customer,
    which the in-process worker runs as one batch; each row ends Complete."""
    from playwright.sync_api import expect

    log_in(page, "partner_admin@test.example")
    card = page.locator("#bill-all-form")
    card.get_by_label("Period").fill("2026-08")
    card.get_by_label("Reason").select_option(label="Price book update")
    card.get_by_role("button", name="Bill all eligible").click()
    expect(page.locator("#bill-all-message")).to_have_text("Recalculation queued for 2 customers.")
    expect(page.locator("#toast")).to_contain_text("Recalculation queued for 2 customers")
    for customer in ("Cust A1x", "Cust A1y"):
        row = job_row(page, "Recalc.", customer, "2026-08")
        expect(row.locator(".badge")).to_have_text("Complete", timeout=JOB_TIMEOUT_MS)
    card.get_by_label("Period").fill("2026-13")
    card.get_by_role("button", name="Bill all eligible").click()
    expect(page.locator("#bill-all-result [role=alert]")).to_contain_text("Not submitted")
    shot(live, page, "bill-all")
