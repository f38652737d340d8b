"""The worker: claim a job, run its handler under a heartbeat, record the outcome.

A handler is a plain function `handler(ctx) -> dict` registered per job type.
It reports progress with `ctx.progress(fraction, note)` and calls
`ctx.check()` between steps; both raise `JobCancelled` when the user asked to
cancel and `LeaseLost` when the job was taken away. A background thread
renews the lease every `lease_s / 3` seconds, so a long step that reports
nothing does not lose the job; only a dead or frozen process does.

A lost database connection (a PostgreSQL restart) is not the job's fault: the
attempt is recorded with that cause and the job queued again once
(`queue.retry_after_connection_loss`); recording an outcome waits for the
server to come back; the poll loop backs off and reconnects (the engine's
`pool_pre_ping` replaces dead pooled connections) instead of exiting.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from rerate.jobs import queue
from rerate.jobs.queue import (
    DEFAULT_LEASE_S,
    ClaimedJob,
    HeartbeatStatus,
    JobCancelled,
    LeaseLost,
)
from rerate.jobs.schedules import (
    ActorLabelFor,
    Expand,
    default_actor_label,
    default_expand,
    fire_due_schedules,
)
from rerate.kit import disconnect
from rerate.kit.db import Database
from rerate.models.enums import JobType

log = logging.getLogger(__name__)

# progress() writes to the database at most this often; the heartbeat thread
# flushes the latest value in between. Handlers may call it in a tight loop.
_PROGRESS_MIN_INTERVAL_S = 1.0
# While the database is unreachable: the first wait, and the longest.
_BACKOFF_FIRST_S = 0.5
_BACKOFF_MAX_S = 10.0


class JobContext:
    """What a handler gets: its claim, the database, progress and cancellation."""

    def __init__(self, claimed: ClaimedJob, db: Database, *, lease_s: int) -> None:
        self.claimed = claimed
        self.db = db
        self._lease_s = lease_s
        self._lock = threading.Lock()
        self._pending: tuple[Decimal | None, str | None] | None = None
        self._last_write = 0.0
        self.cancel_requested = False
        self.lease_lost = False
        self.completed = False  # by the handler itself (complete_within)

    def progress(self, fraction: Decimal | float, note: str | None = None) -> None:
        """Report progress (0-1) and renew the lease; raise if the job must stop.

        Raises `JobCancelled` if the user asked to cancel, `LeaseLost` if the
        job is no longer ours (stop at once and write nothing).
        """
        value = Decimal(str(fraction)) if isinstance(fraction, float) else fraction
        with self._lock:
            self._pending = (value, note)
            due = time.monotonic() - self._last_write >= _PROGRESS_MIN_INTERVAL_S
        if due or value >= 1:
            self.beat()
        self.check()

    def complete_within(self, session: Session, result: dict[str, Any]) -> None:
        """Mark the job Complete in the handler's own (fenced) transaction, with
        the effect it publishes; the worker then records nothing more."""
        queue.complete_within(session, self.claimed, result)
        self.completed = True

    def check(self) -> None:
        """Raise `LeaseLost` or `JobCancelled` if the last heartbeat said so (no I/O)."""
        if self.lease_lost:
            raise LeaseLost(f"job {self.claimed.id} was taken away from this worker")
        if self.cancel_requested:
            raise JobCancelled(f"job {self.claimed.id} was cancelled")

    def beat(self) -> HeartbeatStatus:
        """Renew the lease now, writing any pending progress; update the flags."""
        with self._lock:
            pending, self._pending = self._pending, None
            self._last_write = time.monotonic()
        progress, note = pending if pending is not None else (None, None)
        status = queue.heartbeat(
            self.db, self.claimed, lease_s=self._lease_s, progress=progress, note=note
        )
        if status is HeartbeatStatus.LOST:
            self.lease_lost = True
        elif status is HeartbeatStatus.CANCEL_REQUESTED:
            self.cancel_requested = True
        return status


Handler = Callable[[JobContext], dict[str, Any]]
# A batch handler runs several claimed jobs of one type and period together and
# answers, per job id, its result (a dict) or the exception that ended it. A job
# it marked Complete itself (`ctx.complete_within`) is recorded as it left it.
BatchOutcome = dict[str, Any] | BaseException
BatchHandler = Callable[[list[JobContext]], dict[int, BatchOutcome]]


class _Heartbeat(threading.Thread):
    """Renews the lease every lease/3 s while the handler runs."""

    def __init__(self, ctx: JobContext, interval_s: float) -> None:
        super().__init__(name=f"heartbeat-job-{ctx.claimed.id}", daemon=True)
        self.ctx = ctx
        self.interval_s = interval_s
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            try:
                if self.ctx.beat() is HeartbeatStatus.LOST:
                    return
            except Exception:
                # A database blip: keep trying; if it outlasts the lease the
                # reaper fails the job and the next beat reports LOST.
                log.exception("heartbeat for job %s failed", self.ctx.claimed.id)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=max(self.interval_s, 5.0))


class _BatchHeartbeat(_Heartbeat):
    """Renews the leases of every job of a batch in one transaction per beat."""

    def __init__(self, contexts: list[JobContext], interval_s: float, lease_s: int) -> None:
        super().__init__(contexts[0], interval_s)
        self.name = f"heartbeat-batch-{contexts[0].claimed.id}"
        self.contexts = contexts
        self.lease_s = lease_s

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            live = [c for c in self.contexts if not c.lease_lost]
            if not live:
                return
            try:
                statuses = queue.heartbeat_many(
                    live[0].db, [c.claimed for c in live], lease_s=self.lease_s
                )
            except Exception:
                log.exception("heartbeat for batch of job %s failed", self.contexts[0].claimed.id)
                continue
            for ctx in live:
                status = statuses.get(ctx.claimed.id)
                if status is HeartbeatStatus.LOST:
                    ctx.lease_lost = True
                elif status is HeartbeatStatus.CANCEL_REQUESTED:
                    ctx.cancel_requested = True


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs jobs of the types it has handlers for, one at a time."""

    def __init__(
        self,
        db: Database,
        *,
        handlers: Mapping[JobType, Handler],
        worker_id: str | None = None,
        lease_s: int = DEFAULT_LEASE_S,
        poll_s: float = 1.0,
        expand: Expand | None = default_expand,
        actor_label_for: ActorLabelFor = default_actor_label,
        batch_handlers: Mapping[JobType, BatchHandler] | None = None,
        batch_size: int = 1,
    ) -> None:
        """`expand=None` turns off firing schedules in this worker.

        `batch_handlers` with `batch_size` > 1: a job of such a type is claimed
        with up to `batch_size - 1` more ready jobs of its type and period, and
        the batch handler runs them together (a lone job still goes to its
        plain handler)."""
        if lease_s < 1:
            raise ValueError("lease_s must be at least 1 second")
        self.db = db
        self.handlers = dict(handlers)
        self.worker_id = worker_id or default_worker_id()
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.expand = expand
        self.actor_label_for = actor_label_for
        self.batch_handlers = dict(batch_handlers or {})
        self.batch_size = max(1, batch_size)
        # The reaper and the schedule check run at the heartbeat cadence: a
        # dead worker is noticed within lease + lease/3 (40 s by default).
        self.housekeeping_every_s = lease_s / 3
        self._last_housekeeping = float("-inf")
        # After the database was unreachable, leases ran out everywhere: reap
        # nothing until live workers' heartbeats have had a lease to renew theirs.
        self._reap_after = float("-inf")
        # After a claim another job is likely ready: claim without looking first.
        self._busy = False

    def housekeeping(self) -> None:
        """Reap expired leases and fire due schedules, at most every lease/3 s."""
        if time.monotonic() - self._last_housekeeping < self.housekeeping_every_s:
            return
        self._last_housekeeping = time.monotonic()
        if time.monotonic() >= self._reap_after:
            queue.reap_expired(self.db)
        if self.expand is not None:
            fire_due_schedules(self.db, expand=self.expand, actor_label_for=self.actor_label_for)

    def run_once(self) -> bool:
        """Housekeeping, then claim and run one job; False if there was none."""
        self.housekeeping()
        claims = queue.claim_batch(
            self.db,
            worker_id=self.worker_id,
            lease_s=self.lease_s,
            types=self.handlers.keys(),
            batch_types=self.batch_handlers.keys() if self.batch_size > 1 else (),
            limit=self.batch_size,
            look_first=not self._busy,
        )
        self._busy = bool(claims)
        if not claims:
            return False
        if len(claims) == 1:
            self.run_claimed(claims[0])
        else:
            self.run_batch(claims)
        return True

    def run_batch(self, claims: list[ClaimedJob]) -> None:
        """Run claimed jobs of one type and period through their batch handler,
        then record each job's own outcome (as `run_claimed` does for one)."""
        contexts = [JobContext(c, self.db, lease_s=self.lease_s) for c in claims]
        beat = _BatchHeartbeat(contexts, self.lease_s / 3, self.lease_s)
        beat.start()
        log.info("batch of %s %s jobs (%s...) started", len(claims), claims[0].type, claims[0].id)
        try:
            handler = self.batch_handlers[claims[0].type]
            try:
                outcomes = handler(contexts)
            except Exception as exc:  # the shared part failed: every job says so
                log.exception("batch of job %s failed", claims[0].id)
                outcomes = {c.id: exc for c in claims}
            for ctx in contexts:
                outcome = self._outcome(ctx, outcomes.get(ctx.claimed.id))
                if outcome is not None:
                    self._record(ctx, *outcome)
        finally:
            beat.stop()

    def _outcome(self, ctx: JobContext, value: BatchOutcome | None) -> tuple[str, Any] | None:
        """What to record for one job of a batch, as `_call` decides for one job."""

        def answer(_ctx: JobContext) -> dict[str, Any]:
            if value is None:
                raise RuntimeError("the batch handler gave no outcome for this job")
            if isinstance(value, BaseException):
                raise value
            return value

        return self._call(ctx, answer)

    def run_claimed(self, claimed: ClaimedJob) -> None:
        """Run one claimed job to its outcome (complete, failed, cancelled,
        queued again after a lost connection, or left alone)."""
        ctx = JobContext(claimed, self.db, lease_s=self.lease_s)
        beat = _Heartbeat(ctx, self.lease_s / 3)
        beat.start()
        log.info("job %s (%s) started, token %s", claimed.id, claimed.type, claimed.fencing_token)
        try:
            outcome = self._call(ctx)
            if outcome is not None:
                # The heartbeat keeps the lease while the outcome waits for a
                # database that is coming back.
                self._record(ctx, *outcome)
        finally:
            beat.stop()

    def _record(self, ctx: JobContext, kind: str, value: Any) -> None:
        """Write the outcome; retried while the database connection is lost
        (each write is fenced, so one that did commit is not done twice)."""
        claimed = ctx.claimed
        deadline = time.monotonic() + max(2 * self.lease_s, 30)
        delay = _BACKOFF_FIRST_S
        while True:
            try:
                if kind == "complete":
                    if not ctx.completed:
                        queue.complete(self.db, claimed, value)
                elif kind == "cancelled":
                    queue.mark_cancelled(self.db, claimed)
                elif kind == "connection_lost":
                    if queue.retry_after_connection_loss(self.db, claimed, value):
                        kind = "queued again after a lost database connection"
                else:
                    queue.fail(self.db, claimed, value)
                log.info("job %s %s", claimed.id, kind)
                return
            except LeaseLost as exc:
                log.warning("job %s: could not record its outcome: %s", claimed.id, exc)
                return
            except Exception as exc:
                if not disconnect.connection_lost(exc) or time.monotonic() > deadline:
                    raise
                log.warning(
                    "job %s: %s; recording its outcome again in %.1f s",
                    claimed.id,
                    disconnect.describe(exc),
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX_S)

    def _call(self, ctx: JobContext, handler: Handler | None = None) -> tuple[str, Any] | None:
        handler = handler or self.handlers[ctx.claimed.type]
        try:
            result = handler(ctx)
        except JobCancelled:
            return ("cancelled", None)
        except LeaseLost as exc:
            # Someone else owns the truth now (the reaper failed the job, or a
            # new claim runs it): write nothing.
            log.warning("job %s: lease lost, stopping: %s", ctx.claimed.id, exc)
            return None
        except Exception as exc:
            if disconnect.connection_lost(exc):
                self._reap_after = time.monotonic() + self.lease_s  # as in run_forever
                cause = disconnect.describe(exc)
                log.warning("job %s (%s): %s", ctx.claimed.id, ctx.claimed.type, cause)
                return ("connection_lost", cause)
            log.exception("job %s (%s) failed", ctx.claimed.id, ctx.claimed.type)
            return ("failed", f"{type(exc).__name__}: {exc}")
        if not isinstance(result, dict):
            return ("failed", f"TypeError: handler returned {type(result).__name__}, not a dict")
        if ctx.lease_lost:
            return None
        return ("complete", result)

    def run_forever(self, stop_event: threading.Event) -> None:
        """Run jobs until `stop_event` is set; a running job is finished first.

        A failing poll (the database is restarting) is retried with a growing
        wait, up to `_BACKOFF_MAX_S`, rather than ending the worker.
        """
        log.info("worker %s started (lease %ss)", self.worker_id, self.lease_s)
        failures = 0
        while not stop_event.is_set():
            try:
                busy = self.run_once()
                if failures:
                    log.info("worker %s: database reachable again", self.worker_id)
                failures = 0
            except Exception as exc:
                failures += 1
                wait = min(_BACKOFF_FIRST_S * 2 ** (failures - 1), _BACKOFF_MAX_S)
                if disconnect.connection_lost(exc):
                    # Every worker lost the database too, and its leases expired
                    # meanwhile: a job whose worker is alive is not dead.
                    self._reap_after = time.monotonic() + self.lease_s
                    log.warning(
                        "worker %s: %s; trying again in %.1f s",
                        self.worker_id,
                        disconnect.describe(exc),
                        wait,
                    )
                else:
                    log.exception("worker %s: poll failed", self.worker_id)
                stop_event.wait(max(wait, self.poll_s))
                continue
            if not busy and not stop_event.is_set():
                # Idle: poll again after poll_s, or at once when a job is
                # queued in this process (the API of `rerate serve`).
                queue.wait_for_work(self.poll_s)
        log.info("worker %s stopped", self.worker_id)


def start_in_thread(worker: Worker) -> tuple[threading.Thread, threading.Event]:
    """Run `worker` in a daemon thread (`rerate serve`'s in-process worker).

    Set the returned event to stop it; join the thread to wait for the
    current job to finish.
    """
    stop = threading.Event()
    thread = threading.Thread(
        target=worker.run_forever, args=(stop,), name=f"worker-{worker.worker_id}", daemon=True
    )
    thread.start()
    return thread, stop


def run_worker_process(
    database_url: str,
    handlers_factory: Callable[[Database], Mapping[JobType, Handler]],
    *,
    worker_id: str | None = None,
    lease_s: int = DEFAULT_LEASE_S,
    poll_s: float = 1.0,
    stop_event: threading.Event | None = None,
    expand: Expand | None = default_expand,
    db_options: Mapping[str, Any] | None = None,
    batch_handlers: Mapping[JobType, BatchHandler] | None = None,
    batch_size: int = 1,
) -> None:
    """The body of `rerate worker`: one worker in this process until SIGTERM/SIGINT.

    The first signal lets the running job finish; a second one is Python's
    default (KeyboardInterrupt / termination), for an operator in a hurry.
    The reaper in another worker then fails the abandoned job.
    """
    db = Database(database_url, **(db_options or {}))
    stop = stop_event or threading.Event()
    previous: dict[int, Any] = {}

    def _stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping after the current job", signum)
        stop.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _stop)
    try:
        Worker(
            db,
            handlers=handlers_factory(db),
            worker_id=worker_id,
            lease_s=lease_s,
            poll_s=poll_s,
            expand=expand,
            batch_handlers=batch_handlers,
            batch_size=batch_size,
        ).run_forever(stop)
    finally:
        db.dispose()
