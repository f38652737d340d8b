"""The session's Chromium (Playwright sync API) for every browser test: ONE fixture,
registered by tests/conftest.py, since a second `sync_playwright()` in the same
process fails while the first is open."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PASSWORD = "correct-horse"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _require_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    reason = f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("RERATE_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}; RERATE_TEST_REQUIRE_BROWSER=1 makes this a failure")
    pytest.skip(reason)


# One browser for the whole session (Playwright's sync API runs one event
# loop per thread: a second `sync_playwright()` beside it fails).
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
