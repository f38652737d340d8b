"""/docs in a real browser with every outside request blocked: Swagger UI renders
from the vendored assets, under the page's self-only CSP, and offers Authorize."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rerate.app import create_app
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from tests.web.test_browser import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture
def live_docs(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    db_path = tmp_path / "rerate.db"
    db_path.write_bytes(sqlite_template.read_bytes())
    db = Database(f"sqlite:///{db_path}")
    settings = Settings(data_dir=tmp_path, database_url=db.url, env="test")
    with LiveServer(create_app(settings, db)) as server:
        yield server.url
    db.dispose()


def test_docs_render_offline_and_offer_authorize(live_docs: str, browser: Any):
    outside: list[str] = []
    problems: list[str] = []
    context = browser.new_context()
    try:
        page = context.new_page()

        def route(r: Any) -> None:
            if r.request.url.startswith(live_docs):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{live_docs}/docs")
        page.wait_for_selector(".opblock-tag", timeout=20_000)  # the operations rendered
        assert page.get_by_text("/api/v1/auth/login", exact=True).count() >= 1
        page.click("button.authorize")
        dialog = page.wait_for_selector(".auth-container", timeout=5_000)
        assert "bearer" in dialog.inner_text()
        shots = os.environ.get("RERATE_WEB_SCREENSHOTS")
        if shots:
            page.screenshot(path=str(Path(shots) / "docs-authorize.png"))
    finally:
        context.close()
    assert outside == []
    assert [p for p in problems if "Content Security Policy" in p or "Refused" in p] == []
