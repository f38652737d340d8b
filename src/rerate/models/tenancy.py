"""The tenancy tree (platform > distributor > partner > customer), users, roles, keys."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rerate.models.base import Base, DecimalType, UTCDateTime, utcnow


class Node(Base):
    """A node of the tenancy tree. `path` is the materialised path of ids
    ("/1/4/9/") so that "is X inside Y's subtree" is one prefix test."""

    __tablename__ = "nodes"
    __table_args__ = (
        CheckConstraint("kind in ('platform','distributor','partner','customer')", name="kind"),
        CheckConstraint("tax_rate is null or kind = 'customer'", name="tax_rate_on_customer"),
        CheckConstraint("tax_rate is null or (tax_rate >= 0 and tax_rate < 1)", name="tax_rate"),
        CheckConstraint(
            "payment_terms_days is null or (payment_terms_days >= 0 and payment_terms_days <= 365)",
            name="payment_terms_days",
        ),
        # Siblings are told apart by name (the service compares case-insensitively too).
        UniqueConstraint("parent_id", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"), index=True)
    path: Mapped[str] = mapped_column(String(400), index=True, default="")
    # Customers only: the tax rate printed on their invoices (0.20 = 20 %).
    tax_rate: Mapped[Decimal | None] = mapped_column(DecimalType(9, 6))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What invoices print and the defaults new contracts take.
    legal_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    address: Mapped[str] = mapped_column(Text, default="", server_default="")  # multi-line
    tax_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    currency: Mapped[str | None] = mapped_column(String(3))  # ISO 4217
    time_zone: Mapped[str | None] = mapped_column(String(64))  # IANA, e.g. Europe/Paris
    payment_terms_days: Mapped[int | None] = mapped_column(Integer)
    # A deactivated node (and its subtree) takes nothing new and lets no one log in
    # through it; its history stays readable. Never deleted.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    parent: Mapped[Node | None] = relationship(remote_side="Node.id")


class User(Base):
    __tablename__ = "users"
    __audit_ignore__ = frozenset({"last_login_at"})
    __audit_redact__ = frozenset({"password_hash"})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    roles: Mapped[list[RoleAssignment]] = relationship(back_populates="user", lazy="selectin")


class RoleAssignment(Base):
    """A role held on one node; it covers that node's whole subtree."""

    __tablename__ = "role_assignments"
    __table_args__ = (UniqueConstraint("user_id", "node_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))

    user: Mapped[User] = relationship(back_populates="roles")
    node: Mapped[Node] = relationship(lazy="joined")


class ApiKey(Base):
    """A machine credential. Only the SHA-256 of the secret is stored."""

    __tablename__ = "api_keys"
    __audit_ignore__ = frozenset({"last_used_at"})
    __audit_redact__ = frozenset({"key_hash"})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A browser login. The cookie carries a random token; we keep its hash,
    so sessions can be listed and revoked server-side."""

    __tablename__ = "web_sessions"
    __audited__ = False
    __audit_redact__ = frozenset({"token_hash"})  # should sessions ever be audited

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Invitation(Base):
    """An invitation to hold `role` on `node_id`: the invitee sets a password
    with the single-use token (only its SHA-256 is stored) before `expires_at`."""

    __tablename__ = "invitations"
    __audit_redact__ = frozenset({"token_hash"})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # once accepted
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    node: Mapped[Node] = relationship(lazy="joined")
