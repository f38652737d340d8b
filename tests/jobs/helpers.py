"""Shared helpers for the job-queue tests (no fixtures: plain functions)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rerate.jobs.queue import enqueue
from rerate.kit.db import Database
from rerate.models.enums import JobType, ReasonCode
from rerate.models.jobs import Job


def add_job(
    db: Database,
    customer_id: int,
    period: str = "2025-01",
    *,
    type: JobType = JobType.RECALCULATION,
    run_after: datetime | None = None,
    **extra: Any,
) -> int:
    """Enqueue and commit one job; return its id."""
    with db.session() as s:
        job = enqueue(
            s,
            type=type,
            customer_id=customer_id,
            period=period,
            reason=ReasonCode.PRICE_BOOK_UPDATE,
            actor_id=None,
            actor_label="tests",
            request_id=str(uuid.uuid4()),
            run_after=run_after,
            **extra,
        )
        return job.id


def get_job(db: Database, job_id: int) -> Job:
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def wait_for(predicate: Callable[[], bool], *, timeout: float = 15.0, what: str = "") -> None:
    """Poll `predicate` until true; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
