"""A PostgreSQL restart while a job runs: the worker reconnects, the job fails
with the real cause and is retried once, automatically."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from rerate.kit.db import Database, is_sqlite
from rerate.models.enums import JobStatus
from tests.jobs.helpers import add_job, get_job, wait_for

SCRIPT = Path(__file__).with_name("disconnect_worker.py")


def _terminate_other_backends(database: Database) -> int:
    """Every other connection to the test database dies, as in a server restart
    (without stopping the shared server)."""
    with database.engine.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
        conn.commit()
    return int(killed)


@pytest.mark.postgres
def test_a_lost_connection_fails_the_attempt_with_its_cause_and_retries_once(
    database: Database, customer_id: int, tmp_path: Path
) -> None:
    if is_sqlite(database.engine):
        pytest.skip("an embedded SQLite file has no connection to lose")
    job_id = add_job(database, customer_id, "2025-05")
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), database.url], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for(
            lambda: get_job(database, job_id).progress_note == "holding a connection",
            timeout=30,
            what="the worker to start the job",
        )
        database.engine.dispose()  # our own pooled connections die too: start afresh
        assert _terminate_other_backends(database) >= 1
        wait_for(
            lambda: get_job(database, job_id).status in ("complete", "failed"),
            timeout=30,
            what="the job to finish after the connection loss",
        )
        assert proc.poll() is None, "the worker must survive the connection loss"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    job = get_job(database, job_id)
    output = (tmp_path / "worker.log").read_text()
    assert job.status == JobStatus.COMPLETE, (job.error, output[-3000:])
    assert job.attempts == 2
    assert job.result == '{"attempt": 2}'
    assert job.error is not None
    assert job.error.startswith("attempt 1: database connection lost: "), job.error
    assert "retried automatically" in job.error
    assert "stopped responding" not in job.error
