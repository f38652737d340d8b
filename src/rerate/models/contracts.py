"""Contracts between a seller node and a customer, their versioned rules,
custom line items and settings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rerate.models.base import Base, DecimalType, UTCDateTime, utcnow


class Contract(Base):
    """At most one active contract per customer (partial unique index): the
    seeds bill every period with the rules of the *currently active* one.
    `rules_version` names the rule set in force; editing rules writes a new
    version so earlier runs can say exactly which rules they used."""

    __tablename__ = "contracts"
    __table_args__ = (
        Index(
            "uq_contracts_one_active",
            "customer_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
        CheckConstraint("coverage_end is null or coverage_end > coverage_start", name="coverage"),
        CheckConstraint("payment_terms_days between 0 and 365", name="payment_terms"),
        CheckConstraint("correction_policy in ('replace','credit_note')", name="correction_policy"),
        CheckConstraint("invoice_type in ('monthly','quarterly')", name="invoice_type"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    seller_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    name: Mapped[str] = mapped_column(String(200), default="")
    currency: Mapped[str] = mapped_column(String(3))
    billing_tz: Mapped[str] = mapped_column(String(64), default="UTC")
    # Coverage in whole months, half-open: [coverage_start, coverage_end).
    coverage_start: Mapped[date] = mapped_column(Date)
    coverage_end: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    rounding_mode: Mapped[str] = mapped_column(String(32), default="ROUND_HALF_UP")
    # Days from issue to due date printed on the contract's invoices.
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    # How an issued invoice is corrected: replace (cancel + new version) or
    # credit_note. A Paid or part-paid invoice is always credited.
    correction_policy: Mapped[str] = mapped_column(String(16), default="replace")
    # The customer's invoice type: monthly, or quarterly (invoiced a quarter in
    # advance from the three months before it, then trued up); a term between
    # seller and customer, like the payment terms (docs/invoicing.md).
    invoice_type: Mapped[str] = mapped_column(String(16), default="monthly")
    passthrough_unpriced: Mapped[bool] = mapped_column(Boolean, default=False)
    cloud_price_book_id: Mapped[int | None] = mapped_column(ForeignKey("price_books.id"))
    voip_price_book_id: Mapped[int | None] = mapped_column(ForeignKey("price_books.id"))
    timetable_id: Mapped[int | None] = mapped_column(ForeignKey("timetables.id"))
    rules_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    rules: Mapped[list[ContractRule]] = relationship(
        back_populates="contract", order_by="(ContractRule.version, ContractRule.position)"
    )

    def current_rules(self) -> list[ContractRule]:
        return [r for r in self.rules if r.version == self.rules_version]


class ContractRuleSet(Base):
    """One version of a contract's rules: when it was written and why (the
    audit log has who). Version 1 is the set the contract was created with."""

    __tablename__ = "contract_rule_sets"
    __table_args__ = (UniqueConstraint("contract_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(400), default="")
    created_by: Mapped[str] = mapped_column(String(400), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContractRule(Base):
    __tablename__ = "contract_rules"
    __table_args__ = (
        UniqueConstraint("contract_id", "version", "position"),
        CheckConstraint(
            "kind in ('unit_price_override','discount','markup','support_fee',"
            "'minimum_commitment','credit')",
            name="kind",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(32))
    scope_service: Mapped[str | None] = mapped_column(String(200))
    scope_sku: Mapped[str | None] = mapped_column(String(200))
    scope_region: Mapped[str | None] = mapped_column(String(64))
    percent: Mapped[Decimal | None] = mapped_column(DecimalType(12, 6))
    amount: Mapped[Decimal | None] = mapped_column(DecimalType(38, 10))
    unit_price: Mapped[Decimal | None] = mapped_column(DecimalType(38, 10))
    description: Mapped[str] = mapped_column(String(400), default="")

    contract: Mapped[Contract] = relationship(back_populates="rules")


class CustomLineItem(Base):
    """A charge or credit added by hand: one-off (on `one_off_date`) or
    recurring monthly from `recurring_from` to `recurring_to` (both inclusive,
    docs/rating.md). Changing one retroactively is a reason to recalculate
    (`custom_line_item`)."""

    __tablename__ = "custom_line_items"
    __table_args__ = (
        CheckConstraint(
            "(one_off_date is not null) <> (recurring_from is not null)", name="one_kind"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    description: Mapped[str] = mapped_column(String(400))
    amount: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    currency: Mapped[str] = mapped_column(String(3))
    one_off_date: Mapped[date | None] = mapped_column(Date)
    recurring_from: Mapped[date | None] = mapped_column(Date)
    recurring_to: Mapped[date | None] = mapped_column(Date)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Setting(Base):
    """A named setting, global (`node_id` null) or overridden on a node."""

    __tablename__ = "settings"
    __table_args__ = (
        Index(
            "uq_settings_global_key",
            "key",
            unique=True,
            sqlite_where=text("node_id is null"),
            postgresql_where=text("node_id is null"),
        ),
        UniqueConstraint("node_id", "key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"))
    key: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(String(400))
