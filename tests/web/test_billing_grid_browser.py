"""The Billing grid in a real browser (issue 15 §3, "Done when"): a reseller
filters the grid, switches to monthly aggregation and back, sorts, downloads
the CSV of exactly the rows shown, opens a row's billing details and its
usage row's billing tab; on a 390 px wide phone the charts are visible,
fit the screen and have their table fallback. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rerate.app import create_app
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from tests.billing.grid_world import build_grid_world
from tests.web.test_browser import EXPECTED_ERRORS, Live, LiveServer, log_in, shot
from tests.world import build_world

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

START = "/billing/grid?mode=daily&from=2026-09-01&to=2026-09-30"


@pytest.fixture(scope="module")
def live(
    module_database: Database, tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> Iterator[Live]:
    import os

    data_dir = tmp_path_factory.mktemp("grid-web-data")
    with module_database.session() as s:
        world = build_world(s)
    settings = Settings(data_dir=data_dir, database_url=module_database.url, env="test")
    with TestClient(create_app(settings, module_database)) as client:
        build_grid_world(client, module_database, data_dir, world)
    shots = os.environ.get("RERATE_WEB_SCREENSHOTS")
    with LiveServer(create_app(settings, module_database)) as server:
        yield Live(server.url, world, module_database, Path(shots) if shots else None)


def _context(browser: Any, live: Live, width: int = 1280, height: int = 900) -> Any:
    context = browser.new_context(
        base_url=live.url, viewport={"width": width, "height": height}, accept_downloads=True
    )
    context.set_default_timeout(30_000)
    return context


def _watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return problems


def _clean(problems: list[str]) -> None:
    unexpected = [p for p in problems if not EXPECTED_ERRORS.search(p)]
    assert unexpected == [], f"browser console errors: {unexpected}"


def _total(page: Any) -> int:
    text = page.locator("[data-total]").inner_text()
    m = re.match(r"(\d+) rows?", text.strip())
    assert m, text
    return int(m.group(1))


def test_filter_toggle_sort_export_and_details(browser: Any, live: Live, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    context = _context(browser, live)
    page = context.new_page()
    problems = _watch(page)
    try:
        log_in(page, "partner_admin@test.example", start=START)
        expect(page.get_by_role("heading", name="Daily rows")).to_be_visible()
        assert _total(page) == 150
        # The menu links the page.
        page.locator("summary", has_text="Billing").first.click()
        expect(
            page.get_by_role("link", name=re.compile("^Billing Daily and monthly"))
        ).to_be_visible()
        page.keyboard.press("Escape")

        # 1. Filters: a region, applied.
        page.get_by_label("Region", exact=True).select_option("northeurope")
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url(re.compile(r"region=northeurope"))
        assert _total(page) == 30
        regions = page.locator("table.billing-grid td[data-label=Region]").all_inner_texts()
        assert set(regions) == {"northeurope"}
        expect(page.locator("[data-current]")).to_have_text("16.20 EUR")
        shot(live, page, "billing-grid-filtered")

        # 2. The monthly toggle keeps the filter; sorting keeps the mode.
        page.get_by_role("link", name="Monthly aggregation").click()
        expect(page.get_by_role("heading", name="Monthly rows")).to_be_visible()
        assert "mode=monthly" in page.url
        assert page.get_by_label("Region", exact=True).input_value() == "northeurope"
        assert _total(page) == 1
        page.get_by_role("link", name="Net", exact=True).click()
        page.wait_for_url(re.compile(r"sort=-net_amount"))
        assert "mode=monthly" in page.url
        expect(page.get_by_role("heading", name="Monthly rows")).to_be_visible()
        page.get_by_label("Region", exact=True).select_option("")
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url(re.compile(r"mode=monthly(?!.*region=northeurope)"))
        assert _total(page) == 5
        shot(live, page, "billing-grid-monthly")

        # 3. Export: exactly the rows of the grid, in its order.
        with page.expect_download() as info:
            page.get_by_role("link", name="Export CSV").click()
        download = info.value
        path = tmp_path / "export.csv"
        download.save_as(path)
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        assert len(rows) == 5
        assert {r["period"] for r in rows} == {"2026-09"}
        shown = page.locator("table.billing-grid td[data-label=SKU]").all_inner_texts()
        assert [r["sku"] for r in rows] == shown
        assert download.suggested_filename == "billing-monthly-2026-09-01-2026-09-30.csv"

        # 4. Back to daily; a row's details and its usage row's billing tab.
        page.get_by_role("link", name="Daily rows").click()
        expect(page.get_by_role("heading", name="Daily rows")).to_be_visible()
        page.get_by_label("Region", exact=True).select_option("northeurope")
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url(re.compile(r"region=northeurope"))
        page.locator("a[data-details]").first.click()
        expect(page.get_by_role("heading", name="Billing row details")).to_be_visible()
        expect(page.locator("[data-pricing]")).to_contain_text("vm.small at 0.0500000000 per h")
        expect(page.locator("[data-pricing]")).to_contain_text("discount")
        expect(page.locator("[data-hosting]")).to_contain_text("CloudStack")
        expect(page.locator("[data-resource]")).to_contain_text("Production subscription")
        shot(live, page, "billing-grid-details")
        page.locator("a[data-billing-tab]").first.click()
        expect(page.get_by_role("heading", name="Usage billing details")).to_be_visible()
        expect(page.locator("dl.dl")).to_contain_text("Net amount0.54 EUR")
        page.go_back()
        page.get_by_role("link", name="Back to the grid").click()
        assert "region=northeurope" in page.url
        assert "mode=daily" in page.url
        _clean(problems)
    finally:
        context.close()


def test_charts_on_a_phone(browser: Any, live: Live) -> None:
    from playwright.sync_api import expect

    context = _context(browser, live, 390, 844)
    page = context.new_page()
    problems = _watch(page)
    try:
        log_in(page, "partner_admin@test.example", start=START)
        charts = page.locator("svg.chart[role=img]")
        expect(charts).to_have_count(4)
        for i in range(4):
            chart = charts.nth(i)
            chart.scroll_into_view_if_needed()
            expect(chart).to_be_visible()
            box = chart.bounding_box()
            assert box is not None
            # Fits the screen, and its 11-unit text is drawn at 10 px or more.
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= 390
            assert box["width"] >= 330, box
            name = chart.get_attribute("aria-labelledby")
            assert name
            assert page.locator(f"[id='{name.split()[0]}']").count() == 1
        # The page itself does not scroll sideways (the grid scrolls in its frame).
        wide = page.evaluate(
            """() => [...document.querySelectorAll('main *')]
                .filter(e => e.getBoundingClientRect().right > 391)
                .sort((a, b) => b.getBoundingClientRect().right - a.getBoundingClientRect().right)
                .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' +
                     Math.round(e.getBoundingClientRect().right))"""
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, wide
        # Each chart has its numbers as a table.
        fallback = page.get_by_text("Net spend per day by service, EUR as a table")
        fallback.click()
        table = page.locator("figure[data-chart=chart-service-0] table")
        expect(table).to_be_visible()
        expect(table.locator("tbody tr")).to_have_count(30)
        expect(table.locator("tbody tr").first).to_contain_text("2026-09-01")
        shot(live, page, "billing-grid-phone")
        _clean(problems)
    finally:
        context.close()
