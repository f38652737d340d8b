"""Price books (SKU/meter prices and destination-prefix tariffs) with
effective-dated versions; timetables; consumption profiles.

Each price-book version is a complete price list in force from its
`effective_from` until the next version's: a later version may add, change or
remove entries. Tiers, increments and modes are rows and enums, checked by
constraints as well as by the services.

A version is a `draft` (edited freely, prices nothing) until it is
`published`; from then on it and its entries are immutable, which database
triggers enforce as well (migration 0011).
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rerate.models.base import Base, DecimalType, UTCDateTime, utcnow

_TIER_MODES = "tier_mode in ('none','graduated','volume')"


class PriceBook(Base):
    __tablename__ = "price_books"
    __table_args__ = (
        CheckConstraint("kind in ('cloud','voip')", name="kind"),
        UniqueConstraint("owner_node_id", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    owner_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)

    versions: Mapped[list[PriceBookVersion]] = relationship(
        back_populates="price_book", order_by="PriceBookVersion.effective_from"
    )


class PriceBookVersion(Base):
    __tablename__ = "price_book_versions"
    __table_args__ = (
        UniqueConstraint("price_book_id", "version"),
        # Drafts included: a draft that could never be published is refused early.
        UniqueConstraint("price_book_id", "effective_from"),
        CheckConstraint("status in ('draft','published')", name="status"),
        CheckConstraint(
            "(status = 'draft' and published_at is null) "
            "or (status = 'published' and published_at is not null)",
            name="published_at",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    price_book_id: Mapped[int] = mapped_column(ForeignKey("price_books.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(400), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    price_book: Mapped[PriceBook] = relationship(back_populates="versions")


class PriceEntry(Base):
    """A SKU or meter price, optionally for one region (region-specific beats generic)."""

    __tablename__ = "price_entries"
    __table_args__ = (
        UniqueConstraint("version_id", "sku", "region"),
        CheckConstraint(_TIER_MODES, name="tier_mode"),
        CheckConstraint("unit_price >= 0", name="unit_price"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Indexed by the unique constraint, whose leading column it is.
    version_id: Mapped[int] = mapped_column(ForeignKey("price_book_versions.id"))
    sku: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(200), default="")
    region: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(64), default="")
    unit_price: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    tier_mode: Mapped[str] = mapped_column(String(16), default="none")

    tiers: Mapped[list[PriceTier]] = relationship(
        order_by="PriceTier.from_quantity", lazy="selectin"
    )


class PriceTier(Base):
    __tablename__ = "price_tiers"
    __table_args__ = (
        UniqueConstraint("entry_id", "from_quantity"),
        CheckConstraint("from_quantity >= 0 and unit_price >= 0", name="non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("price_entries.id"), index=True)
    from_quantity: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    unit_price: Mapped[Decimal] = mapped_column(DecimalType(38, 10))


class TariffEntry(Base):
    """A destination-prefix tariff line. Increments follow the carrier
    notation initial/subsequent (60/60, 30/6, 1/1)."""

    __tablename__ = "tariff_entries"
    __table_args__ = (
        # One entry per prefix, band and timing; NULL (no band, any time)
        # counts as one value, not as distinct ones (migration 0015).
        Index(
            "uq_tariff_entries_key",
            "version_id",
            "prefix",
            func.coalesce(text("band"), ""),
            func.coalesce(text("timing"), ""),
            unique=True,
        ),
        CheckConstraint("rate_per_minute >= 0 and connect_fee >= 0", name="non_negative"),
        CheckConstraint(
            "initial_increment > 0 and subsequent_increment > 0 and min_seconds >= 0",
            name="increments",
        ),
        CheckConstraint(
            "(increment_decimals is null or increment_decimals between 0 and 10) and "
            "(call_decimals is null or call_decimals between 0 and 10)",
            name="terms",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Indexed by the unique constraint, whose leading column it is.
    version_id: Mapped[int] = mapped_column(ForeignKey("price_book_versions.id"))
    prefix: Mapped[str] = mapped_column(String(32))
    destination_group: Mapped[str] = mapped_column(String(200))
    band: Mapped[str | None] = mapped_column(String(32))
    rate_per_minute: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    connect_fee: Mapped[Decimal] = mapped_column(DecimalType(38, 10), default=Decimal(0))
    min_seconds: Mapped[int] = mapped_column(Integer, default=0)
    initial_increment: Mapped[int] = mapped_column(Integer, default=60)
    subsequent_increment: Mapped[int] = mapped_column(Integer, default=60)
    charge_unanswered: Mapped[bool] = mapped_column(Boolean, default=False)
    # The carrier terms (rating/plan.py TariffEntry), as the tariffs CSV
    # writes them (rating/tariff_terms.py): rate groups and timing as text;
    # NULL is "none" (no groups, no rounding, no cap, any time).
    rate_groups: Mapped[str | None] = mapped_column(Text)
    increment_decimals: Mapped[int | None] = mapped_column(Integer)
    call_decimals: Mapped[int | None] = mapped_column(Integer)
    call_rounding: Mapped[str | None] = mapped_column(String(16))
    max_cost: Mapped[Decimal | None] = mapped_column(DecimalType(38, 10))
    timing: Mapped[str | None] = mapped_column(Text)
    weight: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Timetable(Base):
    """A named timetable in one IANA zone, owned by a tenancy node. What it
    says (default band, rules, holidays) lives in its versions: a change is a
    new version effective from an instant, so a billed period can always be
    rated again with the version that was in force at each call."""

    __tablename__ = "timetables"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Fixed at creation: a different zone is a different timetable.
    tz: Mapped[str] = mapped_column(String(64))
    owner_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[TimetableVersion]] = relationship(
        back_populates="timetable", order_by="TimetableVersion.effective_from", lazy="selectin"
    )


class TimetableVersion(Base):
    """A complete timetable (default band, rules, holidays) in force from
    `effective_from` until the next version's."""

    __tablename__ = "timetable_versions"
    __table_args__ = (
        UniqueConstraint("timetable_id", "version"),
        UniqueConstraint("timetable_id", "effective_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    timetable_id: Mapped[int] = mapped_column(ForeignKey("timetables.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    default_band: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(400), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    timetable: Mapped[Timetable] = relationship(back_populates="versions")
    rules: Mapped[list[TimetableRule]] = relationship(
        order_by="TimetableRule.position", lazy="selectin"
    )
    holidays: Mapped[list[Holiday]] = relationship(order_by="Holiday.day", lazy="selectin")


class TimetableRule(Base):
    """`weekdays` is a string of digits 0 (Monday) .. 6 (Sunday). A range
    whose end is not after its start crosses midnight."""

    __tablename__ = "timetable_rules"
    __table_args__ = (
        UniqueConstraint("version_id", "position"),
        CheckConstraint("length(weekdays) between 1 and 7", name="weekdays"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("timetable_versions.id"), index=True)
    # The order the rules were listed in: ties of priority go to the first listed.
    position: Mapped[int] = mapped_column(Integer, default=0)
    band: Mapped[str] = mapped_column(String(32))
    weekdays: Mapped[str] = mapped_column(String(7))
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    priority: Mapped[int] = mapped_column(Integer, default=0)


class Holiday(Base):
    __tablename__ = "holidays"
    __table_args__ = (UniqueConstraint("version_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("timetable_versions.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    band: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")


class ConsumptionProfile(Base):
    """A named consumption profile of one unit, owned by a tenancy node; its
    terms (included quantity, tiers, scope) live in its versions."""

    __tablename__ = "consumption_profiles"
    __table_args__ = (CheckConstraint("unit in ('minutes','units')", name="unit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(16), default="minutes")
    owner_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[ProfileVersion]] = relationship(
        back_populates="profile", order_by="ProfileVersion.effective_from", lazy="selectin"
    )


class ProfileVersion(Base):
    """Included quantity per account per period and volume tiers; `scope`
    limits it to a destination-group prefix or a SKU (empty = everything).
    In force from `effective_from` until the next version's."""

    __tablename__ = "profile_versions"
    __table_args__ = (
        UniqueConstraint("profile_id", "version"),
        UniqueConstraint("profile_id", "effective_from"),
        CheckConstraint(_TIER_MODES, name="tier_mode"),
        CheckConstraint("included_quantity >= 0", name="included"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("consumption_profiles.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    included_quantity: Mapped[Decimal] = mapped_column(DecimalType(38, 10), default=Decimal(0))
    tier_mode: Mapped[str] = mapped_column(String(16), default="none")
    scope: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(String(400), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    profile: Mapped[ConsumptionProfile] = relationship(back_populates="versions")
    tiers: Mapped[list[ProfileTier]] = relationship(
        order_by="ProfileTier.from_quantity", lazy="selectin"
    )


class ProfileTier(Base):
    __tablename__ = "profile_tiers"
    __table_args__ = (
        UniqueConstraint("version_id", "from_quantity"),
        CheckConstraint("from_quantity >= 0 and rate >= 0", name="non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("profile_versions.id"), index=True)
    from_quantity: Mapped[Decimal] = mapped_column(DecimalType(38, 10))
    rate: Mapped[Decimal] = mapped_column(DecimalType(38, 10))


class AccountProfile(Base):
    """Account X uses profile P over `[valid_from, valid_to)` (UTC). Intervals
    of one account never overlap: the service checks, and a trigger of
    migration 0012 refuses an overlapping row on both databases."""

    __tablename__ = "account_profiles"
    __table_args__ = (
        CheckConstraint("valid_to is null or valid_to > valid_from", name="interval"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("consumption_profiles.id"))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
