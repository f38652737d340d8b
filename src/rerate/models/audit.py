"""The append-only audit log: who, what, when, why.

Rows are written by a session hook for every insert, update and delete of an
audited model (rerate.kit.audit), so no service can forget. Database triggers
(see the migration) refuse UPDATE and DELETE on this table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rerate.models.base import Base, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __audited__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)  # no FK: the log outlives users
    actor: Mapped[str] = mapped_column(String(320), default="system")
    action: Mapped[str] = mapped_column(String(16))  # insert, update, delete, or a verb
    object_type: Mapped[str] = mapped_column(String(64), index=True)
    object_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    changes: Mapped[str] = mapped_column(Text, default="{}")  # JSON {field: [old, new]}
    # The materialised path of the node the object belongs to (its customer,
    # node or owning seller): who may read the entry. Null: platform only.
    node_path: Mapped[str | None] = mapped_column(String(400), index=True)
