"""In a real browser (Debian's Chromium): a reseller admin creates a customer,
invites its user, and the invitee sets a password and logs in."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rerate.app import create_app
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from tests.api.live import LiveServer
from tests.browser import PASSWORD
from tests.world import World

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture
def server(database: Database, world: World, tmp_path: Path) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database.url, env="test")
    with LiveServer(create_app(settings, database)) as live:
        yield live.url


def _tab(browser: Any, url: str) -> Any:
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    return context.new_page()


def _log_in(tab: Any, email: str, password: str) -> None:
    tab.goto("/tenancy")
    tab.get_by_label("Email").fill(email)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url(re.compile(r"/tenancy$"))


def test_reseller_admin_creates_a_customer_and_invites_its_user(
    browser: Any,
    server: str,
) -> None:
    tab = _tab(browser, server)
    _log_in(tab, "partner_admin@test.example", PASSWORD)
    assert tab.get_by_role("link", name="Cust A1x").is_visible()
    form = tab.locator("form[data-create-node]")
    form.get_by_label("Kind").select_option("customer")
    form.get_by_label("Name", exact=True).fill("Hooli")
    form.get_by_label("Default currency (ISO 4217)").fill("GBP")
    form.get_by_label("Billing time zone (IANA)").fill("Europe/London")
    form.get_by_label("Tax rate (customers; 0.20 = 20 %)").fill("0.2")
    form.get_by_role("button", name="Create").click()
    tab.wait_for_url(re.compile(r"/tenancy/\d+$"))
    assert tab.get_by_role("heading", level=1).inner_text().startswith("Hooli")
    assert "Europe/London" in tab.locator("[data-node-fields]").inner_text()
    invite = tab.locator("form[data-invite]")
    invite.get_by_label("Email").fill("gavin@hooli.example")
    invite.get_by_label("Name", exact=True).fill("Gavin")
    assert invite.get_by_label("Role").input_value() == "customer_user"  # the kind's own role
    invite.get_by_role("button", name="Invite").click()
    link = tab.locator("[data-invite-link]").inner_text().strip()
    assert "/invitations/rri_" in link
    shots = os.environ.get("RERATE_WEB_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=f"{shots}/tenancy-node.png", full_page=True)

    invitee = _tab(browser, server)
    invitee.goto(link)
    invitee.get_by_label("Password", exact=True).fill("plum-orchard-77")
    invitee.get_by_label("Password again").fill("plum-orchard-77")
    invitee.get_by_role("button", name="Set password").click()
    invitee.wait_for_url(re.compile(r"/login"))
    _log_in(invitee, "gavin@hooli.example", "plum-orchard-77")
    rows = invitee.locator("table[data-nodes] tbody tr")
    assert rows.count() == 1
    assert "Hooli" in rows.first.inner_text()
