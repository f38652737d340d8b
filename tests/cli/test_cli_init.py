"""`rerate init`: an empty database gets its platform node and first admin, once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from rerate.auth import service as auth
from rerate.auth.secrets import verify_password
from rerate.kit.db import Database
from rerate.models import Node, RoleAssignment


def _init(
    database: Database, tmp_path: Path, *args: str, password: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RERATE_DATABASE_URL": database.url,
        "RERATE_DATA_DIR": str(tmp_path / "data"),
        "RERATE_ADMIN_PASSWORD": password,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return subprocess.run(
        [sys.executable, "-m", "rerate.cli.main", "init", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_init_creates_the_root_and_its_admin_once(database: Database, tmp_path: Path):
    done = _init(
        database, tmp_path, "--admin-email", "Root@Example.test", password="a long passphrase 42"
    )
    assert done.returncode == 0, done.stderr
    assert "platform admin root@example.test" in done.stderr
    with database.session() as session:
        platform = session.scalars(select(Node)).one()
        assert (platform.kind, platform.name, platform.path) == (
            "platform",
            "Platform",
            f"/{platform.id}/",
        )
        grant = session.scalars(select(RoleAssignment)).one()
        assert (grant.role, grant.node_id) == ("platform_admin", platform.id)
        user = auth.get_user_by_email(session, "root@example.test")
        assert verify_password(user.password_hash, "a long passphrase 42")

    again = _init(
        database, tmp_path, "--admin-email", "b@example.test", password="another one 4242"
    )
    assert again.returncode == 2
    assert "already has a tenancy tree" in again.stderr
    assert "Traceback" not in again.stderr
    with database.session() as session:
        assert len(session.scalars(select(Node)).all()) == 1


def test_init_refuses_a_weak_password_and_stores_nothing(database: Database, tmp_path: Path):
    done = _init(database, tmp_path, "--admin-email", "root@example.test", password="password")
    assert done.returncode == 2
    assert done.stderr.startswith("error:")
    assert "Traceback" not in done.stderr
    with database.session() as session:
        assert session.scalar(select(Node.id)) is None
