"""Commissions in a real browser (issue 15 §7, "Done when"): as a partner and as
a distributor, at desktop width and at 390 px, on SQLite and PostgreSQL.

The figures are docs/commissions.md's worked example (tests/commissions/docs.py):
Partner A1 earns 24.85 EUR on 386.83 EUR in September-October 2026, 20.34 in
October; Dist A earns 7.94 in October on all its partners' customers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rerate.app import create_app
from rerate.auth.secrets import hash_password
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from rerate.models import User
from tests.browser import PASSWORD
from tests.commissions.docs import build_example
from tests.invoicing.test_pdf import _text as pdf_text
from tests.web.test_browser import EXPECTED_ERRORS, Live, LiveServer, log_in, shot
from tests.world import build_world

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

RANGE = "from=2026-09&to=2026-10"


@pytest.fixture(scope="module")
def live(
    module_database: Database, tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("commission-web-data")
    with module_database.session() as s:
        world = build_world(s)
        for name in ("distributor", "platform_admin"):
            user = s.get(User, world.users[name].id)
            assert user is not None
            user.password_hash = hash_password(PASSWORD)
    build_example(module_database, world)
    settings = Settings(data_dir=data_dir, database_url=module_database.url, env="test")
    app = create_app(settings, module_database)
    with LiveServer(app) as server:
        shots = os.environ.get("RERATE_WEB_SCREENSHOTS")
        yield Live(server.url, world, module_database, Path(shots) if shots else None)


@pytest.fixture
def page(browser: Any, live: Live) -> Iterator[Any]:
    context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)  # generous: the machine may be loaded
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    yield tab
    context.close()
    unexpected = [p for p in problems if not EXPECTED_ERRORS.search(p)]
    # A 404 page for an out-of-scope node logs "Failed to load resource": expected.
    unexpected = [p for p in unexpected if "404" not in p]
    assert unexpected == [], f"browser console errors: {unexpected}"


def _phone(page: Any, live: Live, name: str) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.get_by_role("heading", name="Commissions", exact=True)).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at phone width"
    # Chart labels and figures are text, not shrunken SVG: readable at phone width.
    label = page.locator('[data-chart="by-month-EUR"] .cchart-label').first
    expect(label).to_be_visible()
    size = label.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 12, size
    bar = page.locator('[data-chart="by-month-EUR"] svg.cchart-bar').first
    assert bar.bounding_box()["width"] > 250  # the bar spans the phone's width
    shot(live, page, name)


def test_partner_sees_its_commissions_and_statements(page: Any, live: Live, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    a1 = live.node_id("partner_a1")
    start = f"/commissions?{RANGE}"
    log_in(page, "partner_admin@test.example", start=start)
    expect(page.get_by_role("heading", name="Commissions", exact=True)).to_be_visible()
    # Its own node only.
    options = page.get_by_label("Partner or distributor").locator("option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_text("Partner A1 (partner)")
    summary = page.locator("[data-summary]")
    expect(summary.locator("[data-total-commission]")).to_have_text("24.85 EUR")
    expect(summary.locator("[data-total-basis]")).to_have_text("386.83 EUR")
    months = page.locator('[data-chart="by-month-EUR"] .cchart-row')
    expect(months).to_have_count(2)
    expect(months.nth(1).locator("[data-commission]")).to_have_text("20.34")
    expect(page.locator('[data-chart="by-service-EUR"] .cchart-row').first).to_contain_text(
        "Compute"
    )
    # October's statement, then September's through the month picker.
    statement = page.locator("#statement")
    expect(statement.locator('tr[data-total="EUR"]')).to_contain_text("20.34 EUR")
    page.get_by_label("Month", exact=True).select_option("2026-09")
    statement.get_by_role("button", name="Show").click()
    expect(page.locator("#statement")).to_have_attribute("data-statement", "2026-09")
    expect(page.locator('#statement tr[data-total="EUR"]')).to_contain_text("4.51 EUR")
    # The PDF behind the link is the statement.
    href = page.locator('#statement a[data-download="pdf"]').get_attribute("href")
    assert href == f"/api/v1/commissions/statements/{a1}/2026-09/pdf"
    pdf = page.request.get(href)
    assert pdf.status == 200
    assert "Commission due (EUR) 4.51" in " ".join(pdf_text(pdf.body(), tmp_path).split())
    # No rule form for a partner; a sibling partner's page is not found.
    expect(page.get_by_text("New rule")).to_have_count(0)
    page.goto(f"/commissions?node_id={live.node_id('partner_a2')}&{RANGE}")
    expect(page.get_by_text("Partner A2")).to_have_count(0)
    expect(page.locator("h1")).to_have_text("Page not found")
    page.goto(start)
    _phone(page, live, "commissions-partner-phone")


def test_distributor_sees_its_own_and_its_partners(page: Any, live: Live) -> None:
    from playwright.sync_api import expect

    start = f"/commissions?{RANGE}"
    log_in(page, "distributor@test.example", start=start)
    picker = page.get_by_label("Partner or distributor")
    expect(picker.locator("option")).to_have_text(
        ["Dist A (distributor)", "Partner A1 (partner)", "Partner A2 (partner)"]
    )
    expect(page.locator('#statement tr[data-total="EUR"]')).to_contain_text("7.94 EUR")
    customers = page.locator('[data-chart="by-customer-EUR"] .cchart-row')
    expect(customers).to_have_count(3)  # A1x, A1y and Partner A2's A2x
    picker.select_option(label="Partner A1 (partner)")
    page.get_by_role("button", name="Show").first.click()
    expect(page.locator('#statement tr[data-total="EUR"]')).to_contain_text("20.34 EUR")
    expect(page.locator("[data-summary] [data-total-commission]")).to_have_text("24.85 EUR")
    expect(page.get_by_text("Rules are set by the platform.")).to_be_visible()
    page.goto(f"/commissions?node_id={live.node_id('partner_b1')}")
    expect(page.locator("h1")).to_have_text("Page not found")
    page.goto(start)
    _phone(page, live, "commissions-distributor-phone")


def test_platform_adds_a_rule_from_the_page(page: Any, live: Live) -> None:
    from playwright.sync_api import expect

    a2 = live.node_id("partner_a2")
    start = f"/commissions?node_id={a2}&{RANGE}"
    log_in(page, "platform_admin@test.example", start=start)
    expect(page.locator('#statement tr[data-total="EUR"]')).to_contain_text("0.00 EUR")
    page.get_by_text("New rule").click()
    form = page.get_by_role("form", name="New commission rule")
    form.get_by_label("Rate (%)").fill("3")
    form.get_by_label("From").fill("2026-01-01")
    form.get_by_label("Reason").fill("signed in the browser")
    form.get_by_role("button", name="Create").click()
    expect(page.locator(".alert-success")).to_contain_text("created")
    page.goto(start)
    expect(page.locator('#statement tr[data-total="EUR"]')).to_contain_text("3.00 EUR")
