"""The Billing status tab in a real browser, as a partner and as a distributor
(issue 15 §6), and the invoice visibility settings turned off by the platform
in the console, after which the distributor's menu and page follow (§5).

The world is hand-built rows (tests/billing_status/status_world.py): runs,
cache rows, invoices in every state and payments, so the amounts are known.
Runs on SQLite and, when configured, PostgreSQL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rerate.app import create_app
from rerate.auth.secrets import hash_password
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from rerate.models import User
from tests.billing_status.status_world import MONTH, build_status_world
from tests.browser import PASSWORD
from tests.web.test_browser import EXPECTED_ERRORS, Live, LiveServer, log_in, shot
from tests.world import build_world

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

STATUS = f"/billing/status?month={MONTH}"


@pytest.fixture(scope="module")
def live(
    module_database: Database, tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("status-web-data")
    with module_database.session() as s:
        world = build_world(s)
        build_status_world(s, world)
        for name in ("platform_admin", "distributor"):
            user = s.get(User, world.users[name].id)
            assert user is not None
            user.password_hash = hash_password(PASSWORD)
    settings = Settings(data_dir=data_dir, database_url=module_database.url, env="test")
    shots = os.environ.get("RERATE_WEB_SCREENSHOTS")
    with LiveServer(create_app(settings, module_database)) as server:
        yield Live(server.url, world, module_database, Path(shots) if shots else None)


@pytest.fixture
def context(browser: Any, live: Live) -> Iterator[Any]:
    ctx = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(20_000)  # a loaded machine
    problems: list[str] = []

    def watch(page: Any) -> None:
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

    ctx.on("page", watch)
    yield ctx
    ctx.close()
    unexpected = [p for p in problems if not EXPECTED_ERRORS.search(p)]
    assert unexpected == [], f"browser console errors: {unexpected}"


def _cells(page: Any, tenant: str, window: str, currency: str) -> dict[str, str]:
    section = page.locator("section[data-tenant]").filter(
        has=page.get_by_role("heading", name=tenant, exact=True)
    )
    row = section.locator(f"> .table-wrap tr[data-window={window}][data-currency={currency}]")
    return {
        key: row.locator(f"td[data-bucket={key}]").inner_text().split()[0]
        for key in ("overdue", "issued", "uninvoiced", "paid")
    }


def _no_sideways_scroll(page: Any) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at phone width"


def _menu_link(page: Any) -> Any:
    page.locator("summary", has_text="Billing").click()
    return page.get_by_role("link", name=re.compile("^Billing status"))


def test_a_partner_reads_the_status_of_its_tenants(context: Any, live: Live) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    log_in(page, "partner_admin@test.example", start="/settings")
    link = _menu_link(page)
    expect(link).to_be_visible()
    link.click()
    page.wait_for_url(re.compile(r"/billing/status$"))
    page.get_by_role("textbox", name="Month").fill(MONTH)
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(rf"month={MONTH}"))
    tenants = page.locator("section[data-tenant] h2")
    expect(tenants).to_have_text(["Cust A1x", "Cust A1y"])
    shot(live, page, "billing-status")
    # Overdue 200.00 of February, paid 121.00 + 42.00, March's Ready invoice uninvoiced.
    assert _cells(page, "Cust A1x", "last_quarter", "EUR") == {
        "overdue": "200.00",
        "issued": "0.00",
        "uninvoiced": "50.00",
        "paid": "163.00",
    }
    assert _cells(page, "Cust A1y", "quarter_to_date", "USD")["uninvoiced"] == "15.00"
    subs = page.locator("section[data-tenant] details[data-subscriptions]").first
    subs.locator("summary").click()
    expect(subs.locator("tr[data-window=month]").filter(has_text="sub-1")).to_contain_text("30.00")
    # One tenant, chosen from the picker (the form submits on change).
    page.get_by_label("Tenant", exact=True).select_option(label="Cust A1y")
    expect(tenants).to_have_text(["Cust A1y"])
    # A phone: each window a card, nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(STATUS)
    expect(page.get_by_role("heading", name="Billing status")).to_be_visible()
    _no_sideways_scroll(page)
    shot(live, page, "billing-status-phone")
    row = page.locator("section[data-tenant] tr[data-window=last_quarter]").first
    expect(row.locator("td[data-bucket=overdue]")).to_be_visible()


def test_a_distributor_reads_its_partners_tenants_until_the_platform_hides_them(
    context: Any, browser: Any, live: Live
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    log_in(page, "distributor@test.example", start=STATUS)
    tenants = page.locator("section[data-tenant] h2")
    expect(tenants).to_have_text(["Cust A1x", "Cust A1y", "Cust A2x"])
    expect(page.locator("section[data-totals] tr[data-window=month][data-currency=EUR]"))
    totals = page.locator("section[data-totals] tr[data-window=month][data-currency=EUR]")
    expect(totals.locator("td[data-bucket=uninvoiced]")).to_contain_text("30.00")
    expect(page.get_by_text("Cust B1x")).to_have_count(0)  # another distributor's
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    _no_sideways_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    # The platform turns the distributors' invoices off on the settings page.
    admin = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    admin.set_default_timeout(20_000)
    try:
        tab = admin.new_page()
        log_in(tab, "platform_admin@test.example", start="/settings")
        row = tab.locator("tr[data-setting=InvoicesVisibleToDistributors]")
        row.get_by_label("Value of InvoicesVisibleToDistributors").select_option("false")
        row.get_by_label("Reason").fill("Distributors read statements only")
        row.get_by_role("button", name="Set").click()
        tab.wait_for_url(re.compile(r"/settings$"))
        value = tab.locator("tr[data-setting=InvoicesVisibleToDistributors] td").nth(1)
        expect(value).to_have_text("false")
    finally:
        admin.close()

    page.goto("/settings")
    page.locator("summary", has_text="Billing").click()
    expect(page.get_by_role("link", name=re.compile("^Billing status"))).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("^Invoices"))).to_have_count(0)
    page.goto(STATUS)
    expect(page.get_by_text("not visible to your role")).to_be_visible()
