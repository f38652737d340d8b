"""Commission rules: what share of their customers' invoiced net a partner or
distributor earns (docs/commissions.md).

A rule holds on its node for one service ("Compute", "Calls", ...) or for
every service (`service` = ""), from `valid_from` (included) to `valid_to`
(excluded; NULL = open-ended). Two rules of one (node, service) never
overlap: the service refuses it with a clear message, and a trigger on both
databases (migration 0018) refuses it for anyone writing around the service.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rerate.models.base import Base, DecimalType, UTCDateTime, utcnow


class CommissionRule(Base):
    __tablename__ = "commission_rules"
    __table_args__ = (
        CheckConstraint("rate > 0 AND rate < 1", name="rate"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="valid_range"),
        Index("ix_commission_rules_node_service", "node_id", "service"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    # "" = every service not covered by a rule of its own.
    service: Mapped[str] = mapped_column(String(100), default="")
    rate: Mapped[Decimal] = mapped_column(DecimalType(9, 6))  # 0.05 = 5 %
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(400), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
