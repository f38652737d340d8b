"""The job queue: enqueue, claim, heartbeat, fence, finish, cancel, reap.

Generic: no billing logic here. A job is one long operation for one
(customer, period); its row is both the work item a worker claims and the log
line the user reads. See docs/jobs.md for the states and timings.

Claiming is safe with many workers: PostgreSQL hands each claimer a different
row with `SELECT ... FOR UPDATE SKIP LOCKED`; SQLite serialises claimers on
its single write lock (`BEGIN IMMEDIATE`). A claim holds a *lease* the worker
renews by heartbeat; a worker that stops renewing is declared dead by the
reaper, which also bumps the job's *fencing token* so the dead worker, should
it wake up, can no longer publish or finish the job (`fenced`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import event, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rerate.kit.db import Database, is_sqlite
from rerate.kit.errors import Conflict, Invalid, NotFound
from rerate.models.base import utcnow
from rerate.models.enums import ACTIVE_JOB_STATUSES, JobStatus, JobType, ReasonCode
from rerate.models.jobs import Job

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 30
# A job whose attempt lost its database connection runs again once: the
# first attempt plus one retry. Its effects are idempotent (see docs/jobs.md).
CONNECTION_LOSS_ATTEMPTS = 2
RETRY_DELAY = timedelta(seconds=1)
_PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_ACTIVE = [s.value for s in ACTIVE_JOB_STATUSES]
_NOTE_MAX = 200  # Job.progress_note is String(200)


class JobCancelled(Exception):
    """Raised into a handler when the user asked to cancel its job."""


class LeaseLost(Exception):
    """The worker no longer owns the job (reaped or otherwise taken away)."""


class FencingError(LeaseLost):
    """A write on behalf of a claim whose fencing token is no longer the job's."""


class HeartbeatStatus(StrEnum):
    HELD = "held"  # lease renewed; carry on
    CANCEL_REQUESTED = "cancel_requested"  # lease renewed; the user asked to stop
    LOST = "lost"  # the job is no longer ours: stop and write nothing


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """What a worker holds while it runs a job; `fencing_token` identifies the claim."""

    id: int
    type: JobType
    customer_id: int
    period: str
    fencing_token: int
    dry_run: bool
    reason: str
    explanation: str
    actor_id: int | None
    parent_id: int | None
    request_id: str


# --- waking idle workers ------------------------------------------------------------------

# Set when a transaction that queued a job commits in this process: an idle
# worker of the same process (`rerate serve`'s) claims it at once instead of
# at its next poll (up to `worker_poll_s` later). Workers in other processes
# still find it by polling.
_work_queued = threading.Event()


def _wake_workers(_session: Session) -> None:
    _work_queued.set()


def _wake_on_commit(session: Session) -> None:
    if not event.contains(session, "after_commit", _wake_workers):
        event.listen(session, "after_commit", _wake_workers)


def wait_for_work(timeout: float) -> bool:
    """Wait up to `timeout` s for a job queued in this process; True if one was."""
    queued = _work_queued.wait(timeout)
    _work_queued.clear()
    return queued


# --- enqueue -------------------------------------------------------------------------------


def lock_key_for(customer_id: int, period: str) -> str:
    return f"{customer_id}:{period}"


def find_active(session: Session, lock_key: str) -> Job | None:
    """The queued or running job holding `lock_key`, if any."""
    return session.scalars(
        select(Job).where(Job.lock_key == lock_key, Job.status.in_(_ACTIVE)).limit(1)
    ).first()


def _conflict(job: Job | None, customer_id: int, period: str) -> Conflict:
    if job is None:  # the winner finished between its insert and our look-up
        return Conflict(
            f"another job is already active for customer {customer_id} period {period}",
            job_id=None,
        )
    return Conflict(
        f"job {job.id} ({job.type}) is already {job.status} "
        f"for customer {customer_id} period {period}",
        job_id=job.id,
    )


def _is_active_lock_violation(exc: IntegrityError) -> bool:
    # PostgreSQL names the index; SQLite names the column. Any other integrity
    # error (a missing customer, say) is a bug to surface, not a 409.
    message = str(exc.orig)
    return "uq_jobs_active_lock" in message or "jobs.lock_key" in message


def enqueue(
    session: Session,
    *,
    type: JobType,  # shadows the builtin on purpose: it is the column's name
    customer_id: int,
    period: str,
    reason: ReasonCode | str,
    explanation: str = "",
    actor_id: int | None,
    actor_label: str,
    dry_run: bool = False,
    request_id: str,
    parent_id: int | None = None,
    run_after: datetime | None = None,
    schedule_id: int | None = None,
    lock_key: str | None = None,
) -> Job:
    """Queue a job for (customer, period); the caller commits, with the change that needs it.

    `lock_key`: what may not run twice at once, by default the (customer,
    period); a job over many periods (a backfill) or over something else (a
    usage collection locks its region: `region:<id>`) names its own.

    Raises `Conflict` naming the queued or running job of the same
    (customer, period). The look-up gives the friendly message; the partial
    unique index `uq_jobs_active_lock` settles a race between two callers. The
    insert runs in a SAVEPOINT so that losing the race leaves the caller's
    transaction usable.
    """
    if not _PERIOD_RE.match(period):
        raise Invalid(f"period must look like YYYY-MM, got {period!r}")
    try:
        reason_code = ReasonCode(reason)
    except ValueError:
        raise Invalid(f"unknown reason {reason!r}") from None
    lock_key = lock_key or lock_key_for(customer_id, period)
    active = find_active(session, lock_key)
    if active is not None:
        raise _conflict(active, customer_id, period)
    job = _new_job(
        type=type,
        customer_id=customer_id,
        period=period,
        lock_key=lock_key,
        reason=reason_code,
        explanation=explanation,
        actor_id=actor_id,
        actor_label=actor_label,
        dry_run=dry_run,
        request_id=request_id,
        parent_id=parent_id,
        run_after=run_after,
        schedule_id=schedule_id,
    )
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError as exc:
        if not _is_active_lock_violation(exc):
            raise
        raise _conflict(find_active(session, lock_key), customer_id, period) from None
    _wake_on_commit(session)
    return job


def active_jobs(session: Session, lock_keys: Collection[str]) -> dict[str, Job]:
    """The queued or running job of each lock key that has one (`find_active`
    for many keys, a query per 500)."""
    keys = sorted(set(lock_keys))
    out: dict[str, Job] = {}
    for chunk in (keys[i : i + 500] for i in range(0, len(keys), 500)):
        for job in session.scalars(
            select(Job).where(Job.lock_key.in_(chunk), Job.status.in_(_ACTIVE))
        ):
            out[job.lock_key] = job
    return out


def enqueue_many(
    session: Session,
    targets: Collection[tuple[int, str]],
    *,
    type: JobType,  # shadows the builtin on purpose: it is the column's name
    reason: ReasonCode | str,
    explanation: str = "",
    actor_id: int | None,
    actor_label: str,
    dry_run: bool = False,
    request_id: str,
    run_after: datetime | None = None,
) -> list[Job]:
    """`enqueue` of one job per (customer, period) of `targets`, in one
    SAVEPOINT and one flush instead of one each (a submission of thousands of
    customers). The same rules: a target with a queued or running job raises
    `Conflict` naming it, and nothing of this call is inserted."""
    try:
        reason_code = ReasonCode(reason)
    except ValueError:
        raise Invalid(f"unknown reason {reason!r}") from None
    for _customer_id, period in targets:
        if not _PERIOD_RE.match(period):
            raise Invalid(f"period must look like YYYY-MM, got {period!r}")
    keyed = {lock_key_for(c, p): (c, p) for c, p in targets}
    active = active_jobs(session, keyed)
    if active:
        key = min(active)
        raise _conflict(active[key], *keyed[key])
    jobs = [
        _new_job(
            type=type,
            customer_id=customer_id,
            period=period,
            lock_key=key,
            reason=reason_code,
            explanation=explanation,
            actor_id=actor_id,
            actor_label=actor_label,
            dry_run=dry_run,
            request_id=request_id,
            parent_id=None,
            run_after=run_after,
            schedule_id=None,
        )
        for key, (customer_id, period) in keyed.items()
    ]
    try:
        with session.begin_nested():
            session.add_all(jobs)
            session.flush()
    except IntegrityError as exc:
        if not _is_active_lock_violation(exc):
            raise
        # Another caller queued one of them in between: name it.
        active = active_jobs(session, keyed)
        key = min(active) if active else next(iter(keyed))
        raise _conflict(active.get(key), *keyed[key]) from None
    _wake_on_commit(session)
    return jobs


def _new_job(
    *,
    type: JobType,  # shadows the builtin on purpose: it is the column's name
    customer_id: int,
    period: str,
    lock_key: str,
    reason: ReasonCode,
    explanation: str,
    actor_id: int | None,
    actor_label: str,
    dry_run: bool,
    request_id: str,
    parent_id: int | None,
    run_after: datetime | None,
    schedule_id: int | None,
) -> Job:
    now = utcnow()
    return Job(
        request_id=request_id,
        type=JobType(type).value,
        status=JobStatus.QUEUED.value,
        customer_id=customer_id,
        period=period,
        lock_key=lock_key,
        reason=reason.value,
        explanation=explanation,
        dry_run=dry_run,
        actor_id=actor_id,
        actor_label=actor_label,
        parent_id=parent_id,
        schedule_id=schedule_id,
        created_at=now,
        run_after=run_after or now,
        progress=Decimal("0.00"),
        progress_note="",
        attempts=0,
        cancel_requested=False,
        fencing_token=0,
    )


# --- claim ---------------------------------------------------------------------------------


def claim(
    db: Database,
    *,
    worker_id: str,
    lease_s: int = DEFAULT_LEASE_S,
    types: Collection[JobType] | None = None,
    look_first: bool = True,
) -> ClaimedJob | None:
    """Take the oldest ready job (by `run_after`, then id), lease it and commit.

    PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent claimers each get a
    different row without waiting on each other. SQLite: the write session's
    `BEGIN IMMEDIATE` lets one claimer at a time read and update. Every claim
    increments `fencing_token`: the token returned identifies this claim and
    no other. `look_first=False` skips the read-only look for a ready job
    (one transaction less) when one is likely, e.g. right after a claim.
    """
    now = utcnow()
    ready = _ready(now, types)
    if ready is None:
        return None
    # An idle worker polls every second; look before taking SQLite's write lock
    # so idle workers do not queue behind each other and the API's writes.
    if look_first:
        with db.session() as s:
            if not s.scalar(select(exists().where(*ready))):
                return None
    with db.write_session() as s:
        query = select(Job).where(*ready).order_by(Job.run_after, Job.id).limit(1)
        if not is_sqlite(s):
            query = query.with_for_update(skip_locked=True)
        job = s.scalars(query).first()
        if job is None:
            return None
        _take(job, worker_id, lease_s, now)
        return _claimed(job)


def claim_batch(
    db: Database,
    *,
    worker_id: str,
    lease_s: int = DEFAULT_LEASE_S,
    types: Collection[JobType] | None = None,
    batch_types: Collection[JobType] = (),
    limit: int = 1,
    look_first: bool = True,
) -> list[ClaimedJob]:
    """`claim`, and when the job taken is of one of `batch_types`, up to
    `limit - 1` more ready jobs of the same type and period (oldest first), in
    the same transaction: a batch that one handler runs together. Each job is
    claimed exactly as `claim` claims one (its own lease, attempt and fencing
    token), so each keeps its own status, result and fencing check; only the
    work is shared. Empty when no job is ready.
    """
    now = utcnow()
    ready = _ready(now, types)
    if ready is None:
        return []
    if look_first:
        with db.session() as s:
            if not s.scalar(select(exists().where(*ready))):
                return []
    with db.write_session() as s:
        query = select(Job).where(*ready).order_by(Job.run_after, Job.id).limit(1)
        if not is_sqlite(s):
            query = query.with_for_update(skip_locked=True)
        first = s.scalars(query).first()
        if first is None:
            return []
        jobs = [first]
        if limit > 1 and JobType(first.type) in {JobType(t) for t in batch_types}:
            more = (
                select(Job)
                .where(
                    *ready, Job.type == first.type, Job.period == first.period, Job.id != first.id
                )
                .order_by(Job.run_after, Job.id)
                .limit(limit - 1)
            )
            if not is_sqlite(s):
                more = more.with_for_update(skip_locked=True)
            jobs.extend(s.scalars(more))
        for job in jobs:
            _take(job, worker_id, lease_s, now)
        return [_claimed(job) for job in jobs]


def _ready(now: datetime, types: Collection[JobType] | None) -> list[Any] | None:
    """The conditions of a job ready to claim; None when `types` is empty."""
    ready = [
        Job.status == JobStatus.QUEUED.value,
        Job.run_after <= now,
        Job.cancel_requested.is_(False),
    ]
    if types is not None:
        if not types:
            return None
        ready.append(Job.type.in_([JobType(t).value for t in types]))
    return ready


def _take(job: Job, worker_id: str, lease_s: int, now: datetime) -> None:
    job.status = JobStatus.RUNNING.value
    if job.started_at is None:
        job.started_at = now
    job.attempts += 1
    job.fencing_token += 1
    job.lease_owner = worker_id[:200]
    job.lease_expires_at = now + timedelta(seconds=lease_s)
    job.heartbeat_at = now


def _claimed(job: Job) -> ClaimedJob:
    return ClaimedJob(
        id=job.id,
        type=JobType(job.type),
        customer_id=job.customer_id,
        period=job.period,
        fencing_token=job.fencing_token,
        dry_run=job.dry_run,
        reason=job.reason,
        explanation=job.explanation,
        actor_id=job.actor_id,
        parent_id=job.parent_id,
        request_id=job.request_id,
    )


# --- heartbeat and fencing -----------------------------------------------------------------


def _percent(fraction: Decimal) -> Decimal:
    # `Job.progress` is a percentage with two decimals (Numeric(5, 2)).
    clamped = min(max(Decimal(fraction), Decimal(0)), Decimal(1))
    return (clamped * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def heartbeat(
    db: Database,
    claimed: ClaimedJob,
    *,
    lease_s: int = DEFAULT_LEASE_S,
    progress: Decimal | None = None,
    note: str | None = None,
) -> HeartbeatStatus:
    """Renew the lease (and record progress, a fraction 0-1) if the claim still holds.

    One conditional UPDATE on (id, fencing_token, status running): no row
    means the job was reaped or otherwise taken away, and the worker must stop
    without writing anything else. `CANCEL_REQUESTED` still renews the lease,
    so the handler has time to stop cleanly.
    """
    now = utcnow()
    values: dict[str, Any] = {
        "lease_expires_at": now + timedelta(seconds=lease_s),
        "heartbeat_at": now,
    }
    if progress is not None:
        values["progress"] = _percent(progress)
    if note is not None:
        values["progress_note"] = note[:_NOTE_MAX]
    with db.write_session() as s:
        return _renew(s, claimed, values)


def _renew(s: Session, claimed: ClaimedJob, values: dict[str, Any]) -> HeartbeatStatus:
    """The conditional UPDATE of `heartbeat`, in the caller's transaction."""
    row = s.execute(
        update(Job)
        .where(
            Job.id == claimed.id,
            Job.fencing_token == claimed.fencing_token,
            Job.status == JobStatus.RUNNING.value,
        )
        .values(**values)
        .returning(Job.cancel_requested)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        return HeartbeatStatus.LOST
    return HeartbeatStatus.CANCEL_REQUESTED if row[0] else HeartbeatStatus.HELD


def heartbeat_many(
    db: Database, claims: Collection[ClaimedJob], *, lease_s: int = DEFAULT_LEASE_S
) -> dict[int, HeartbeatStatus]:
    """`heartbeat` for every job of a batch, in one transaction (one commit,
    one SQLite write lock) instead of one per job; each row is renewed only
    under its own fencing token, as `heartbeat` does."""
    now = utcnow()
    out: dict[int, HeartbeatStatus] = {}
    if not claims:
        return out
    values: dict[str, Any] = {
        "lease_expires_at": now + timedelta(seconds=lease_s),
        "heartbeat_at": now,
    }
    with db.write_session() as s:
        for claimed in claims:
            out[claimed.id] = _renew(s, claimed, values)
    return out


def fenced(session: Session, claimed: ClaimedJob) -> None:
    """Check, inside the caller's transaction, that this claim still owns the job.

    Call it in the same transaction as the effect it guards (publishing a
    billing run, say), right before the effect. The job row is read `FOR
    UPDATE` on PostgreSQL, so until the caller commits nobody can reap or
    re-claim the job (the reaper skips locked rows): the check cannot go stale
    between this line and the commit. On SQLite the caller must use
    `Database.write_session()`, whose `BEGIN IMMEDIATE` serialises it with the
    reaper the same way.

    Why: a worker that paused (GC, lost network, a stopped VM) longer than
    its lease has been declared dead and its job failed or handed on; when it
    wakes up it still believes it owns the job. The fencing token it holds is
    then stale, and this raises `FencingError` instead of letting it publish
    over the outcome the user was told about. A lease that has expired but
    not yet been reaped is refused too, so the reaper's message ("the previous
    published state is unchanged") stays true.

    Keep the transaction short and do not report progress from inside it:
    the heartbeat waits for the row (SQLite: the write lock) this holds.
    """
    _fenced_job(session, claimed)


def _fenced_job(session: Session, claimed: ClaimedJob, *, allow_expired: bool = False) -> Job:
    query = select(Job).where(Job.id == claimed.id).execution_options(populate_existing=True)
    if not is_sqlite(session):
        query = query.with_for_update()
    job = session.scalars(query).first()
    if job is None:
        raise FencingError(f"job {claimed.id} no longer exists")
    if job.fencing_token != claimed.fencing_token:
        raise FencingError(
            f"job {job.id} was taken away from this worker "
            f"(fencing token {claimed.fencing_token}, now {job.fencing_token})"
        )
    if job.status != JobStatus.RUNNING.value:
        raise FencingError(f"job {job.id} is {job.status}, no longer running")
    if not allow_expired and job.lease_expires_at is not None and job.lease_expires_at <= utcnow():
        raise FencingError(f"job {job.id}'s lease expired at {_when(job.lease_expires_at)}")
    return job


# --- finish --------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")  # money as strings: exact, never a float
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps_result(result: dict[str, Any]) -> str:
    return json.dumps(result, default=_json_default, sort_keys=True)


def _finish(job: Job, status: JobStatus, now: datetime) -> None:
    job.status = status.value
    job.finished_at = now
    # Keep heartbeat_at: it tells the user when the worker was last heard from.
    job.lease_owner = None
    job.lease_expires_at = None


def complete(db: Database, claimed: ClaimedJob, result: dict[str, Any]) -> None:
    """Mark the job complete with its result; raises `FencingError` if the claim is stale."""
    payload = dumps_result(result)  # fail on an unserialisable result before locking
    with db.write_session() as s:
        _complete(_fenced_job(s, claimed), payload)


def complete_within(session: Session, claimed: ClaimedJob, result: dict[str, Any]) -> None:
    """Mark the job complete inside the caller's transaction, the one that
    published its effect: the effect and "Complete" commit together, so a
    worker dying in between cannot leave a published run behind a job that the
    reaper then reports as having changed nothing."""
    _complete(_fenced_job(session, claimed), dumps_result(result))


def _complete(job: Job, payload: str) -> None:
    _finish(job, JobStatus.COMPLETE, utcnow())
    job.result = payload
    job.progress = Decimal("100.00")


def fail(db: Database, claimed: ClaimedJob, error: str) -> None:
    """Mark the job failed with a message for the user; fenced like `complete`."""
    with db.write_session() as s:
        job = _fenced_job(s, claimed)
        _finish(job, JobStatus.FAILED, utcnow())
        job.error = error


def retry_after_connection_loss(db: Database, claimed: ClaimedJob, cause: str) -> bool:
    """The attempt failed because the database connection was lost: queue the
    job again (True) unless it has had its `CONNECTION_LOSS_ATTEMPTS`, then
    fail it with the cause (False). Fenced like `fail`.

    The cause is kept in `error` ("attempt 1: database connection lost: ...;
    retried automatically") even when the retry completes, so the log says
    what happened. Nothing was published by the failed attempt: publishing
    and "Complete" commit together, and a commit that did happen leaves the
    job Complete, which this then refuses to touch (`FencingError`).

    An expired lease is accepted here: the server was unreachable for a while
    and nothing was published, so putting the job back is still true.
    """
    with db.write_session() as s:
        job = _fenced_job(s, claimed, allow_expired=True)
        now = utcnow()
        if job.attempts >= CONNECTION_LOSS_ATTEMPTS:
            earlier = f"; earlier: {job.error}" if job.error else ""
            _finish(job, JobStatus.FAILED, now)
            job.error = f"{cause} (attempt {job.attempts} of {CONNECTION_LOSS_ATTEMPTS}{earlier})"
            return False
        job.status = JobStatus.QUEUED.value
        job.lease_owner = None
        job.lease_expires_at = None
        job.run_after = now + RETRY_DELAY
        job.progress = Decimal("0.00")
        job.progress_note = "queued again after a lost database connection"
        job.error = f"attempt {job.attempts}: {cause}; retried automatically"
        return True


def mark_cancelled(db: Database, claimed: ClaimedJob) -> None:
    """The worker stopped a running job because the user asked; fenced like `complete`."""
    with db.write_session() as s:
        job = _fenced_job(s, claimed)
        _finish(job, JobStatus.CANCELLED, utcnow())
        job.progress_note = "cancelled on request"


def cancel(session: Session, job_id: int) -> Job:
    """Cancel a job; the caller commits (on SQLite, in a `write_session`).

    Queued: cancelled at once. Running: `cancel_requested` is set and the
    worker marks the job cancelled when its next heartbeat sees it; the
    handler stops at its next `progress()`/`check()`. Finished: `Conflict`.
    On PostgreSQL the row is locked so a claim cannot slip in between the
    read and the write (the claimer skips the locked row).
    """
    query = select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
    if not is_sqlite(session):
        query = query.with_for_update()
    job = session.scalars(query).first()
    if job is None:
        raise NotFound(f"job {job_id} not found")
    if job.status == JobStatus.QUEUED.value:
        _finish(job, JobStatus.CANCELLED, utcnow())
        job.cancel_requested = True
    elif job.status == JobStatus.RUNNING.value:
        job.cancel_requested = True
    else:
        raise Conflict(f"job {job.id} is already {job.status}", job_id=job.id)
    session.flush()
    return job


# --- reaper --------------------------------------------------------------------------------


def _when(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%d %H:%M:%S UTC")


def _unchanged_note(job: Job) -> str:
    if job.type == JobType.BACKFILL.value:
        # A backfill publishes period by period, each in its own transaction.
        return (
            "each period it published stays published and the others are unchanged (its "
            "reconciliation says which) — run the backfill again for the rest"
        )
    return "the previous published state is unchanged — run the job again"


def reap_expired(db: Database, *, now: datetime | None = None) -> list[int]:
    """Fail running jobs whose lease expired; return their ids.

    Failed, not re-queued: a recalculation or refresh whose worker died may
    have been half-way through writing a new billing run (never published);
    whether to run it again, and with which rules, is a decision for the
    person who sees the failure, not for a retry loop that could hammer a
    poisoned job. The fencing token is bumped so the dead worker, if it was
    only paused, cannot publish or finish the job afterwards.
    """
    now = now or utcnow()
    expired = [Job.status == JobStatus.RUNNING.value, Job.lease_expires_at < now]
    # Read first: the reaper runs every few seconds in every worker, and the
    # common answer is "nothing", which should not take SQLite's write lock.
    with db.session() as s:
        if not s.scalar(select(exists().where(*expired))):
            return []
    reaped: list[int] = []
    with db.write_session() as s:
        query = select(Job).where(*expired).order_by(Job.id)
        if not is_sqlite(s):
            # A row locked by `fenced` is being published right now: skip it.
            query = query.with_for_update(skip_locked=True)
        for job in s.scalars(query):
            owner, expires = job.lease_owner or "?", job.lease_expires_at or now
            _finish(job, JobStatus.FAILED, now)
            job.fencing_token += 1
            job.error = (
                f"worker {owner} stopped responding (lease expired at {_when(expires)}); "
                + _unchanged_note(job)
            )
            reaped.append(job.id)
    for job_id in reaped:
        log.warning("reaped job %s: its worker stopped responding", job_id)
    return reaped


def release_abandoned(db: Database, job_id: int, fencing_token: int, why: str) -> bool:
    """Fail a running job whose worker is known to be gone (`rerate check
    --repair`), as the reaper does for an expired lease: the fencing token is
    bumped so the old claim can write nothing. False if the job moved on
    meanwhile (finished, or claimed again: another token)."""
    with db.write_session() as s:
        query = select(Job).where(
            Job.id == job_id,
            Job.status == JobStatus.RUNNING.value,
            Job.fencing_token == fencing_token,
        )
        if not is_sqlite(s):
            query = query.with_for_update(skip_locked=True)  # being published: leave it
        job = s.scalars(query).first()
        if job is None:
            return False
        _finish(job, JobStatus.FAILED, utcnow())
        job.fencing_token += 1
        job.error = f"{why}; {_unchanged_note(job)}"[:2000]
    log.warning("released job %s: %s", job_id, why)
    return True


# --- reading -------------------------------------------------------------------------------
