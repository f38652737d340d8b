from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.encoders import jsonable_encoder
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rerate.jobs import queue
from rerate.jobs.queue import (
    ClaimedJob,
    FencingError,
    HeartbeatStatus,
    cancel,
    claim,
    complete,
    enqueue,
    fail,
    fenced,
    heartbeat,
    reap_expired,
)
from rerate.jobs.views import duration_seconds, job_view
from rerate.kit.db import Database, is_sqlite
from rerate.kit.errors import Conflict, Invalid, NotFound
from rerate.models.base import utcnow
from rerate.models.enums import JobStatus, JobType, ReasonCode
from rerate.models.jobs import Job
from tests.jobs.helpers import add_job, get_job


def _enqueue(s: Session, customer_id: int, period: str = "2025-01") -> Job:
    return enqueue(
        s,
        type=JobType.RECALCULATION,
        customer_id=customer_id,
        period=period,
        reason=ReasonCode.PRICE_BOOK_UPDATE,
        explanation="new prices",
        actor_id=None,
        actor_label="ann@example.com",
        request_id=str(uuid.uuid4()),
    )


# --- enqueue -------------------------------------------------------------------------------


def test_enqueue_queues_a_job_keyed_by_customer_and_period(
    database: Database, customer_id: int
) -> None:
    job_id = add_job(database, customer_id, "2025-03", dry_run=True)
    job = get_job(database, job_id)
    assert job.status == JobStatus.QUEUED
    assert job.lock_key == f"{customer_id}:2025-03"
    assert job.dry_run is True
    assert job.fencing_token == 0
    assert job.attempts == 0
    assert job.run_after <= utcnow()


def test_enqueue_rejects_a_bad_period_or_reason(database: Database, customer_id: int) -> None:
    with database.session() as s:
        with pytest.raises(Invalid, match="YYYY-MM"):
            _enqueue(s, customer_id, "2025-13")
        with pytest.raises(Invalid, match="unknown reason"):
            enqueue(
                s, type=JobType.CACHE_SYNC, customer_id=customer_id, period="2025-01",
                reason="because", actor_id=None, actor_label="x", request_id="r",
            )  # fmt: skip


def test_enqueue_while_one_is_active_raises_conflict_naming_it(
    database: Database, customer_id: int
) -> None:
    first = add_job(database, customer_id, "2025-01")
    with database.session() as s, pytest.raises(Conflict) as caught:
        _enqueue(s, customer_id, "2025-01")
    assert caught.value.extra["job_id"] == first
    assert caught.value.detail == (
        f"job {first} (recalculation) is already queued for customer {customer_id} period 2025-01"
    )
    # Running counts as active too.
    claimed = claim(database, worker_id="w", lease_s=30)
    assert claimed is not None
    with database.session() as s, pytest.raises(Conflict, match="is already running"):
        _enqueue(s, customer_id, "2025-01")


def test_enqueue_for_another_period_or_after_finish_is_allowed(
    database: Database, customer_id: int
) -> None:
    add_job(database, customer_id, "2025-01")
    add_job(database, customer_id, "2025-02")
    claimed = claim(database, worker_id="w", lease_s=30)
    assert claimed is not None
    complete(database, claimed, {})
    again = add_job(database, customer_id, claimed.period)
    assert get_job(database, again).status == JobStatus.QUEUED


def test_unique_index_settles_the_race_when_the_precheck_is_bypassed(
    database: Database, customer_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner = add_job(database, customer_id, "2025-01")
    real_find_active = queue.find_active
    calls: list[str] = []

    def blind_precheck(session: Session, lock_key: str) -> Job | None:
        # The first look is the pre-check a racing caller would have passed;
        # later looks (naming the winner) see the truth.
        calls.append(lock_key)
        return None if len(calls) == 1 else real_find_active(session, lock_key)

    monkeypatch.setattr(queue, "find_active", blind_precheck)
    with database.session() as s:
        other = _enqueue(s, customer_id, "2025-02")  # earlier work in the same transaction
        calls.clear()
        with pytest.raises(Conflict) as caught:
            _enqueue(s, customer_id, "2025-01")
        assert caught.value.extra["job_id"] == winner
        assert f"job {winner} " in caught.value.detail
        # The SAVEPOINT kept the caller's transaction usable: its earlier work commits.
        other_id = other.id
    assert get_job(database, other_id).status == JobStatus.QUEUED
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 2


def test_the_active_lock_index_refuses_a_raw_duplicate(
    database: Database, customer_id: int
) -> None:
    add_job(database, customer_id, "2025-01")
    duplicate = Job(
        request_id="r", type="recalculation", customer_id=customer_id, period="2025-01",
        lock_key=f"{customer_id}:2025-01", reason="other",
    )  # fmt: skip
    with database.session() as s:
        s.add(duplicate)
        with pytest.raises(IntegrityError, match=r"lock_key|uq_jobs_active_lock"):
            s.flush()
        s.rollback()


# --- claim ---------------------------------------------------------------------------------


def test_claim_takes_the_oldest_ready_job_and_waits_for_run_after(
    database: Database, customer_id: int
) -> None:
    later = add_job(database, customer_id, "2025-01", run_after=utcnow() + timedelta(seconds=0.4))
    first = add_job(database, customer_id, "2025-02")
    second = add_job(database, customer_id, "2025-03")
    got = [claim(database, worker_id="w", lease_s=30) for _ in range(3)]
    assert [c.id if c else None for c in got] == [first, second, None]
    time.sleep(0.5)
    delayed = claim(database, worker_id="w", lease_s=30)
    assert delayed is not None
    assert delayed.id == later


def test_claim_without_looking_first_takes_the_same_jobs(
    database: Database, customer_id: int
) -> None:
    """What a busy worker does right after a claim: no read-only look first."""
    first = add_job(database, customer_id, "2025-01")
    later = add_job(database, customer_id, "2025-02", run_after=utcnow() + timedelta(hours=1))
    claimed = claim(database, worker_id="w", lease_s=30, look_first=False)
    assert claimed is not None
    assert claimed.id == first
    assert claim(database, worker_id="w", lease_s=30, look_first=False) is None
    assert get_job(database, later).status == JobStatus.QUEUED.value


def test_claim_only_takes_the_types_asked_for(database: Database, customer_id: int) -> None:
    add_job(database, customer_id, "2025-01", type=JobType.INVOICE_REFRESH)
    cache = add_job(database, customer_id, "2025-02", type=JobType.CACHE_SYNC)
    claimed = claim(database, worker_id="w", lease_s=30, types=[JobType.CACHE_SYNC])
    assert claimed is not None
    assert (claimed.id, claimed.type) == (cache, JobType.CACHE_SYNC)
    assert claim(database, worker_id="w", lease_s=30, types=[JobType.CACHE_SYNC]) is None
    assert claim(database, worker_id="w", lease_s=30, types=[]) is None


def test_claim_leases_the_job_and_bumps_the_fencing_token(
    database: Database, customer_id: int
) -> None:
    job_id = add_job(database, customer_id, "2025-01", dry_run=True, explanation="why")
    before = utcnow()
    claimed = claim(database, worker_id="host:1", lease_s=30)
    assert claimed == ClaimedJob(
        id=job_id, type=JobType.RECALCULATION, customer_id=customer_id, period="2025-01",
        fencing_token=1, dry_run=True, reason="price_book_update", explanation="why",
        actor_id=None, parent_id=None, request_id=get_job(database, job_id).request_id,
    )  # fmt: skip
    job = get_job(database, job_id)
    assert job.status == JobStatus.RUNNING
    assert job.attempts == 1
    assert job.lease_owner == "host:1"
    assert job.started_at is not None
    assert job.started_at >= before - timedelta(seconds=1)
    assert job.lease_expires_at is not None
    assert timedelta(seconds=29) < job.lease_expires_at - job.started_at <= timedelta(seconds=31)


def test_two_threads_never_claim_the_same_job(database: Database, customer_id: int) -> None:
    ids = {add_job(database, customer_id, f"2024-{m:02d}") for m in range(1, 13)}
    ids |= {add_job(database, customer_id, f"2023-{m:02d}") for m in range(1, 13)}
    barrier = threading.Barrier(3)
    claimed: list[list[ClaimedJob]] = [[], [], []]

    def claimer(slot: int) -> None:
        barrier.wait()
        while (c := claim(database, worker_id=f"t{slot}", lease_s=30)) is not None:
            claimed[slot].append(c)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    got = [c.id for slot in claimed for c in slot]
    assert sorted(got) == sorted(ids)  # every job once, none twice
    assert {c.fencing_token for slot in claimed for c in slot} == {1}


# --- heartbeat, fencing, finishing ---------------------------------------------------------


def test_heartbeat_renews_the_lease_and_records_progress(
    database: Database, customer_id: int
) -> None:
    add_job(database, customer_id)
    claimed = claim(database, worker_id="w", lease_s=1)
    assert claimed is not None
    first_expiry = get_job(database, claimed.id).lease_expires_at
    assert first_expiry is not None
    time.sleep(0.05)
    status = heartbeat(database, claimed, lease_s=30, progress=Decimal("0.4567"), note="rating")
    assert status is HeartbeatStatus.HELD
    job = get_job(database, claimed.id)
    assert job.lease_expires_at is not None
    assert job.lease_expires_at > first_expiry + timedelta(seconds=25)
    assert job.progress == Decimal("45.67")  # stored as a percentage
    assert job.progress_note == "rating"


def test_heartbeat_tells_the_worker_about_a_cancel_request(
    database: Database, customer_id: int
) -> None:
    add_job(database, customer_id)
    claimed = claim(database, worker_id="w", lease_s=30)
    assert claimed is not None
    with database.write_session() as s:
        cancel(s, claimed.id)
    assert heartbeat(database, claimed, lease_s=30) is HeartbeatStatus.CANCEL_REQUESTED


def test_reaper_fails_an_expired_job_and_fences_out_the_old_claim(
    database: Database, customer_id: int
) -> None:
    add_job(database, customer_id)
    claimed = claim(database, worker_id="host:42", lease_s=1)
    assert claimed is not None
    assert reap_expired(database) == []  # the lease still runs
    # Reap as if 2 s had passed (cheaper than sleeping through the lease).
    assert reap_expired(database, now=utcnow() + timedelta(seconds=2)) == [claimed.id]
    job = get_job(database, claimed.id)
    assert job.status == JobStatus.FAILED
    assert job.fencing_token == claimed.fencing_token + 1
    assert job.finished_at is not None
    assert job.lease_owner is None
    assert job.lease_expires_at is None
    assert job.error is not None
    assert job.error.startswith("worker host:42 stopped responding (lease expired at ")
    assert job.error.endswith("the previous published state is unchanged — run the job again")
    # The paused worker wakes up: every write on its behalf is refused.
    assert heartbeat(database, claimed, lease_s=30) is HeartbeatStatus.LOST
    with database.write_session() as s, pytest.raises(FencingError, match="taken away"):
        fenced(s, claimed)
    with pytest.raises(FencingError):
        complete(database, claimed, {"total": Decimal("1.00")})
    assert get_job(database, claimed.id).status == JobStatus.FAILED
    assert reap_expired(database) == []  # once only


def test_fenced_refuses_an_expired_lease_the_reaper_has_not_seen_yet(
    database: Database, customer_id: int
) -> None:
    add_job(database, customer_id)
    claimed = claim(database, worker_id="w", lease_s=1)
    assert claimed is not None
    with database.write_session() as s:
        fenced(s, claimed)  # fresh claim: passes
    time.sleep(1.1)
    with database.write_session() as s, pytest.raises(FencingError, match="lease expired"):
        fenced(s, claimed)


@pytest.mark.postgres
def test_reaper_skips_a_job_locked_by_a_publishing_transaction(
    database: Database, customer_id: int
) -> None:
    if is_sqlite(database.engine):
        pytest.skip("SQLite serialises the two transactions on its write lock instead")
    add_job(database, customer_id)
    claimed = claim(database, worker_id="w", lease_s=30)
    assert claimed is not None
    with database.write_session() as s:
        fenced(s, claimed)  # holds FOR UPDATE until this block commits
        reaped = reap_expired(database, now=utcnow() + timedelta(minutes=5))
    assert reaped == []
    assert get_job(database, claimed.id).status == JobStatus.RUNNING


def test_complete_stores_the_result_with_money_as_strings(
    database: Database, customer_id: int
) -> None:
    add_job(database, customer_id)
    claimed = claim(database, worker_id="w", lease_s=30)
    assert claimed is not None
    complete(database, claimed, {"total": Decimal("1234.5600"), "rows": 3})
    job = get_job(database, claimed.id)
    assert job.status == JobStatus.COMPLETE
    assert job.result is not None
    assert json.loads(job.result) == {"total": "1234.5600", "rows": 3}
    assert job.progress == Decimal("100.00")
    assert job.lease_owner is None
    assert job.lease_expires_at is None
    assert job.finished_at is not None
    with pytest.raises(FencingError, match="complete"):
        fail(database, claimed, "too late")


def test_fail_records_the_error(database: Database, customer_id: int) -> None:
    add_job(database, customer_id)
    claimed = claim(database, worker_id="w", lease_s=30)
    assert claimed is not None
    fail(database, claimed, "ValueError: no prices")
    job = get_job(database, claimed.id)
    assert (job.status, job.error) == (JobStatus.FAILED, "ValueError: no prices")


# --- cancel --------------------------------------------------------------------------------


def test_cancel_a_queued_job_cancels_it_at_once(database: Database, customer_id: int) -> None:
    job_id = add_job(database, customer_id)
    with database.write_session() as s:
        job = cancel(s, job_id)
        assert job.status == JobStatus.CANCELLED
    job = get_job(database, job_id)
    assert job.status == JobStatus.CANCELLED
    assert job.finished_at is not None
    assert claim(database, worker_id="w", lease_s=30) is None
    add_job(database, customer_id)  # the lock is free again


def test_cancel_a_running_job_asks_the_worker_to_stop(database: Database, customer_id: int) -> None:
    add_job(database, customer_id)
    claimed = claim(database, worker_id="w", lease_s=30)
    assert claimed is not None
    with database.write_session() as s:
        job = cancel(s, claimed.id)
        assert (job.status, job.cancel_requested) == (JobStatus.RUNNING, True)
    queue.mark_cancelled(database, claimed)  # what the worker does when it notices
    job = get_job(database, claimed.id)
    assert job.status == JobStatus.CANCELLED
    assert job.finished_at is not None


def test_cancel_a_finished_job_conflicts(database: Database, customer_id: int) -> None:
    add_job(database, customer_id)
    claimed = claim(database, worker_id="w", lease_s=30)
    assert claimed is not None
    complete(database, claimed, {})
    with database.write_session() as s, pytest.raises(Conflict, match="already complete"):
        cancel(s, claimed.id)
    with database.write_session() as s, pytest.raises(NotFound):
        cancel(s, 999_999)


# --- reading -------------------------------------------------------------------------------


def test_duration_is_live_while_running_and_fixed_once_finished(
    database: Database, customer_id: int
) -> None:
    job_id = add_job(database, customer_id)
    assert duration_seconds(get_job(database, job_id)) is None
    claimed = claim(database, worker_id="w", lease_s=30)
    assert claimed is not None
    running = get_job(database, job_id)
    assert running.started_at is not None
    assert duration_seconds(running, running.started_at + timedelta(seconds=90)) == 90.0
    complete(database, claimed, {"total": Decimal("2.50")})
    done = get_job(database, job_id)
    fixed = duration_seconds(done, utcnow() + timedelta(hours=1))
    assert fixed is not None
    assert fixed < 60
    view = job_view(done, "customer")
    assert view["status"] == "complete"
    assert view["result"] == {"total": "2.50"}
    assert view["progress"] == "100.00"
    assert view["duration_seconds"] == fixed
    json.dumps(jsonable_encoder(view))  # what the API sends
