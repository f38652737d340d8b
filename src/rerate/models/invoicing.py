"""Invoices, their lines and gapless number series.

One *live* invoice per (customer, period, type) is a partial unique index.
Numbers are assigned at issue from `invoice_series` under a row lock, so they
are gapless per series; an issued invoice is never edited (a trigger refuses
changes to its amounts and lines; status may still move to paid/cancelled).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rerate.models.base import Base, DecimalType, UTCDateTime, utcnow

_LIVE = "status in ('draft','ready','issued','paid')"


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        Index(
            "uq_invoices_one_live",
            "customer_id",
            "period",
            "type",
            unique=True,
            sqlite_where=text(_LIVE),
            postgresql_where=text(_LIVE),
        ),
        UniqueConstraint("series", "number"),
        CheckConstraint(
            "status in ('draft','ready','issued','paid','cancelled','superseded')",
            name="status",
        ),
        CheckConstraint("type in ('monthly','quarterly')", name="type"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    period: Mapped[str] = mapped_column(String(7))
    type: Mapped[str] = mapped_column(String(16), default="monthly")
    status: Mapped[str] = mapped_column(String(16), default="ready")
    version: Mapped[int] = mapped_column(Integer, default=1)
    series: Mapped[str] = mapped_column(String(32))
    number: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    tax_rate: Mapped[Decimal] = mapped_column(DecimalType(9, 6))
    tax: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    total: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    rounding_mode: Mapped[str] = mapped_column(String(32), default="ROUND_HALF_UP")
    run_ids: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of billing_runs.id
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    lines: Mapped[list[InvoiceLine]] = relationship(
        order_by="InvoiceLine.position", lazy="selectin"
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"
    __table_args__ = (UniqueConstraint("invoice_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))  # usage, custom, minimum, support, credit
    description: Mapped[str] = mapped_column(String(400))
    quantity: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    unit: Mapped[str] = mapped_column(String(64), default="")
    amount: Mapped[Decimal] = mapped_column(DecimalType(38, 10))


class InvoiceSeries(Base):
    __tablename__ = "invoice_series"
    __audit_ignore__ = frozenset({"next_number"})

    series: Mapped[str] = mapped_column(String(32), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(32))
    next_number: Mapped[int] = mapped_column(Integer, default=1)
