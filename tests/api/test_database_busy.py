"""A database that cannot take a request in time answers 503 DatabaseBusy, not 500.

Two ways to be busy: no free pooled connection within the pool timeout (both
databases), and SQLite's write lock held by someone else beyond the busy
timeout. The API answers the JSON envelope with Retry-After; the web console
an error page.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rerate.app import create_app
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from tests.world import World

LOGIN = {"email": "partner_admin@test.example", "password": "correct-horse", "next": "/"}


def _app(database: Database, data_dir: Path, **options: object) -> FastAPI:
    settings = Settings(data_dir=data_dir, database_url=database.url, env="test", **options)
    return create_app(settings)


@pytest.fixture
def one_connection_client(database: Database, data_dir: Path, world: World) -> Iterator[TestClient]:
    """A client of an app with a pool of one connection, which the test holds."""
    app = _app(database, data_dir, db_pool_size=1, db_max_overflow=0, db_pool_timeout_s=0.2)
    with TestClient(app) as client, app.state.db.engine.connect():
        yield client


def _assert_busy_envelope(response: object) -> None:
    assert response.status_code == 503, response.text  # type: ignore[attr-defined]
    assert response.json()["error"] == "DatabaseBusy"  # type: ignore[attr-defined]
    assert int(response.headers["retry-after"]) > 0  # type: ignore[attr-defined]


def test_no_free_connection_is_a_503_envelope(
    one_connection_client: TestClient, world: World
) -> None:
    client = one_connection_client
    _assert_busy_envelope(client.get("/api/v1/me", headers=world.headers("partner_admin")))
    _assert_busy_envelope(
        client.post("/api/v1/api-keys", json={}, headers=world.headers("partner_user"))
    )


def test_no_free_connection_is_a_503_page(one_connection_client: TestClient) -> None:
    page = one_connection_client.post("/login", data=LOGIN, follow_redirects=False)
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "try again" in page.text
    assert int(page.headers["retry-after"]) > 0


@pytest.fixture
def sqlite_write_lock(database: Database) -> Iterator[None]:
    """Someone else holds SQLite's write lock for the whole test."""
    if database.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no database-wide write lock")
    path = database.engine.url.database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    yield
    other.rollback()
    other.close()


def test_write_lock_held_past_the_busy_timeout_is_a_503_envelope(
    database: Database, data_dir: Path, world: World, sqlite_write_lock: None
) -> None:
    app = _app(database, data_dir, sqlite_busy_timeout_s=0.3)
    with TestClient(app) as client:
        r = client.post("/api/v1/api-keys", json={}, headers=world.headers("partner_user"))
        _assert_busy_envelope(r)
        assert "try again" in r.json()["detail"]
        # Reading goes on meanwhile (WAL): only the write waits.
        me = client.get("/api/v1/me", headers=world.headers("partner_user"))
        assert me.status_code == 200, me.text


def test_write_lock_held_past_the_busy_timeout_is_a_503_page(
    database: Database, data_dir: Path, world: World, sqlite_write_lock: None
) -> None:
    app = _app(database, data_dir, sqlite_busy_timeout_s=0.3)
    with TestClient(app) as client:
        page = client.post("/login", data=LOGIN, follow_redirects=False)
    assert page.status_code == 503
    assert "try again" in page.text
    assert "database is locked" not in page.text
