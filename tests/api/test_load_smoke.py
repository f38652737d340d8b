"""Seconds of bench/bench_load.py's load on a live server: every request answered, no 5xx.

More clients (120) than the server had database connections (15) and threads (40)
at once: before requests queued for a session, a request holding a connection
waited for a thread while every thread waited for a connection, until the
pool timeout answered 500 (the full benchmark is `python bench/run.py load`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.loadgen import Call, Mix, closed_loop, new_client, summarise

from rerate.app import create_app
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from tests.api.live import LiveServer
from tests.billing.fixtures import build_billing
from tests.world import World

CLIENTS = 120
SECONDS = 4.0


@pytest.fixture
def live(database: Database, data_dir: Path, world: World) -> Iterator[LiveServer]:
    build_billing(database, data_dir, world)
    settings = Settings(data_dir=data_dir, database_url=database.url, env="test")
    with LiveServer(create_app(settings)) as server:
        yield server


def _mix(customer: int) -> Mix:
    def item(rng: random.Random) -> Call:
        body = {"description": "smoke", "amount": "1.00", "one_off_date": "2026-08-15"}
        return Call("item", "POST", f"/api/v1/customers/{customer}/custom-line-items", body)

    return Mix(
        [
            (35, lambda _r: Call("jobs", "GET", "/api/v1/jobs")),
            (30, lambda _r: Call("invoices", "GET", "/api/v1/invoices")),
            (25, lambda _r: Call("eligible", "GET", "/api/v1/billing-utilities/customers")),
            (10, item),
        ]
    )


def test_many_clients_at_once_are_all_answered_without_5xx(live: LiveServer, world: World) -> None:
    async def run() -> dict[str, object]:
        headers = world.headers("partner_admin")
        async with new_client(live.url, headers, clients=CLIENTS, timeout_s=10) as client:
            mix = _mix(world.nodes["cust_a1x"].id)
            return summarise(
                await closed_loop(client, mix, clients=CLIENTS, duration_s=SECONDS, seed=1)
            )

    # A thread of its own: Playwright's sync API (browser tests earlier in the
    # same process) leaves an event loop running in the main thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        summary = pool.submit(asyncio.run, run()).result()
    assert summary["requests"], summary
    assert summary["unanswered"] == 0, summary["errors"]
    assert summary["server_errors_5xx"] == 0, summary["statuses"]
    assert set(summary["statuses"]) <= {"200", "201"}, summary["statuses"]  # type: ignore[arg-type]
