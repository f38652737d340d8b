"""Jobs: the run queue & log the user sees, and the work queue workers claim.

`lock_key` ("<customer_id>:<period>") plus a partial unique index over queued
and running jobs is the database's guarantee that no two recalculations or
refreshes of the same (customer, period) run at once; the service checks first
to name the running job in its 409, the index settles races.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from rerate.models.base import Base, DecimalType, UTCDateTime, utcnow

_ACTIVE = "status in ('queued','running')"


class Job(Base):
    __tablename__ = "jobs"
    __audit_ignore__ = frozenset(
        {"progress", "progress_note", "heartbeat_at", "lease_expires_at", "lease_owner"}
    )
    __table_args__ = (
        Index(
            "uq_jobs_active_lock",
            "lock_key",
            unique=True,
            sqlite_where=text(_ACTIVE),
            postgresql_where=text(_ACTIVE),
        ),
        Index("ix_jobs_claim", "status", "run_after"),
        CheckConstraint(
            "status in ('queued','running','complete','failed','cancelled')", name="status"
        ),
        CheckConstraint(
            "type in ('recalculation','invoice_refresh','cache_sync','collect_usage','backfill')",
            name="type",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(36), index=True)
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    customer_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    period: Mapped[str] = mapped_column(String(7))
    lock_key: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    explanation: Mapped[str] = mapped_column(Text, default="")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(320), default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("job_schedules.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[Decimal] = mapped_column(DecimalType(5, 2), default=Decimal(0))
    progress_note: Mapped[str] = mapped_column(String(200), default="")
    result: Mapped[str | None] = mapped_column(Text)  # JSON, money as strings
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Lease and fencing: a claim increments `fencing_token`; a worker may only
    # publish while the token it holds is still the job's token.
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fencing_token: Mapped[int] = mapped_column(Integer, default=0)


class JobSchedule(Base):
    """A job to run later (`cron` empty, one occurrence at `next_run_at`) or
    on a cron schedule. `period_rule` says which period each occurrence
    covers, e.g. `last_closed_month`, or a fixed `YYYY-MM`."""

    __tablename__ = "job_schedules"
    __audit_ignore__ = frozenset({"next_run_at", "last_run_at"})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32))
    cron: Mapped[str] = mapped_column(String(100), default="")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"))
    period_rule: Mapped[str] = mapped_column(String(32), default="last_closed_month")
    reason: Mapped[str] = mapped_column(String(32))
    explanation: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScheduleOccurrence(Base):
    """One row per fired occurrence: the unique key makes each occurrence run
    once however many workers see it due at the same moment.

    `outcome` says what the occurrence did: `queued` (every target got its
    job), `partial` (some did), `refused` (none: every target failed the
    eligibility rules), `skipped` (none: each already had an active job) or
    `empty` (nothing to do); `detail` lists, as JSON, each target that got no
    job and why, so a refused occurrence is visible after the fact.
    """

    __tablename__ = "schedule_occurrences"
    __table_args__ = (
        UniqueConstraint("schedule_id", "occurrence_at"),
        CheckConstraint(
            "outcome in ('queued','partial','refused','skipped','empty')", name="outcome"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("job_schedules.id"))
    occurrence_at: Mapped[datetime] = mapped_column(UTCDateTime)
    request_id: Mapped[str] = mapped_column(String(36))
    outcome: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    jobs_queued: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    detail: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
