"""A new user's first month, from an EMPTY database, all in the console.

The only step outside the browser is how a real install starts: `rerate init`
creates the platform node and its first platform admin. Then, in Debian's
Chromium: the platform admin builds the tenancy tree and invites the
reseller's admin, who accepts in the browser; the reseller admin builds its
catalog (a 5,000-prefix deck, a cloud price list), a contract and two
accounts, imports a month of CDRs and FOCUS usage and bills it; the platform
admin issues the invoice; a new deck version effective mid-month makes the
period stale, a dry run shows the diff, the recalculation and the invoice
refresh put it right (Issued -> Cancelled, the new one Ready, with the
expected total). The app's in-process worker runs the jobs; nothing is mocked.

The numbers are the CLI journey's (tests/journeys/test_cli_journey.py).
RERATE_WEB_SCREENSHOTS=<dir> saves the screenshots taken on the way.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rerate.app import create_app
from rerate.kit.db import Database
from rerate.kit.periods import Month
from rerate.kit.settings import Settings
from tests.journeys import data
from tests.web.test_browser import (
    EXPECTED_ERRORS,
    JOB_TIMEOUT_MS,
    Live,
    LiveServer,
    fill_operation,
    job_row,
    open_operation,
    shot,
)
from tests.world import World

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]  # under 3 minutes per database

ROOT = "root@journey.test"
ROOT_PASSWORD = "journey passphrase 42"
ADMIN = "admin@acme.test"
ADMIN_PASSWORD = "reseller keeps the books 7"  # must not contain the email
JANUARY = "2026-01-01T00:00:00Z"


@pytest.fixture
def journey(database: Database, tmp_path: Path, browser: Any) -> Iterator[Live]:
    """`rerate init` on the empty database, then the app on a live port with its worker."""
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "RERATE_DATABASE_URL": database.url,
        "RERATE_DATA_DIR": str(data_dir),
        "RERATE_ADMIN_PASSWORD": ROOT_PASSWORD,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "rerate.cli.main", "init", "--admin-email", ROOT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    settings = Settings(data_dir=data_dir, database_url=database.url, env="test", worker_poll_s=0.5)
    app = create_app(settings, database, in_process_worker=True)
    shots = os.environ.get("RERATE_WEB_SCREENSHOTS")
    with LiveServer(app) as server:
        yield Live(server.url, World(), database, Path(shots) if shots else None)


class Browser:
    """One browser context per person (their own cookies), console errors collected."""

    def __init__(self, browser: Any, live: Live) -> None:
        self.browser = browser
        self.live = live
        self.contexts: list[Any] = []
        self.problems: list[str] = []

    def tab(self) -> Any:
        context = self.browser.new_context(
            base_url=self.live.url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        tab = context.new_page()
        tab.on(
            "console",
            lambda m: self.problems.append(f"{m.text} ({tab.url})") if m.type == "error" else None,
        )
        tab.on("pageerror", lambda e: self.problems.append(f"{e} ({tab.url})"))
        return tab

    def log_in(self, email: str, password: str, start: str) -> Any:
        tab = self.tab()
        tab.goto(start)
        assert "/login?next=" in tab.url
        tab.get_by_label("Email").fill(email)
        tab.get_by_label("Password").fill(password)
        tab.get_by_role("button", name="Log in").click()
        tab.wait_for_url(re.compile(re.escape(start) + r"$"))
        return tab

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def people(browser: Any, journey: Live) -> Iterator[Browser]:
    b = Browser(browser, journey)
    yield b
    b.close()
    unexpected = [p for p in b.problems if not EXPECTED_ERRORS.search(p)]
    assert unexpected == [], f"browser console errors: {unexpected}"


def _node_id(page: Any) -> str:
    found = re.search(r"/tenancy/(\d+)$", page.url)
    assert found, page.url
    return found.group(1)


def create_node(page: Any, kind: str, under: str, name: str, **fields: str) -> str:
    """The Create form of Customers & partners; answers the new node's id."""
    page.goto("/tenancy")
    form = page.locator("form[data-create-node]")
    form.get_by_label("Kind").select_option(label=kind)
    form.get_by_label("Under").select_option(label=under)
    form.get_by_label("Name", exact=True).fill(name)
    labels = {
        "legal_name": "Legal name",
        "currency": "Default currency (ISO 4217)",
        "tax_rate": "Tax rate (customers; 0.20 = 20 %)",
        "reason": "Reason (kept in the audit log)",
    }
    for key, value in fields.items():
        form.get_by_label(labels[key]).fill(value)
    form.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r"/tenancy/\d+$"))
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    return _node_id(page)


def create_book(page: Any, name: str, kind: str, owner: str) -> str:
    page.goto("/price-books")
    form = page.get_by_role("form", name="Create a price book")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Kind").select_option(label=kind)
    form.get_by_label("Currency").fill("EUR")
    form.get_by_label("Owner").select_option(label=owner)
    form.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r"/price-books/\d+\?created=1$"))
    found = re.search(r"/price-books/(\d+)", page.url)
    assert found
    return found.group(1)


def upload_version(page: Any, book: str, csv_path: Path, effective: str, reason: str) -> None:
    """Upload a version CSV on the book's page and publish it at once."""
    from playwright.sync_api import expect

    page.goto(f"/price-books/{book}")
    page.get_by_label("File", exact=True).set_input_files(str(csv_path))
    page.get_by_label(re.compile(r"^Effective instant")).fill(effective)
    page.get_by_label("Publish now").check()
    page.get_by_label(re.compile(r"^Reason for publishing")).fill(reason)
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(rf"/price-books/{book}/versions/\d+\?imported=1$"))
    expect(page.locator("h1 [data-status]")).to_have_text("published")
    expect(page.locator(".lede")).to_contain_text(f"Effective from {effective[:10]}")


def import_usage(page: Any, path: Path, fmt: str) -> Any:
    from playwright.sync_api import expect

    page.goto("/usage/imports")
    page.get_by_label("File", exact=True).set_input_files(str(path))
    page.get_by_label("Format").select_option(label=fmt)
    page.get_by_role("button", name="Import").click()
    report = page.locator("[data-import-report]")
    expect(report).to_be_visible()
    return report


def run_operation(page: Any, button: str, title: str, period: str, reason: str) -> str:
    """An operation of the Billing utilities page for Globex, waited for; answers its job id."""
    from playwright.sync_api import expect

    page.goto("/billing/utilities")
    dialog = open_operation(page, button, title)
    fill_operation(dialog, "Globex", period, reason)
    dialog.get_by_role("button", name=f"Run {title[0].lower()}{title[1:]}").click()
    expect(page.get_by_role("dialog", name=title)).to_have_count(0)
    kind = "Recalc." if button == "Run recalculation" else "Refresh"
    row = job_row(page, kind, "Globex", period)
    expect(row.locator(".badge")).to_have_text("Complete", timeout=JOB_TIMEOUT_MS)
    job_id = row.get_attribute("data-job-id")
    assert job_id
    return job_id


def invoice_rows(page: Any, customer: str, period: str) -> Any:
    page.goto(f"/invoices?customer_id={customer}&period={period}")
    return page.locator("table.invoices tbody tr[data-invoice-id]")


def money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def test_a_new_users_first_month_in_the_browser(
    people: Browser, journey: Live, tmp_path: Path
) -> None:
    root, admin, customer = onboard(people, journey)
    first_month(journey, tmp_path, root, admin, customer)


def onboard(people: Browser, live: Live) -> tuple[Any, Any, str]:
    """The platform admin: a distributor, a reseller and its invited admin, a customer.
    Answers the platform admin's tab, the reseller admin's tab and the customer's id."""
    from playwright.sync_api import expect

    root = people.log_in(ROOT, ROOT_PASSWORD, "/tenancy")
    create_node(root, "Distributor", "Platform (Platform)", "Northwind", reason="onboarding")
    create_node(root, "Reseller", "Northwind (Distributor)", "Acme Reseller", currency="EUR")
    invite = root.locator("form[data-invite]")
    invite.get_by_label("Email").fill(ADMIN)
    invite.get_by_label("Name").fill("Acme Admin")
    invite.get_by_label("Role").select_option("partner_admin")
    invite.get_by_role("button", name="Invite").click()
    link = root.locator("[data-invite-link]")
    expect(link).to_be_visible()
    invitation = link.inner_text().strip()
    customer = create_node(
        root,
        "Customer",
        "Acme Reseller (Reseller)",
        "Globex",
        legal_name="Globex SARL",
        currency="EUR",
        tax_rate="0.20",
        reason="new customer",
    )
    root.goto("/tenancy")
    expect(root.locator(f"tr[data-node='{customer}']")).to_contain_text("Globex SARL")
    shot(live, root, "journey-tenancy")

    # the reseller's admin opens the link, chooses a password, logs in
    newcomer = people.tab()
    newcomer.goto(invitation)
    expect(newcomer.get_by_role("heading", name="Welcome to rerate")).to_be_visible()
    newcomer.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    newcomer.get_by_label("Password again").fill(ADMIN_PASSWORD)
    newcomer.get_by_role("button", name="Set password").click()
    newcomer.wait_for_url(re.compile(r"/login"))
    admin = people.log_in(ADMIN, ADMIN_PASSWORD, "/price-books")
    return root, admin, customer


def first_month(live: Live, tmp_path: Path, root: Any, admin: Any, customer: str) -> None:
    from playwright.sync_api import expect

    period = str(Month.of(datetime.now(UTC)).previous())  # the last closed month
    mid = f"{period}-15T00:00:00Z"

    # --- 2. the reseller's catalog, contract and accounts ------------------------------------
    deck = create_book(admin, "Voice EUR", "voip (tariff deck)", "Acme Reseller (partner)")
    deck_v1 = data.write_csv(
        tmp_path / "deck-v1.csv",
        [{"version": "1", "effective_from": JANUARY, **r} for r in data.deck_rows(Decimal("0.02"))],
    )
    upload_version(admin, deck, deck_v1, JANUARY, "partner's price list")
    expect(admin.locator(".lede")).to_contain_text("5,000 entries")
    shot(live, admin, "journey-deck")
    cloud = create_book(admin, "Cloud EUR", "cloud (SKU prices)", "Acme Reseller (partner)")
    prices = data.write_csv(
        tmp_path / "prices.csv",
        [{"version": "1", "effective_from": JANUARY, **r} for r in data.price_rows()],
    )
    upload_version(admin, cloud, prices, JANUARY, "list prices")

    admin.goto("/contracts")
    form = admin.get_by_role("form", name="Create a contract")
    form.get_by_label("Customer").select_option(label="Globex")
    form.get_by_label("Seller").select_option(label="Acme Reseller (partner)")
    form.get_by_label("Currency").fill("EUR")
    form.get_by_label("Billing time zone").fill("UTC")
    form.get_by_label("Coverage start (month)").fill("2026-01")
    form.get_by_label("Payment terms (days)").fill("30")
    form.get_by_label("Cloud price book").select_option(label="Cloud EUR (EUR)")
    form.get_by_label("VoIP deck").select_option(label="Voice EUR (EUR)")
    form.get_by_label("Reason").fill("signed")
    form.get_by_role("button", name="Create").click()
    admin.wait_for_url(re.compile(r"/contracts/\d+$"))
    admin.get_by_role("button", name="Activate").click()
    expect(admin.locator(".lede")).to_contain_text("Active")

    for kind, ref in (("voip peer", "peer-globex"), ("subscription", "sub-globex")):
        admin.goto("/accounts")
        form = admin.get_by_role("form", name="Create an account")
        form.get_by_label("Kind").select_option(label=kind)
        form.get_by_label("External ref").fill(ref)
        form.get_by_label("Seller").select_option(label="Acme Reseller (partner)")
        form.get_by_role("button", name="Create").click()
        admin.wait_for_url(re.compile(r"/accounts/\d+\?created=1$"))
        link = admin.get_by_role("form", name="Link to a customer")
        link.get_by_label("Customer").select_option(label="Globex")
        link.get_by_label(re.compile(r"^From")).fill(JANUARY)
        link.get_by_label("Reason").fill("new customer")
        link.get_by_role("button", name="Link").click()
        expect(admin.get_by_role("button", name="Move")).to_be_visible()
    admin.goto("/accounts")
    expect(admin.locator("table.accounts tbody tr").filter(has_text="Globex")).to_have_count(2)

    # --- 3. a month of CDRs and FOCUS usage ---------------------------------------------------
    usage = data.Usage(period, "peer-globex", "sub-globex", calls=30, call_seconds=120, vm_hours=48)
    cdrs = data.write_csv(tmp_path / "cdrs.csv", data.cdr_rows(usage))
    focus = data.write_csv(tmp_path / "focus.csv", data.focus_rows(usage), data.FOCUS_HEADER)
    report = import_usage(admin, cdrs, "rerate generic CDR CSV")
    expect(report).to_contain_text("30 rows read, 30 new")
    report = import_usage(admin, focus, "FinOps FOCUS 1.x (CSV or Parquet)")
    expect(report).to_contain_text("48 rows read, 48 new")
    shot(live, admin, "journey-usage")

    # --- 4. bill the month --------------------------------------------------------------------
    run_operation(admin, "Run recalculation", "Data recalculation", period, "Incorrect charges")

    # --- 5. the platform admin generates and issues the invoice ------------------------------
    rows = invoice_rows(root, customer, period)
    expect(rows).to_have_count(0)
    root.locator("summary", has_text="Generate an invoice").click()
    generate = root.get_by_role("form", name="Generate an invoice")
    generate.get_by_label("Customer").select_option(label="Globex")
    generate.get_by_label("Period").fill(period)
    generate.get_by_role("button", name="Generate").click()
    expect(rows).to_have_count(1)
    issued = rows.first.get_attribute("data-invoice-id")
    root.get_by_role("button", name=f"Issue invoice #{issued}").click()
    expect(root.locator(f"#invoice-{issued} .badge")).to_have_text("Issued")
    voice = data.expected_voice(usage, Decimal("0.02"))
    cloud_amount = data.expected_cloud(usage)
    total = money((voice + cloud_amount) * Decimal("1.20"))
    expect(root.locator(f"#invoice-{issued}")).to_contain_text(f"{total} EUR")
    shot(live, root, "journey-issued")

    # --- 6. new prices effective mid-month: the period is out of date ------------------------
    deck_v2 = data.write_csv(
        tmp_path / "deck-v2.csv",
        [{"version": "2", "effective_from": mid, **r} for r in data.deck_rows(Decimal("0.03"))],
    )
    upload_version(admin, deck, deck_v2, mid, "partner's new prices")
    admin.goto("/billing/utilities")
    panel = admin.locator("#stale-panel")
    expect(panel.get_by_role("heading", name="1 period out of date")).to_be_visible()
    stale = panel.locator(f"tr[data-period='{period}']")
    expect(stale).to_contain_text("Globex")
    expect(stale).to_contain_text("price book 'Voice EUR' version 2")
    shot(live, admin, "journey-stale")

    # a dry run: its job page shows the diff, the period stays out of date
    panel.get_by_label("Dry run (compute and diff, publish nothing)").check()
    panel.get_by_role("button", name="Recalculate these").click()
    expect(admin.locator("#toast")).to_contain_text("Dry runs queued for 1 period(s)")
    dry = admin.locator("#job-log tbody tr[data-job-id]").filter(has_text="Dry run").first
    expect(dry.locator(".badge")).to_have_text("Complete", timeout=JOB_TIMEOUT_MS)
    dry_id = dry.get_attribute("data-job-id")
    dry.get_by_role("link", name=f"#{dry_id}").click()
    expect(admin.get_by_role("heading", name=f"Job #{dry_id}")).to_be_visible()
    diff = admin.locator("table.diff")
    expect(diff.locator("tbody tr").first).to_be_visible()
    expect(diff).to_contain_text("0.28")  # 14 late calls x 2 minutes x 0.01 more
    shot(live, admin, "journey-dry-run-diff")
    admin.goto("/billing/utilities")
    expect(panel.get_by_role("heading", name="1 period out of date")).to_be_visible()

    # the recalculation clears it; the refresh replaces the issued invoice
    panel.get_by_role("button", name="Recalculate these").click()
    expect(admin.locator("#toast")).to_contain_text("Recalculations queued for 1 period(s)")
    done = admin.locator("#job-log tbody tr[data-job-id]")
    expect(done).to_have_count(3)
    expect(done.locator(".badge").filter(has_text="Complete")).to_have_count(
        3, timeout=JOB_TIMEOUT_MS
    )  # the first billing, the dry run, this one
    admin.reload()
    expect(panel.get_by_role("heading", name="0 periods out of date")).to_be_visible()
    run_operation(admin, "Run refresh", "Invoice refresh", period, "Price book update")

    rows = invoice_rows(admin, customer, period)
    expect(rows).to_have_count(2)
    expect(admin.locator(f"#invoice-{issued} .badge")).to_have_text("Cancelled")
    new = rows.filter(has=admin.locator(".badge", has_text="Ready"))
    expect(new).to_have_count(1)
    calls_late = sum(1 for r in data.cdr_rows(usage) if r["start"][:10] >= mid[:10])
    voice2 = voice + Decimal(calls_late) * Decimal(usage.call_seconds // 60) * Decimal("0.01")
    expect(new).to_contain_text(f"{money((voice2 + cloud_amount) * Decimal('1.20'))} EUR")
    expect(new).to_contain_text(f"Replaces #{issued}")
    shot(live, admin, "journey-invoices")
