"""Invoices, their lines and gapless number series.

One *live* invoice per (customer, period, type) is a partial unique index.
Numbers are assigned at issue from `invoice_series` under a row lock, so they
are gapless per series; an issued invoice is never edited (a trigger refuses
changes to its amounts and lines; status may still move to paid/cancelled).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
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

# A credit note is a document of its own (type credit_note), never "the" live
# invoice of its period: the index leaves it out.
_LIVE = "status in ('draft','ready','issued','paid') and type <> 'credit_note'"


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
            "status in ('draft','ready','issued','paid','cancelled','superseded','credited')",
            name="status",
        ),
        CheckConstraint("type in ('monthly','quarterly','credit_note','true_up')", name="type"),
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
    # A credit note names the invoice it reverses; that invoice (now Credited)
    # names its credit note: linked both ways, like replaces/replaced_by.
    credits_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    credited_by_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set at issue: issue date + the contract's payment terms (days).
    due_date: Mapped[date | None] = mapped_column(Date)
    # A quarterly invoice (docs/invoicing.md, "Quarterly invoices"): how its
    # charge was projected, from which months (JSON [{"period", "amount"}]),
    # the projection, and an override with its reason. Frozen at issue with
    # the amounts (migration 0020's guards).
    projection_method: Mapped[str | None] = mapped_column(String(32))
    projection_basis: Mapped[str | None] = mapped_column(Text)
    projected_amount: Mapped[Decimal | None] = mapped_column(DecimalType(38, 10))
    override_amount: Mapped[Decimal | None] = mapped_column(DecimalType(38, 10))
    override_reason: Mapped[str | None] = mapped_column(String(400))
    # Its true-up, once the quarter's months are billed: when, the actual
    # months (JSON like the basis) and their sum, and the document that
    # invoiced or credited the difference (none when it was 0.00), which
    # names the quarterly invoice back (`true_up_of_id`). Written once.
    trued_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    true_up_actuals: Mapped[str | None] = mapped_column(Text)
    true_up_actual: Mapped[Decimal | None] = mapped_column(DecimalType(38, 10))
    trued_up_by_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    true_up_of_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))

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


class Payment(Base):
    """Money received against an issued invoice; a reversal is a row of its own
    (negative amount, `reverses_id` set, reason required), never an edit."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(
            "(reverses_id IS NULL AND amount > 0) OR (reverses_id IS NOT NULL AND amount < 0)",
            name="payment_sign",
        ),
        UniqueConstraint("reverses_id", name="uq_payments_one_reversal"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    currency: Mapped[str] = mapped_column(String(3))
    paid_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(200), default="")
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    # Set when this "payment" is part of a credit note applied to the invoice
    # (no money moved): the credit note's open amount shrinks by it.
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    reason: Mapped[str] = mapped_column(String(400), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CreditBalanceEntry(Base):
    """A movement of a customer's credit balance (per currency): credit an
    invoice could not absorb is `carried_out` from it; a later invoice that
    uses it records `applied` with the source invoice. Only movements of
    invoices still in force count (see invoicing/credits.py)."""

    __tablename__ = "credit_balance_entries"
    __table_args__ = (
        CheckConstraint("kind in ('carried_out','applied')", name="kind"),
        CheckConstraint("amount > 0", name="amount_positive"),
        UniqueConstraint("invoice_id", "source_invoice_id", "kind", name="uq_credit_movement"),
        Index("ix_credit_balance_entries_customer", "customer_id", "currency"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    currency: Mapped[str] = mapped_column(String(3))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    source_invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
