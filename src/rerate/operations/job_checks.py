"""No job left running without a live worker.

A job is running while a worker holds its lease. A worker that died leaves
it running until some worker's reaper notices the expired lease; with no
worker running at all (after a crash, during maintenance) nobody does. This
check finds such jobs sooner: an expired lease, or a lease held by a worker
process that no longer exists on this host (the default worker id is
`host:pid:random`). `--repair` fails them as the reaper would, fencing the
old claim out; nothing they did was published (docs/jobs.md, "Fencing").
"""

from __future__ import annotations

import os
import re
import socket
from datetime import datetime

from sqlalchemy import select

from rerate.jobs import queue
from rerate.models import Job
from rerate.models.base import utcnow
from rerate.models.enums import JobStatus
from rerate.operations.check import Check, CheckResult, Context, Finding

# `worker.default_worker_id()`: host, process id, six random hex digits.
_DEFAULT_ID = re.compile(r"^(?P<host>[^:]+):(?P<pid>\d+):[0-9a-f]{6}$")


def _gone(owner: str) -> str | None:
    """Why the worker `owner` is known to be dead, or None when it may be alive."""
    m = _DEFAULT_ID.match(owner)
    if m is None or m["host"] != socket.gethostname():
        return None  # another host, or a worker named by hand: only its lease tells
    try:
        os.kill(int(m["pid"]), 0)
    except ProcessLookupError:
        return f"its process {m['pid']} no longer exists on {m['host']}"
    except PermissionError:
        return None  # exists, owned by another user
    return None


def _abandoned(ctx: Context, now: datetime) -> list[tuple[int, int, str]]:
    """(job id, fencing token, why) of running jobs without a live worker."""
    found = []
    with ctx.db.session() as s:
        for job in s.scalars(
            select(Job).where(Job.status == JobStatus.RUNNING.value).order_by(Job.id)
        ):
            owner = job.lease_owner or "?"
            if job.lease_expires_at is not None and job.lease_expires_at < now:
                why = f"the lease of worker {owner} expired at {job.lease_expires_at:%H:%M:%S} UTC"
            else:
                gone = _gone(owner)
                if gone is None:
                    continue
                why = f"worker {owner} is gone: {gone}"
            found.append((job.id, job.fencing_token, why))
    return found


def jobs_have_workers(ctx: Context) -> CheckResult:
    result = CheckResult("jobs_have_workers", "no job is left running without a live worker")
    for job_id, _token, why in _abandoned(ctx, utcnow()):
        result.problems.append(
            Finding(
                f"job {job_id} is running, but {why}",
                repair="mark it failed (the previous published state is unchanged)",
            )
        )
    return result


def release_jobs(ctx: Context, _result: CheckResult) -> list[str]:
    done = []
    for job_id, token, why in _abandoned(ctx, utcnow()):
        if queue.release_abandoned(ctx.db, job_id, token, f"{why} ({ctx.actor_label})"):
            done.append(f"job {job_id} marked failed: {why}")
    return done


CHECKS = [Check("jobs_have_workers", jobs_have_workers, release_jobs)]
