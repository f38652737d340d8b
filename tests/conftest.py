"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, an app client.

PostgreSQL tests need `RERATE_TEST_POSTGRES_URL` (e.g.
postgresql://postgres@127.0.0.1:5432/test). Unreachable, they skip with the
reason, unless `RERATE_TEST_REQUIRE_POSTGRES=1` (set by CI), which turns the
skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text

from rerate.app import create_app
from rerate.kit import migrate
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from rerate.models import Base
from tests.billing.fixtures import Billing
from tests.browser import browser  # noqa: F401 - the one session-wide Chromium
from tests.world import World, build_world

# Property tests check values, never speed: hypothesis's default 200 ms
# deadline per example failed them when the two cores were busy (a test run
# next to a benchmark), which said nothing about the code.
hypothesis_settings.register_profile("rerate", deadline=None)
hypothesis_settings.load_profile("rerate")

PG_URL = os.environ.get("RERATE_TEST_POSTGRES_URL", "")
REQUIRE_PG = os.environ.get("RERATE_TEST_REQUIRE_POSTGRES") == "1"


def _sqlalchemy_pg_url(url: str) -> str:
    return (
        url.replace("postgresql://", "postgresql+psycopg://", 1)
        if url.startswith("postgresql://")
        else url
    )


def _pg_unavailable_reason() -> str | None:
    if not PG_URL:
        return "PostgreSQL not configured: set RERATE_TEST_POSTGRES_URL"
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except Exception as exc:  # any failure to connect means "not reachable"
        return f"PostgreSQL not reachable at {PG_URL}: {exc}"


def skip_or_fail_without_postgres() -> None:
    reason = _pg_unavailable_reason()
    if reason is None:
        return
    if REQUIRE_PG:
        pytest.fail(f"{reason} (RERATE_TEST_REQUIRE_POSTGRES=1 makes this a failure)")
    pytest.skip(reason)


REQUIRE_SPARK = os.environ.get("RERATE_TEST_REQUIRE_SPARK") == "1"


def skip_or_fail_without_spark() -> None:
    """Spark tests need pyspark (`pip install -e '.[spark]'`) and Java; CI
    (RERATE_TEST_REQUIRE_SPARK=1) makes their absence a failure."""
    reason = None
    try:
        import pyspark  # noqa: F401
    except ImportError:
        reason = "pyspark not installed: pip install -e '.[spark]'"
    if reason is None and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        reason = "no Java runtime for Spark (openjdk-17-jre-headless)"
    if reason is None:
        return
    if REQUIRE_SPARK:
        pytest.fail(f"{reason} (RERATE_TEST_REQUIRE_SPARK=1 makes this a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def spark_backend() -> Any:
    """One Spark session for the whole test run: local[2], no UI, few
    shuffle partitions (tests/rating/test_spark_parity.py)."""
    skip_or_fail_without_spark()
    from rerate.rating.backends.spark import SparkBackend

    backend = SparkBackend(
        "local[2]",
        {
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.driver.memory": "1g",
            "spark.sql.adaptive.enabled": "false",
        },
    )
    backend.session.sparkContext.setLogLevel("ERROR")
    return backend


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (fast isolation)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, built from the migrations."""
    skip_or_fail_without_postgres()
    import psycopg

    name = f"rerate_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = _sqlalchemy_pg_url(PG_URL)
    url = base.rsplit("/", 1)[0] + "/" + name
    migrate.upgrade(url)
    yield url
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_all(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


DIALECTS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _open_database(request: pytest.FixtureRequest, kind: str, directory: Path) -> Database:
    if kind == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = directory / "rerate.db"
        shutil.copy(template, path)
        return Database(f"sqlite:///{path}")
    db = Database(request.getfixturevalue("pg_database_url"))
    _truncate_all(db)
    return db


@pytest.fixture(params=DIALECTS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database: every test using it runs on both dialects."""
    db = _open_database(request, request.param, tmp_path)
    yield db
    db.dispose()


@pytest.fixture(scope="module", params=DIALECTS)
def module_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """Shared by a module's read-mostly tests (the permission matrix)."""
    db = _open_database(request, request.param, tmp_path_factory.mktemp("moddb"))
    yield db
    db.dispose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def world(database: Database) -> World:
    with database.session() as session:
        return build_world(session)


@pytest.fixture
def client(database: Database, data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=data_dir, database_url=database.url, env="test")
    app = create_app(settings, database)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    """The world plus two customers with contracts, a cloud price book and usage."""
    from tests.billing.fixtures import build_billing

    return build_billing(database, data_dir, world)
