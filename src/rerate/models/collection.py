"""Usage collection: the source configured for a region, each collection run,
and the export files already imported.

A region (`regions`) gets at most one source: its platform, the tenant node
that owns it, its connection settings (JSON, never a secret) and its secret
(`secret`: `enc:v1:...` sealed with the installation's key, or `env:NAME`, a
reference to an environment variable; never returned by the API, console or
CLI). `collected_through` is the last UTC day collected completely: the
daily schedule starts the day after it, so a failed night is caught up by the
next one. See docs/collection.md.
"""

from __future__ import annotations

from datetime import date, datetime

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

from rerate.models.base import Base, UTCDateTime, utcnow

PLATFORMS = ("azure_stack", "azure_local", "public_azure", "cloudstack")


class CollectionSource(Base):
    __tablename__ = "collection_sources"
    __audit_ignore__ = frozenset({"collected_through", "updated_at"})
    __audit_redact__ = frozenset({"secret"})
    __table_args__ = (
        CheckConstraint(
            "platform in ('azure_stack','azure_local','public_azure','cloudstack')",
            name="platform",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), unique=True)
    owner_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    settings: Mapped[str] = mapped_column(Text, default="{}")  # JSON, no secrets
    secret: Mapped[str | None] = mapped_column(Text)  # enc:v1:... or env:NAME
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("job_schedules.id"))
    collected_through: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CollectionRun(Base):
    """One `collect_usage` job: which source, which days `[start, end)`, how far it got."""

    __tablename__ = "collection_runs"
    __audited__ = False  # the job row is the log; this is its bookkeeping
    __table_args__ = (CheckConstraint("end_day > start_day", name="range"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), unique=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("collection_sources.id"), index=True)
    start_day: Mapped[date] = mapped_column(Date)
    end_day: Mapped[date] = mapped_column(Date)  # exclusive
    done_through: Mapped[date | None] = mapped_column(Date)  # last day fully imported
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CollectedFile(Base):
    """An export file a source imported, by checksum: a file seen again is skipped."""

    __tablename__ = "collected_files"
    __audited__ = False
    __table_args__ = (UniqueConstraint("source_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("collection_sources.id"), index=True)
    path: Mapped[str] = mapped_column(String(1000))  # relative to the source's folder
    sha256: Mapped[str] = mapped_column(String(64))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("usage_imports.id"))
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
