"""Accounts (management accounts, subscriptions, VoIP peers), their
effective-dated ownership by customers, and regions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rerate.models.base import Base, UTCDateTime, utcnow


class Region(Base):
    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(64), default="")


class Account(Base):
    """`external_ref` is the id the sources use (FOCUS SubAccountId, Azure
    subscription id, CloudStack account id, the peer's accountcode); importers
    map rows to accounts by it within the importing caller's scope.

    `owner_node_id` is the seller (platform, distributor or partner node) under
    which the account was created. The ref is unique per seller, not globally:
    a global key would let one tenant learn (or block) the ids another uses."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("kind in ('management_account','subscription','voip_peer')", name="kind"),
        UniqueConstraint("owner_node_id", "external_ref"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    external_ref: Mapped[str] = mapped_column(String(200))
    owner_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ownerships: Mapped[list[AccountOwnership]] = relationship(
        back_populates="account", order_by="AccountOwnership.valid_from"
    )


class AccountOwnership(Base):
    """Account X belongs to customer C over `[valid_from, valid_to)` (UTC).
    Rows are never deleted: a move closes one interval and opens another.

    Intervals of one account never overlap, and the database enforces it
    (migration 0010): on PostgreSQL an exclusion constraint
    `account_ownerships_no_overlap` (btree_gist), on SQLite triggers that
    abort an overlapping insert or update. Alembic does not compare either,
    so they live in the migration only."""

    __tablename__ = "account_ownerships"
    __table_args__ = (
        CheckConstraint("valid_to is null or valid_to > valid_from", name="interval"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[Account] = relationship(back_populates="ownerships")
