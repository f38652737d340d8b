"""Backfills: billing recomputed over a date range for a set of customers, as
one job, with its reconciliation (billing/backfill.py).

`backfills` holds what was asked (the range, the publish flag, and for a
publish of a reviewed dry run the job it publishes); `backfill_items` one row
per (customer, period) with the reconciliation: the total published before,
the backfilled total, their difference, and what happened to the period.
Items are written as the job goes, each in the transaction that publishes its
period, so a job that stops half-way still says which periods it published.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from rerate.models.base import Base, DecimalType, UTCDateTime, utcnow

ITEM_STATUSES = ("pending", "computed", "unchanged", "published", "skipped", "failed")


class Backfill(Base):
    __tablename__ = "backfills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), unique=True)
    # Half-open [start, end): the periods are the months the range touches.
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    publish: Mapped[bool] = mapped_column(Boolean, default=False)
    # Publishing a reviewed dry run: the dry run's job, whose computed runs
    # are published when their inputs are unchanged.
    reviewed_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BackfillItem(Base):
    __tablename__ = "backfill_items"
    # Derived: the backfill (who asked for what) and each run it records or
    # publishes are audited; auditing every row's progress would repeat them.
    __audited__ = False
    __table_args__ = (
        UniqueConstraint("backfill_id", "customer_id", "period"),
        CheckConstraint(
            "status in ('pending','computed','unchanged','published','skipped','failed')",
            name="status",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backfill_id: Mapped[int] = mapped_column(ForeignKey("backfills.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    period: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    currency: Mapped[str | None] = mapped_column(String(3))
    previous_run_id: Mapped[int | None] = mapped_column(ForeignKey("billing_runs.id"))
    previous_total: Mapped[Decimal | None] = mapped_column(DecimalType(38, 10))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("billing_runs.id"))
    backfilled_total: Mapped[Decimal | None] = mapped_column(DecimalType(38, 10))
    difference: Mapped[Decimal | None] = mapped_column(DecimalType(38, 10))
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    # Publishing a reviewed dry run: True when the reviewed run was published
    # as computed (its inputs unchanged), False when it had to be recomputed.
    reused: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
