"""Billing runs (immutable rated output for one customer and period), the
pointer to the current run, and the billing cache built from current runs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rerate.models.base import Base, DecimalType, UTCDateTime, utcnow


class BillingRun(Base):
    """Written once as Parquet under `path`; never edited. `fingerprint` is a
    hash of the rated content, so a recalculation that changes nothing is
    recognised and creates no new version."""

    __tablename__ = "billing_runs"
    # The inputs are a digest of rows that are audited themselves; copying
    # the JSON into every run's audit entry would only bloat the log.
    __audit_ignore__ = frozenset({"inputs"})
    __table_args__ = (
        UniqueConstraint("customer_id", "period", "version"),
        CheckConstraint("status in ('computed','published','superseded')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    period: Mapped[str] = mapped_column(String(7))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="computed")
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    path: Mapped[str] = mapped_column(String(400))
    fingerprint: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    unrated_count: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    net_total: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    list_total: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    summary: Mapped[str] = mapped_column(Text, default="{}")  # JSON, money as strings
    # SHA-256 of the run's manifest.json, which lists every file's size and
    # SHA-256 (billing/run_files.py); null for runs written before manifests.
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    # What the run was computed from (billing/inputs.py), JSON; null for runs
    # recorded before stale periods were tracked (those are never marked stale).
    inputs: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CurrentRun(Base):
    """The published run of each (customer, period). Publishing is one UPDATE
    of this row inside a transaction, so readers see the old run or the new
    one, never a mix."""

    __tablename__ = "current_runs"

    customer_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BillingCacheRow(Base):
    """Per (customer, account, period) aggregates for reports and invoices,
    always rebuildable from the current run (cache sync)."""

    __tablename__ = "billing_cache"
    __audited__ = False  # derived data; the run it came from is audited

    customer_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id"))
    currency: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    list_amount: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    net_amount: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    row_count: Mapped[int] = mapped_column(Integer)
    unrated_count: Mapped[int] = mapped_column(Integer, default=0)
