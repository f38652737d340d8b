"""A PostgreSQL restart while a job runs: the worker reconnects, the job fails
with the real cause and is retried once, automatically."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from rerate.jobs.queue import claim
from rerate.jobs.worker import Worker, start_in_thread
from rerate.kit.db import Database, is_sqlite
from rerate.models.enums import JobStatus, JobType
from tests.jobs.helpers import add_job, get_job, wait_for
from tests.jobs.tcp_proxy import TcpProxy

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
        [sys.executable, str(SCRIPT), database.url, "30"], stdout=log, stderr=subprocess.STDOUT
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


@pytest.mark.postgres
@pytest.mark.slow
def test_a_database_away_longer_than_the_lease_is_not_blamed_on_the_worker(
    database: Database, customer_id: int, tmp_path: Path
) -> None:
    """A restart that takes a few seconds: connections cut, new ones refused
    for longer than the job's lease. The worker waits for the server, records
    the cause, and the retry completes the job; the reaper never steps in."""
    if is_sqlite(database.engine):
        pytest.skip("an embedded SQLite file has no server to restart")
    url = make_url(database.url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    job_id = add_job(database, customer_id, "2025-06")
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), via_proxy, "2"], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for(
            lambda: get_job(database, job_id).progress_note == "holding a connection",
            timeout=30,
            what="the worker to start the job",
        )
        proxy.outage(4.0)  # twice the 2 s lease
        wait_for(
            lambda: get_job(database, job_id).status in ("complete", "failed"),
            timeout=40,
            what="the job to finish after the outage",
        )
        assert proc.poll() is None, "the worker must survive the outage"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        proxy.close()
    job = get_job(database, job_id)
    output = (tmp_path / "worker.log").read_text()
    assert job.status == JobStatus.COMPLETE, (job.error, output[-3000:])
    assert job.attempts == 2
    assert job.error is not None
    assert job.error.startswith("attempt 1: database connection lost: "), job.error
    assert "stopped responding" not in job.error


@pytest.mark.postgres
@pytest.mark.slow
def test_after_an_outage_the_reaper_waits_a_lease_for_live_workers_to_renew(
    database: Database, customer_id: int
) -> None:
    """Every lease runs out while the database is away, the live workers' too.
    A worker back from an outage reaps nothing for one lease, so a worker that
    is still rating has time to renew its lease rather than be failed as dead."""
    if is_sqlite(database.engine):
        pytest.skip("an embedded SQLite file has no server to restart")
    url = make_url(database.url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    reaper_db = Database(via_proxy)
    # An idle worker: it polls for cache syncs (there are none) every 50 ms.
    reaper = Worker(
        reaper_db,
        handlers={JobType.CACHE_SYNC: lambda _ctx: {}},
        worker_id="reaper",
        lease_s=6,
        poll_s=0.05,
        expand=None,
    )
    thread, stop = start_in_thread(reaper)
    try:
        time.sleep(0.5)  # connected and polling
        started = time.monotonic()
        proxy.outage(1.0)
        # A job whose lease runs out 1 s after the database is back, as a
        # live worker's would if its heartbeat came late.
        job_id = add_job(database, customer_id, "2025-08")
        assert claim(database, worker_id="busy-host:1:abcdef", lease_s=1) is not None
        time.sleep(max(0.0, started + 5.2 - time.monotonic()))
        assert get_job(database, job_id).status == JobStatus.RUNNING  # not reaped yet
        wait_for(
            lambda: get_job(database, job_id).status == JobStatus.FAILED,
            timeout=15,
            what="the reaper to fail the job once its grace is over",
        )
    finally:
        stop.set()
        thread.join(timeout=30)
        reaper_db.dispose()
        proxy.close()
    assert "stopped responding" in (get_job(database, job_id).error or "")
