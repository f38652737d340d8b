"""Concurrent writes through a real HTTP server wait their turn and succeed.

On SQLite a request's transaction used to begin deferred: it read (the user,
the customer), then tried to write, and if any other connection had committed
in between (a worker's heartbeat, another request) SQLite refused the upgrade
at once with "database is locked", whatever the busy timeout: web logins,
API-key creates and custom-item creates answered a bare 500. Here 20 clients
do all three at the same moment while a worker-like connection keeps taking
the write lock and committing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from rerate.app import create_app
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from tests.api.live import LiveServer
from tests.billing.fixtures import build_billing
from tests.world import World

CLIENTS = 20


@pytest.fixture
def live(database: Database, data_dir: Path, world: World) -> Iterator[LiveServer]:
    build_billing(database, data_dir, world)
    settings = Settings(data_dir=data_dir, database_url=database.url, env="test")
    with LiveServer(create_app(settings)) as server:
        yield server


class WorkerLikeWriter(threading.Thread):
    """Takes the write lock again and again, holds it a moment and commits, as a
    busy job worker does with claims, heartbeats, progress and publishes."""

    def __init__(self, db: Database, node_id: int) -> None:
        super().__init__(name="worker-like-writer", daemon=True)
        self.db = db
        self.node_id = node_id
        self.stopping = threading.Event()
        self.commits = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            with self.db.write_session() as s:
                s.execute(text("UPDATE nodes SET name = name WHERE id = :id"), {"id": self.node_id})
                time.sleep(0.03)
            self.commits += 1
            time.sleep(0.005)

    def __enter__(self) -> WorkerLikeWriter:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopping.set()
        self.join(timeout=10)


def test_logins_key_creates_and_item_creates_all_succeed_under_a_busy_writer(
    live: LiveServer, database: Database, world: World
) -> None:
    customer = world.nodes["cust_a1x"].id
    start = threading.Barrier(CLIENTS)
    results: list[tuple[str, int, str]] = []

    def client(index: int) -> None:
        try:
            requests(index)
        except httpx.HTTPError as exc:  # no answer at all: recorded, not raised in a thread
            results.append(("no answer", 0, repr(exc)))

    def requests(index: int) -> None:
        with httpx.Client(base_url=live.url, timeout=60) as http:
            start.wait(timeout=30)
            login = http.post(
                "/login",
                data={
                    "email": "partner_admin@test.example",
                    "password": "correct-horse",
                    "next": "/",
                },
            )
            results.append(("login", login.status_code, login.text[:200]))
            key = http.post(
                "/api/v1/api-keys",
                json={"name": f"ci-{index}"},
                headers=world.headers("partner_user"),
            )
            results.append(("api-key", key.status_code, key.text[:200]))
            item = http.post(
                f"/api/v1/customers/{customer}/custom-line-items",
                json={
                    "description": f"Item {index}",
                    "amount": "1.00",
                    "one_off_date": "2026-08-15",
                },
                headers=world.headers("partner_admin"),
            )
            results.append(("item", item.status_code, item.text[:200]))

    with WorkerLikeWriter(database, world.nodes["dist_b"].id) as writer:
        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert writer.commits > 0
    expected = {"login": 303, "api-key": 201, "item": 201}
    wrong = [r for r in results if r[1] != expected.get(r[0])]
    assert wrong == []
    assert len(results) == 3 * CLIENTS
