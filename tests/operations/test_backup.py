"""`rerate backup` / `rerate restore` / `rerate db upgrade`'s backup, on SQLite and PostgreSQL:
a backup taken, the installation changed (a new price, a new run, a new customer, a
damaged run file), the backup restored: the data are those of the backup again."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rerate.billing import utilities
from rerate.invoicing.generate import generate_for
from rerate.kit import migrate
from rerate.kit.db import Database
from rerate.kit.errors import Conflict, Invalid
from rerate.models import (
    Base,
    BillingRun,
    CurrentRun,
    Invoice,
    Node,
    PriceBookVersion,
    PriceEntry,
)
from rerate.models.enums import JobType, NodeKind, ReasonCode
from rerate.operations import backup as bk
from rerate.pricebooks.service import mark_published
from rerate.tenancy.service import create_node
from tests.billing.fixtures import Billing
from tests.web.test_pages import drain


def _principal(s, email: str):
    from rerate.auth import service as auth

    return auth.principal_for(s, auth.get_user_by_email(s, email), via="cli")


def recalc(database: Database, data_dir: Path, billing: Billing, period: str) -> None:
    with database.session() as s:
        utilities.submit(
            s,
            _principal(s, billing.world.users["platform_admin"].email),
            JobType.RECALCULATION,
            customer_id=billing.world.nodes["cust_a1x"].id,
            periods=[period],
            reason=ReasonCode.PRICE_BOOK_UPDATE,
        )
    drain(database, data_dir)


def new_prices(database: Database, billing: Billing) -> None:
    with database.session() as s:
        v2 = PriceBookVersion(
            price_book_id=billing.price_book_id,
            version=2,
            effective_from=datetime(2026, 8, 31, 22, tzinfo=UTC),
        )
        s.add(v2)
        s.flush()
        s.add_all(
            [
                PriceEntry(
                    version_id=v2.id,
                    sku="vm.small",
                    service="Compute",
                    unit="h",
                    unit_price=Decimal("0.06"),
                ),
                PriceEntry(
                    version_id=v2.id,
                    sku="disk.gb",
                    service="Storage",
                    unit="GB-day",
                    unit_price=Decimal("0.0033333333"),
                ),
            ]
        )
        s.flush()
        mark_published(s, v2, by=None)


def state(database: Database, data_dir: Path) -> dict[str, object]:
    """Row counts of every table, the invoice's total, the published run's files."""
    with database.session() as s:
        counts = {
            t.name: s.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
        }
        invoice_total = s.scalar(select(Invoice.total).where(Invoice.period == "2026-09"))
        pointer = s.scalar(select(CurrentRun).where(CurrentRun.period == "2026-09"))
        assert pointer is not None
        run = s.get(BillingRun, pointer.run_id)
        assert run is not None
        files = {
            p.relative_to(data_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(run.path).rglob("*"))
            if p.is_file()
        }
    return {"counts": counts, "invoice_total": invoice_total, "run": run.id, "files": files}


def _cli(database: Database, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RERATE_DATABASE_URL": database.url,
        "RERATE_DATA_DIR": str(data_dir),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return subprocess.run(
        [sys.executable, "-m", "rerate.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def billed(billing: Billing, database: Database, data_dir: Path) -> Billing:
    """September billed: a published run and an invoice."""
    recalc(database, data_dir, billing, "2026-09")
    with database.session() as s:
        generate_for(s, s.get(Node, billing.world.nodes["cust_a1x"].id), "2026-09")
    return billing


def test_backup_mutate_restore_gives_the_backup_back(
    billed: Billing, database: Database, data_dir: Path, tmp_path: Path
):
    before = state(database, data_dir)
    assert before["invoice_total"] == Decimal("101.76")  # 84.80 + 20 % tax
    out = tmp_path / "backups" / "b.tar.gz"
    result = bk.create_backup(database.url, data_dir, out)
    assert result.path == out
    assert out.is_file()
    m = bk.read_manifest(out)
    assert m["alembic_revision"] == bk.head_revision(database.url)
    assert m["rerate_version"]
    assert m["created_at"]
    assert m["dialect"] == ("sqlite" if database.url.startswith("sqlite") else "postgresql")
    assert set(before["files"]) <= set(m["files"])  # type: ignore[arg-type]
    assert "rerate.db" not in m["files"]  # the SQLite file goes through the backup API

    # Change everything a backup covers: prices, a new published run (new files),
    # a new customer, and damage a file of the run the backup knows.
    new_prices(database, billed)
    recalc(database, data_dir, billed, "2026-09")
    with database.session() as s:
        partner = s.get(Node, billed.world.nodes["partner_a1"].id)
        create_node(s, NodeKind.CUSTOMER, name="Late", parent=partner)
    changed = state(database, data_dir)
    assert changed["run"] != before["run"]
    assert changed["counts"] != before["counts"]
    damaged = data_dir / next(iter(before["files"]))  # type: ignore[call-overload]
    damaged.write_bytes(b"broken")

    with pytest.raises(Conflict, match="--yes"):
        bk.restore_backup(database.url, data_dir, out)
    restored = bk.restore_backup(database.url, data_dir, out, overwrite=True)
    database.dispose()  # pooled connections knew the replaced schema
    assert restored.revision == m["alembic_revision"]
    assert restored.removed > 0  # the run written after the backup
    after = state(database, data_dir)
    assert after == before
    with database.session() as s:
        assert s.scalar(select(Node).where(Node.name == "Late")) is None
        runs = list(s.scalars(select(BillingRun)))
    assert all(Path(r.path).is_dir() for r in runs)


def test_cli_backup_to_a_directory_refusals_and_restore(
    billed: Billing, database: Database, data_dir: Path, tmp_path: Path
):
    before = state(database, data_dir)
    out = tmp_path / "dir-backup"
    done = _cli(database, data_dir, "backup", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    assert (out / "manifest.json").is_file()
    assert (out / "data").is_dir()
    assert _cli(database, data_dir, "backup", "--out", str(out)).returncode == 2  # exists

    # A newer rerate's backup (an unknown revision) and a damaged one are refused.
    newer = tmp_path / "newer"
    shutil.copytree(out, newer)
    manifest = json.loads((newer / "manifest.json").read_text())
    manifest["alembic_revision"] = "9999"
    (newer / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(Invalid, match="newer than this rerate"):
        bk.restore_backup(database.url, data_dir, newer, overwrite=True)
    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    name = next(iter(manifest["files"]))
    (damaged / "data" / name).write_bytes(b"x")
    refused = _cli(database, data_dir, "restore", str(damaged), "--yes")
    assert refused.returncode == 2
    assert "does not match its checksum" in refused.stderr

    new_prices(database, billed)
    recalc(database, data_dir, billed, "2026-09")
    no = _cli(database, data_dir, "restore", str(out))
    assert no.returncode == 2
    assert "--yes" in no.stderr
    assert state(database, data_dir) != before  # nothing was touched
    done = _cli(database, data_dir, "restore", str(out), "--yes")
    assert done.returncode == 0, done.stderr
    assert "rerate check" in done.stderr
    database.dispose()
    assert state(database, data_dir) == before


def test_restore_into_another_data_directory_relocates_the_runs(
    billed: Billing, database: Database, data_dir: Path, tmp_path: Path
):
    """The runbook's "test on a copy first": production's backup restored into a copy
    with its own data directory (and database) still reads its runs."""
    if not database.url.startswith("sqlite"):
        pytest.skip("one database per test on PostgreSQL; the relocation is dialect-neutral")
    out = bk.create_backup(database.url, data_dir, tmp_path / "b.tar.gz").path
    copy_dir = tmp_path / "copy"
    copy_url = f"sqlite:///{copy_dir / 'rerate.db'}"
    restored = bk.restore_backup(copy_url, copy_dir, out)
    assert restored.relocated_runs >= 1
    copy = Database(copy_url)
    try:
        with copy.session() as s:
            paths = list(s.scalars(select(BillingRun.path)))
        assert paths
        assert all(p.startswith(f"{copy_dir.resolve()}/") for p in paths)
        assert all(Path(p).is_dir() for p in paths)
    finally:
        copy.dispose()


def test_db_upgrade_takes_a_backup_first_unless_told_not_to(
    database: Database, data_dir: Path, tmp_path: Path
):
    head = bk.head_revision(database.url)
    previous = bk._script(database.url).get_revision(head).down_revision
    database.dispose()
    from alembic import command

    command.downgrade(migrate.alembic_config(database.url), previous)
    at_previous = set(_tables(database))
    assert bk.pending_migration(database.url)
    done = _cli(database, data_dir, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("backup before the upgrade"))
    written = Path(line.split(": ", 1)[1].strip())
    assert written.is_file()
    assert written.parent == (data_dir / "backups").resolve()
    assert bk.read_manifest(written)["alembic_revision"] == previous
    assert bk.current_revision(database.url) == head

    # Nothing pending: no backup. --no-backup: none either.
    again = _cli(database, data_dir, "db", "upgrade")
    assert again.returncode == 0
    assert "backup before" not in again.stderr
    command.downgrade(migrate.alembic_config(database.url), previous)
    skipped = _cli(database, data_dir, "db", "upgrade", "--no-backup")
    assert skipped.returncode == 0
    assert "backup before" not in skipped.stderr
    assert sorted((data_dir / "backups").iterdir()) == [written]
    assert bk.current_revision(database.url) == head

    # The pre-upgrade backup puts the schema back as it was, and says an upgrade is due.
    database.dispose()
    restored = bk.restore_backup(database.url, data_dir, written, overwrite=True)
    assert bk.current_revision(database.url) == previous
    assert any("rerate db upgrade" in note for note in restored.notes)
    assert set(_tables(database)) == at_previous  # a table the upgrade added is dropped
    database.dispose()
    command.upgrade(migrate.alembic_config(database.url), "head")


def _tables(database: Database) -> list[str]:
    from sqlalchemy import inspect

    with database.engine.connect() as conn:
        return inspect(conn).get_table_names()
