"""`rerate db grant-app-role`: the application role can use the tables but can
neither rewrite the audit log nor switch its guards off (PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from rerate.app import create_app
from rerate.kit.db import Database
from rerate.kit.settings import Settings
from rerate.models import AuditEntry
from tests.conftest import _truncate_all
from tests.world import build_world


def _rerate(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RERATE_DATABASE_URL": url,
        "RERATE_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return subprocess.run(
        [sys.executable, "-m", "rerate.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def owner_url(pg_database_url: str) -> str:
    db = Database(pg_database_url)
    _truncate_all(db)
    db.dispose()
    return pg_database_url


@pytest.fixture
def app_role(owner_url: str) -> Iterator[str]:
    role = f"rerate_app_{uuid.uuid4().hex[:8]}"
    yield role
    engine = create_engine(owner_url)
    with engine.begin() as conn:  # roles are cluster-wide: leave none behind
        conn.exec_driver_sql(f"DROP OWNED BY {role}")
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
    engine.dispose()


@pytest.mark.postgres
def test_app_role_cannot_rewrite_or_unguard_the_audit_log(
    owner_url: str, app_role: str, tmp_path: Path
):
    for _ in range(2):  # idempotent: a second run (after an upgrade, say) succeeds too
        done = _rerate(
            owner_url,
            tmp_path,
            *("db", "grant-app-role", "--role", app_role, "--password", "s3cret:pw'x"),
        )
        assert done.returncode == 0, done.stderr
        assert "s3cret" not in done.stderr + done.stdout
    app_url = (
        make_url(owner_url)
        .set(username=app_role, password="s3cret:pw'x")
        .render_as_string(hide_password=False)
    )

    # The normal application flow works as the app role, and is audited.
    app_db = Database(app_url)
    try:
        with app_db.session() as s:
            world = build_world(s)
        settings = Settings(data_dir=tmp_path / "data", database_url=app_url, env="test")
        with TestClient(create_app(settings, app_db)) as client:
            r = client.put(
                "/api/v1/settings/DefaultBillingAggregationMonthly",
                json={"value": "true"},
                headers=world.headers("platform_admin"),
            )
            assert r.status_code == 200, r.text
        with app_db.session() as s:
            assert (s.scalar(select(func.count()).select_from(AuditEntry)) or 0) > 0
            assert s.scalar(select(AuditEntry.actor).where(AuditEntry.object_type == "settings"))

        refused = [
            "TRUNCATE audit_log",
            "ALTER TABLE audit_log DISABLE TRIGGER ALL",
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
            "ALTER TABLE invoices DISABLE TRIGGER invoices_status_forward",
            "DROP TRIGGER audit_log_append_only ON audit_log",
            "UPDATE audit_log SET actor = 'mallory'",
            "DELETE FROM audit_log",
            "DROP TABLE audit_log",
            "SET session_replication_role = replica",
            "UPDATE alembic_version SET version_num = 'x'",
        ]
        for statement in refused:
            with app_db.engine.connect() as conn, pytest.raises(DBAPIError) as caught:
                conn.execute(text(statement))
            message = str(caught.value.orig)
            assert "permission denied" in message or "must be owner" in message, statement
    finally:
        app_db.dispose()
    owner = Database(owner_url)
    with owner.session() as s:  # nothing was lost
        assert (s.scalar(select(func.count()).select_from(AuditEntry)) or 0) > 0
        assert s.scalar(select(func.count()).where(AuditEntry.actor == "mallory")) == 0
    owner.dispose()


def test_grant_app_role_refuses_sqlite(tmp_path: Path, sqlite_template: Path):
    done = _rerate(f"sqlite:///{sqlite_template}", tmp_path, "db", "grant-app-role")
    assert done.returncode == 1
    assert "PostgreSQL" in done.stderr
