"""What the CLI changes is audited under the operating-system user who ran it
("cli:<user>"), also when it acts for an application user (`--as`)."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import AuditEntry, Job
from tests.jobs.helpers import add_job
from tests.world import World

OS_USER = getpass.getuser()


def _rerate(database: Database, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = _run(database, tmp_path, *args)
    assert done.returncode == 0, done.stderr
    return done


def _run(database: Database, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`rerate ARGS` in its own process, on `database`."""
    env = {
        **os.environ,
        "RERATE_DATABASE_URL": database.url,
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


def _entries(database: Database, object_type: str) -> list[AuditEntry]:
    with database.session() as s:
        return list(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.object_type == object_type)
                .order_by(AuditEntry.id)
            )
        )


def test_cli_changes_name_the_os_user(database: Database, world: World, tmp_path: Path):
    node_id = world.nodes["partner_a1"].id
    _rerate(
        database,
        tmp_path,
        *("users", "create", "ops@test.example", "--role", "partner_user"),
        *("--node-id", str(node_id), "--password", "correct-horse-9"),
    )
    _rerate(database, tmp_path, "apikeys", "create", "--user", "ops@test.example")
    created = [e for e in _entries(database, "users") if "ops@test.example" in e.changes]
    keys = _entries(database, "api_keys")[-1:]
    assert created
    assert keys
    for entry in [*created, *keys]:
        assert entry.actor == f"cli:{OS_USER}"
        assert entry.actor_id is None


def test_cli_acting_for_a_user_names_both(database: Database, world: World, tmp_path: Path):
    job_id = add_job(database, world.nodes["cust_a1x"].id)
    admin = world.users["platform_admin"]
    _rerate(database, tmp_path, "jobs", "cancel", str(job_id), "--as", admin.email)
    with database.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert job.status == "cancelled"
    update = [e for e in _entries(database, "jobs") if e.action == "update"]
    assert update
    assert update[-1].actor == f"cli:{OS_USER} as {admin.email}"
    assert update[-1].actor_id == admin.id
