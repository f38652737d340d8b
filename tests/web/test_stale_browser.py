"""The stale-periods panel in a real browser (Debian's Chromium, Playwright):
a billed September made stale by a new price-book version, a dry run that
leaves it stale, a recalculation that clears it. The in-process worker runs
the jobs; nothing is mocked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rerate.app import create_app
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from tests.billing.fixtures import Billing, build_billing
from tests.billing.test_stale import add_version
from tests.web.test_browser import (
    EXPECTED_ERRORS,
    JOB_TIMEOUT_MS,
    Live,
    LiveServer,
    log_in,
    shot,
)
from tests.web.test_pages import drain
from tests.world import build_world

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def stale_live(
    module_database: Database, tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> Iterator[tuple[Live, Billing, Path]]:
    data_dir = tmp_path_factory.mktemp("stale-web-data")
    with module_database.session() as s:
        world = build_world(s)
    billing = build_billing(module_database, data_dir, world)
    from rerate.auth import service as auth
    from rerate.billing import utilities
    from rerate.models import User
    from rerate.models.enums import JobType, ReasonCode

    with module_database.session() as s:
        user = s.get(User, world.users["partner_admin"].id)
        assert user is not None
        utilities.submit(
            s,
            auth.principal_for(s, user, via="session"),
            JobType.RECALCULATION,
            customer_id=world.nodes["cust_a1x"].id,
            periods=["2026-09"],
            reason=ReasonCode.INCORRECT_CHARGES,
        )
    drain(module_database, data_dir)
    settings = Settings(
        data_dir=data_dir, database_url=module_database.url, env="test", worker_poll_s=1.0
    )
    app = create_app(settings, module_database, in_process_worker=True)
    with LiveServer(app) as server:
        yield Live(server.url, world, module_database, None), billing, data_dir


@pytest.fixture
def page(browser: Any, stale_live: tuple[Live, Billing, Path]) -> Iterator[Any]:
    live = stale_live[0]
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


def test_a_stale_period_is_shown_dry_run_then_recalculated(
    page: Any, stale_live: tuple[Live, Billing, Path]
) -> None:
    from playwright.sync_api import expect

    live, billing, _data_dir = stale_live
    log_in(page, "partner_admin@test.example")
    panel = page.locator("#stale-panel")
    expect(panel.get_by_role("heading", name="0 periods out of date")).to_be_visible()

    add_version(live.db, billing.price_book_id, datetime(2026, 9, 15, tzinfo=UTC), "0.06")
    page.reload()
    expect(panel.get_by_role("heading", name="1 period out of date")).to_be_visible()
    row = panel.locator("tr[data-period='2026-09']")
    expect(row).to_contain_text("Cust A1x")
    expect(row).to_contain_text(
        "price book 'Cloud EUR' version 2 effective 2026-09-15 00:00 UTC was published after "
        "this period was billed"
    )
    shot(live, page, "stale-panel")

    panel.get_by_label("Dry run (compute and diff, publish nothing)").check()
    panel.get_by_role("button", name="Recalculate these").click()
    expect(page.locator("#toast")).to_contain_text("Dry runs queued for 1 period(s)")
    dry = page.locator("#job-log tbody tr[data-job-id]").filter(has_text="Dry run").first
    expect(dry.locator(".badge")).to_have_text("Complete", timeout=JOB_TIMEOUT_MS)
    page.reload()
    expect(panel.get_by_role("heading", name="1 period out of date")).to_be_visible()

    panel.get_by_role("button", name="Recalculate these").click()
    expect(page.locator("#toast")).to_contain_text("Recalculations queued for 1 period(s)")
    rows = page.locator("#job-log tbody tr[data-job-id]")
    expect(rows).to_have_count(3)  # the first billing, the dry run, this one
    expect(rows.locator(".badge").filter(has_text="Complete")).to_have_count(
        3, timeout=JOB_TIMEOUT_MS
    )
    page.reload()
    expect(panel.get_by_role("heading", name="0 periods out of date")).to_be_visible()
