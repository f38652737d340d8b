"""`rerate check [--repair]`: each invariant named, failing on the damage it is
about, repaired where rerate can repair it, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from rerate.jobs.queue import claim
from rerate.kit.db import Database, is_sqlite
from rerate.models import BillingCacheRow, InvoiceSeries, Job, UsageImport
from rerate.models.enums import JobStatus
from rerate.operations.check import Context, repair
from tests.billing.test_billing_utilities import drain
from tests.jobs.helpers import add_job
from tests.operations.helpers import (
    ADMIN,
    Installation,
    build_installation,
    check,
    check_cli,
    current_run,
    failing,
    invoice,
)
from tests.world import World

CHECK_NAMES = [
    "jobs_have_workers",
    "one_live_invoice",
    "invoice_totals",
    "issued_invoices_unchanged",
    "gapless_numbers",
    "published_runs",
    "billing_cache",
    "usage_files",
    "orphan_runs",
]


@pytest.fixture
def installation(
    client: TestClient, database: Database, data_dir: Path, world: World
) -> Installation:
    return build_installation(client, database, data_dir, world)


def _exec(database: Database, sql: str, **params: object) -> None:
    """Change rows behind the database's guards, as a careless manual fix would
    (SQLite: this test's copy loses its invoice triggers)."""
    with database.engine.begin() as conn:
        if not is_sqlite(database.engine):
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        elif "invoice" in sql:
            for trigger in ("invoices_frozen", "invoice_lines_frozen_update"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        conn.execute(text(sql), params)


def test_a_healthy_installation_passes_every_check(
    installation: Installation, database: Database, data_dir: Path
):
    report = check(database, data_dir)
    assert [c.name for c in report.checks] == CHECK_NAMES
    assert failing(report) == {}
    assert report.ok
    code, body = check_cli(database, data_dir)  # the real command, in its own process
    assert code == 0, body
    assert body["ok"] is True
    assert [c["name"] for c in body["checks"]] == CHECK_NAMES


def test_a_damaged_published_run_fails_and_repair_rebuilds_it(
    installation: Installation, database: Database, data_dir: Path
):
    run = current_run(database, installation.customer_id, "2026-09")
    part = Path(run.path) / "rated" / "part-00000.parquet"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: same size, other content
    part.write_bytes(bytes(data))
    name = str(part.relative_to(data_dir))

    assert failing(check(database, data_dir, deep=False)) == {}  # sizes only: unseen
    problems = failing(check(database, data_dir))["published_runs"]
    assert len(problems) == 1
    assert f"{name} is damaged (checksum mismatch)" in problems[0]
    assert str(data_dir) not in problems[0]

    code, body = check_cli(database, data_dir, "--repair")
    assert code == 1, body  # the recalculation is queued, not yet run
    assert any("queued recalculation job" in action for action in body["repaired"])
    assert drain(database, data_dir) == 1
    assert failing(check(database, data_dir)) == {}
    rebuilt = current_run(database, installation.customer_id, "2026-09")
    assert rebuilt.id != run.id
    assert rebuilt.net_total == run.net_total


def test_a_job_left_running_by_a_dead_worker_is_released(
    installation: Installation, database: Database, data_dir: Path
):
    dead = subprocess.Popen(["true"])  # a process id that no longer exists
    dead.wait()
    job_id = add_job(database, installation.customer_id, "2026-07")
    owner = f"{socket.gethostname()}:{dead.pid}:abcdef"
    claimed = claim(database, worker_id=owner, lease_s=600)
    assert claimed is not None
    assert claimed.id == job_id
    other = add_job(database, installation.world.nodes["cust_a1y"].id, "2026-07")
    assert claim(database, worker_id="far-away-host:1:x", lease_s=600) is not None

    problems = failing(check(database, data_dir))
    assert problems == {
        "jobs_have_workers": [
            f"job {job_id} is running, but worker {owner} is gone: its process {dead.pid} "
            f"no longer exists on {socket.gethostname()}"
        ]
    }  # the job on another host keeps its lease: its worker may be alive
    report = repair(Context(database, data_dir))
    assert report.ok, failing(report)
    with database.session() as s:
        released = s.get(Job, job_id)
        assert released is not None
        assert released.status == JobStatus.FAILED
        assert released.fencing_token == claimed.fencing_token + 1
        assert "no longer exists" in (released.error or "")
        assert "previous published state is unchanged" in (released.error or "")
        still = s.get(Job, other)
        assert still is not None
        assert still.status == JobStatus.RUNNING


def test_uncommitted_usage_files_are_noted_then_swept(
    installation: Installation, database: Database, data_dir: Path
):
    # An import killed between writing its files and committing its row.
    orphan = data_dir / "usage" / "day=2026-09-03" / "999.parquet"
    real = next((data_dir / "usage").glob("day=2026-09-03/*.parquet"))
    orphan.write_bytes(real.read_bytes())
    report = check(database, data_dir)
    assert report.ok
    notes = [f.detail for c in report.checks for f in c.notes if c.name == "usage_files"]
    assert notes
    assert "never committed (ids 999)" in notes[0]

    report = repair(Context(database, data_dir))
    assert report.ok
    assert not orphan.exists()
    assert real.exists()
    assert [f for c in report.checks for f in c.notes if c.name == "usage_files"] == []


def test_a_missing_usage_file_of_a_committed_import_fails(
    installation: Installation, database: Database, data_dir: Path
):
    victim = next((data_dir / "usage").glob("day=2026-09-03/*.parquet"))
    victim.unlink()
    problems = failing(check(database, data_dir))
    assert list(problems) == ["usage_files"]
    with database.session() as s:
        imported = s.scalar(select(UsageImport))
        assert imported is not None
        expected = imported.rows_new + imported.rows_corrected
    assert problems["usage_files"] == [
        f"import {victim.stem} (fixture): {expected - 4} rows in its files, {expected} recorded"
    ]  # 2 accounts x 2 SKUs a day
    report = repair(Context(database, data_dir))
    assert not report.ok  # usage cannot be invented: restore it or import it again
    finding = next(c for c in report.checks if c.name == "usage_files").problems[0]
    assert finding.repair is None
    assert finding.manual is not None
    assert "import the source file again" in finding.manual


def test_an_issued_invoice_changed_behind_the_guards_is_reported_not_repaired(
    installation: Installation, database: Database, data_dir: Path
):
    issued = invoice(database, installation.issued_invoice_id)
    first = min(issued.lines, key=lambda ln: ln.position)
    _exec(
        database,
        "UPDATE invoice_lines SET amount = :a WHERE id = :i",
        a=str(first.amount + Decimal("1.00")),
        i=first.id,
    )
    problems = failing(check(database, data_dir))
    assert set(problems) == {"invoice_totals", "issued_invoices_unchanged"}
    assert problems["issued_invoices_unchanged"] == [
        f"invoice {issued.id} ({issued.number}) changed after it was issued "
        "(amounts, currency or lines differ from the issue record)"
    ]
    # Totals made to agree again: the lines add up, the change is still caught.
    _exec(
        database,
        "UPDATE invoices SET subtotal = :s, total = :t WHERE id = :i",
        s=str(issued.subtotal + Decimal("1.00")),
        t=str(issued.total + Decimal("1.00")),
        i=issued.id,
    )
    assert set(failing(check(database, data_dir))) == {"issued_invoices_unchanged"}
    report = repair(Context(database, data_dir))
    assert set(failing(report)) == {"issued_invoices_unchanged"}
    assert report.repaired == []


def test_a_gap_in_the_numbers_fails(installation: Installation, database: Database, data_dir: Path):
    with database.session() as s:
        s.execute(update(InvoiceSeries).values(next_number=InvoiceSeries.next_number + 2))
        series = s.scalar(select(InvoiceSeries))
        assert series is not None
    problems = failing(check(database, data_dir))
    assert problems == {
        "gapless_numbers": [
            f"series {series.series}: numbers 2-3 were taken but no invoice has them"
        ]
    }


def test_two_live_invoices_for_one_period_fail(
    installation: Installation, database: Database, data_dir: Path
):
    issued = invoice(database, installation.issued_invoice_id)
    with database.engine.begin() as conn:
        conn.execute(text("DROP INDEX uq_invoices_one_live"))
    try:
        with database.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO invoices (customer_id, period, type, status, version, series, "
                    "currency, subtotal, tax_rate, tax, total, rounding_mode, run_ids, "
                    "created_at) SELECT customer_id, period, type, 'ready', 2, series, "
                    "currency, 0, tax_rate, 0, 0, rounding_mode, run_ids, created_at "
                    "FROM invoices WHERE id = :i"
                ),
                {"i": issued.id},
            )
        problems = failing(check(database, data_dir))
        assert problems == {
            "one_live_invoice": [
                f"customer {installation.customer_id} has 2 live monthly invoices for 2026-09"
            ]
        }
    finally:
        with database.engine.begin() as conn:
            conn.execute(text("DELETE FROM invoices WHERE version = 2 AND status = 'ready'"))
            conn.execute(
                text(
                    "CREATE UNIQUE INDEX uq_invoices_one_live ON invoices "
                    "(customer_id, period, type) "
                    "WHERE status in ('draft','ready','issued','paid')"
                )
            )


def test_a_stale_billing_cache_is_rebuilt(
    installation: Installation, database: Database, data_dir: Path
):
    august = current_run(database, installation.customer_id, "2026-08")
    september = current_run(database, installation.customer_id, "2026-09")
    with database.session() as s:
        s.execute(
            update(BillingCacheRow)
            .where(BillingCacheRow.period == "2026-09")
            .values(run_id=august.id)
        )
    problems = failing(check(database, data_dir))
    assert problems == {
        "billing_cache": [
            f"customer {installation.customer_id} 2026-09: cache rows from runs "
            f"[{august.id}], current run {september.id}"
        ]
    }
    report = repair(Context(database, data_dir))
    assert report.ok, failing(report)
    assert any("rebuilt the cache" in action for action in report.repaired)


def test_orphan_run_directories_are_noted_and_old_ones_removed(
    installation: Installation, database: Database, data_dir: Path
):
    run = current_run(database, installation.customer_id, "2026-09")
    orphan = Path(run.path).with_name(uuid.uuid4().hex)
    orphan.mkdir()
    (orphan / "summary.json").write_text("{}")
    report = check(database, data_dir)
    assert report.ok
    notes = [f.detail for c in report.checks for f in c.notes if c.name == "orphan_runs"]
    assert notes == [
        f"1 run directories no billing run refers to, e.g. {orphan.relative_to(data_dir)}"
    ]
    repair(Context(database, data_dir))
    assert orphan.exists()  # young: it may belong to a recalculation about to record it
    old = 3600.0
    os.utime(orphan, (orphan.stat().st_atime - old, orphan.stat().st_mtime - old))
    report = repair(Context(database, data_dir))
    assert not orphan.exists()
    assert report.repaired == ["deleted 1 orphan run directories"]
    assert Path(run.path).exists()


def test_the_check_over_the_api_is_for_platform_operators_only(
    client: TestClient, installation: Installation
):
    w = installation.world
    ok = client.get("/api/v1/operations/check", headers=w.headers(ADMIN))
    assert ok.status_code == 200, ok.text
    assert ok.json()["ok"] is True
    assert [c["name"] for c in ok.json()["checks"]] == CHECK_NAMES
    deep = client.get("/api/v1/operations/check?deep=true", headers=w.headers("platform_service"))
    assert deep.status_code == 200
    for user in ("distributor", "partner_admin", "customer_user"):
        refused = client.get("/api/v1/operations/check", headers=w.headers(user))
        assert refused.status_code == 403, user
        assert refused.json()["error"] == "Forbidden"
    assert client.get("/api/v1/operations/check").status_code == 401


def test_repair_does_not_re_rate_everything_when_the_data_directory_is_elsewhere(
    installation: Installation, database: Database, data_dir: Path, tmp_path: Path
):
    moved = tmp_path / "moved"
    data_dir.rename(moved)  # the database now points at directories that are not there
    data_dir.mkdir()
    problems = failing(check(database, data_dir))
    assert len(problems["published_runs"]) == 3  # A1x Aug and Sep, A1y Aug
    report = repair(Context(database, data_dir))
    assert report.repaired == [
        "no recalculation queued: none of the 3 published runs' directories exists; "
        "is RERATE_DATA_DIR the data directory this database was used with?"
    ]
    with database.session() as s:
        assert s.scalar(select(Job).where(Job.status == "queued")) is None
