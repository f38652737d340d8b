"""A worker process killed with SIGKILL mid-job: the reaper fails the job and fences it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rerate.jobs.queue import ClaimedJob, FencingError, fenced, reap_expired
from rerate.kit.db import Database, is_sqlite
from rerate.models.base import utcnow
from rerate.models.enums import JobStatus, JobType
from tests.jobs.helpers import add_job, get_job, wait_for

SCRIPT = Path(__file__).with_name("sigkill_worker.py")


@pytest.mark.postgres
@pytest.mark.slow
def test_a_sigkilled_worker_is_reaped_and_its_claim_fenced_out(
    database: Database, customer_id: int
) -> None:
    if is_sqlite(database.engine):
        pytest.skip("a killed process mid-transaction is PostgreSQL's production case")
    job_id = add_job(database, customer_id, "2025-05")
    proc = subprocess.Popen([sys.executable, str(SCRIPT), database.url, "2"])
    try:
        wait_for(
            lambda: get_job(database, job_id).progress_note == "started",
            timeout=30,
            what="the worker process to start the job",
        )
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise
    running = get_job(database, job_id)
    assert running.status == JobStatus.RUNNING
    assert running.lease_owner == "sigkill-victim"
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    assert reap_expired(database) == []  # its last lease has not run out yet

    lease_end = get_job(database, job_id).lease_expires_at
    assert lease_end is not None
    time.sleep(max((lease_end - utcnow()).total_seconds(), 0) + 0.1)
    assert reap_expired(database) == [job_id]

    job = get_job(database, job_id)
    assert job.status == JobStatus.FAILED
    assert job.error is not None
    assert job.error.startswith("worker sigkill-victim stopped responding (lease expired at ")
    assert "the previous published state is unchanged — run the job again" in job.error
    assert job.fencing_token == running.fencing_token + 1
    old_claim = ClaimedJob(
        id=job_id, type=JobType.RECALCULATION, customer_id=customer_id, period="2025-05",
        fencing_token=running.fencing_token, dry_run=False, reason=running.reason,
        explanation="", actor_id=None, parent_id=None, request_id=running.request_id,
    )  # fmt: skip
    with database.write_session() as s, pytest.raises(FencingError):
        fenced(s, old_claim)
