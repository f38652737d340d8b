from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from rerate.jobs.queue import JobCancelled, cancel, claim, reap_expired
from rerate.jobs.schedules import create_schedule
from rerate.jobs.worker import Handler, JobContext, Worker, run_worker_process, start_in_thread
from rerate.kit.db import Database
from rerate.models.base import utcnow
from rerate.models.enums import JobStatus, JobType, ReasonCode
from rerate.models.jobs import Job
from tests.jobs.helpers import add_job, get_job, wait_for

REC = JobType.RECALCULATION


def _worker(db: Database, handler: Handler, **kw: Any) -> Worker:
    return Worker(db, handlers={REC: handler}, worker_id="test-worker", poll_s=0.05, **kw)


def _status(db: Database, job_id: int) -> str:
    return get_job(db, job_id).status


def test_run_once_without_work_returns_false(database: Database) -> None:
    assert _worker(database, lambda ctx: {}).run_once() is False


def test_worker_runs_the_handler_and_completes_the_job(
    database: Database, customer_id: int
) -> None:
    job_id = add_job(database, customer_id, "2025-04")
    seen: list[tuple[int, str]] = []

    def handler(ctx: JobContext) -> dict[str, Any]:
        seen.append((ctx.claimed.customer_id, ctx.claimed.period))
        ctx.progress(Decimal("0.5"), "halfway")
        return {"total": Decimal("10.10")}

    assert _worker(database, handler).run_once() is True
    job = get_job(database, job_id)
    assert seen == [(customer_id, "2025-04")]
    assert job.status == JobStatus.COMPLETE
    assert job.result is not None
    assert json.loads(job.result) == {"total": "10.10"}
    assert job.progress_note == "halfway"


def test_worker_only_claims_types_it_has_handlers_for(database: Database, customer_id: int) -> None:
    job_id = add_job(database, customer_id, type=JobType.INVOICE_REFRESH)
    assert _worker(database, lambda ctx: {}).run_once() is False
    assert _status(database, job_id) == JobStatus.QUEUED


def test_a_handler_exception_fails_the_job_with_class_and_message(
    database: Database, customer_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = add_job(database, customer_id)

    def handler(ctx: JobContext) -> dict[str, Any]:
        raise ValueError("no price for SKU X in 2025-01")

    with caplog.at_level(logging.ERROR, logger="rerate.jobs.worker"):
        _worker(database, handler).run_once()
    job = get_job(database, job_id)
    assert job.status == JobStatus.FAILED
    assert job.error == "ValueError: no price for SKU X in 2025-01"  # no traceback for the user
    assert any(r.exc_info for r in caplog.records)  # ... but one in the log


def test_a_handler_that_returns_no_dict_fails_the_job(database: Database, customer_id: int) -> None:
    job_id = add_job(database, customer_id)
    _worker(database, lambda ctx: None).run_once()  # type: ignore[arg-type, return-value]
    assert get_job(database, job_id).error == "TypeError: handler returned NoneType, not a dict"


def test_a_handler_raising_job_cancelled_cancels_the_job(
    database: Database, customer_id: int
) -> None:
    job_id = add_job(database, customer_id)

    def handler(ctx: JobContext) -> dict[str, Any]:
        raise JobCancelled("stop")

    _worker(database, handler).run_once()
    assert _status(database, job_id) == JobStatus.CANCELLED


def test_cancelling_a_running_job_stops_its_handler_cooperatively(
    database: Database, customer_id: int
) -> None:
    job_id = add_job(database, customer_id)
    steps: list[int] = []

    def handler(ctx: JobContext) -> dict[str, Any]:
        for i in range(400):  # 20 s if nobody cancels
            steps.append(i)
            ctx.check()
            time.sleep(0.05)
        return {}

    thread, stop = start_in_thread(_worker(database, handler, lease_s=1))
    try:
        wait_for(lambda: _status(database, job_id) == JobStatus.RUNNING, what="job running")
        with database.write_session() as s:
            cancel(s, job_id)
        wait_for(lambda: _status(database, job_id) == JobStatus.CANCELLED, what="cancelled")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(steps) < 100  # stopped within a few heartbeats, not after 400 steps


def test_the_background_heartbeat_keeps_the_lease_through_a_long_silent_step(
    database: Database, customer_id: int
) -> None:
    job_id = add_job(database, customer_id)
    reaped: list[int] = []

    def handler(ctx: JobContext) -> dict[str, Any]:
        # Nearly two leases without a word: only the heartbeat thread keeps the job
        # ours. A 3 s lease (a beat each second) leaves the beats 2 s of slack on
        # a loaded machine; with 1 s a beat delayed by SQLite's write lock under
        # load once let the lease lapse.
        deadline = time.monotonic() + 5.4
        while time.monotonic() < deadline:
            reaped.extend(reap_expired(database))
            time.sleep(0.1)
        return {"ok": True}

    _worker(database, handler, lease_s=3).run_once()
    assert reaped == []
    assert _status(database, job_id) == JobStatus.COMPLETE


def test_a_worker_that_lost_its_lease_writes_nothing(database: Database, customer_id: int) -> None:
    job_id = add_job(database, customer_id)
    started, reaped = threading.Event(), threading.Event()
    raised: list[str] = []

    def handler(ctx: JobContext) -> dict[str, Any]:
        started.set()
        reaped.wait(10)
        try:
            ctx.progress(Decimal("0.9"), "almost")
        except Exception as exc:
            raised.append(type(exc).__name__)
            raise
        return {"published": True}

    worker = _worker(database, handler, lease_s=30)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    assert started.wait(10)
    # The worker is declared dead while it pauses (reaper run as if 5 min had passed).
    assert reap_expired(database, now=utcnow() + timedelta(minutes=5)) == [job_id]
    reaped.set()
    thread.join(timeout=10)
    assert raised == ["LeaseLost"]
    job = get_job(database, job_id)
    assert job.status == JobStatus.FAILED
    assert job.error is not None
    assert "stopped responding" in job.error  # the reaper's verdict stands
    assert job.result is None
    assert job.progress_note != "almost"


def test_run_once_reaps_and_fires_due_schedules_before_claiming(
    database: Database, customers: list[int]
) -> None:
    stale = add_job(database, customers[0], "2025-01")
    claimed = claim(database, worker_id="dead-worker", lease_s=1)
    assert claimed is not None
    with database.session() as s:
        schedule = create_schedule(
            s, name="once", type=REC, run_at=utcnow() - timedelta(seconds=1),
            customer_id=customers[1], period_rule="2025-02", reason=ReasonCode.OTHER,
            explanation="", actor_id=None,
        )  # fmt: skip
        schedule_id = schedule.id
    time.sleep(1.1)  # let the dead worker's lease run out
    ran: list[tuple[int, str]] = []

    def handler(ctx: JobContext) -> dict[str, Any]:
        ran.append((ctx.claimed.customer_id, ctx.claimed.period))
        return {}

    assert _worker(database, handler).run_once() is True
    assert _status(database, stale) == JobStatus.FAILED
    assert ran == [(customers[1], "2025-02")]
    with database.session() as s:
        job = s.scalars(select(Job).where(Job.schedule_id == schedule_id)).one()
        assert job.status == JobStatus.COMPLETE


def test_run_worker_process_runs_jobs_until_stopped(database: Database, customer_id: int) -> None:
    job_id = add_job(database, customer_id)

    def factory(db: Database) -> Mapping[JobType, Handler]:
        return {REC: lambda ctx: {"db_is_own": ctx.db is db}}

    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker_process,
        args=(database.url, factory),
        kwargs={"lease_s": 2, "poll_s": 0.05, "stop_event": stop},
    )
    thread.start()
    try:
        wait_for(lambda: _status(database, job_id) == JobStatus.COMPLETE, what="job complete")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    result = get_job(database, job_id).result
    assert result is not None
    assert json.loads(result) == {"db_is_own": True}


def test_a_handler_completes_its_job_in_the_transaction_that_publishes(
    database: Database, customer_id: int
) -> None:
    """The effect and "Complete" commit together: once the handler's fenced
    transaction commits, the job is Complete even if its worker dies before
    doing anything else, and the worker does not complete it a second time."""
    job_id = add_job(database, customer_id, "2025-04")
    statuses_after_commit: list[str] = []

    def handler(ctx: JobContext) -> dict[str, Any]:
        result = {"published": True}
        with database.write_session() as s:
            ctx.complete_within(s, result)
            assert _status(database, job_id) == JobStatus.RUNNING  # not before the commit
        statuses_after_commit.append(_status(database, job_id))
        return result

    assert _worker(database, handler).run_once() is True
    assert statuses_after_commit == [JobStatus.COMPLETE]
    job = get_job(database, job_id)
    assert job.status == JobStatus.COMPLETE
    assert job.error is None
    assert job.result is not None
    assert json.loads(job.result) == {"published": True}
