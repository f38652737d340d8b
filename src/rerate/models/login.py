"""Failed-login counters, per account and per client address.

In the database rather than in memory so a lockout survives a restart and
holds across every server process. One row per key (`account:<email>` or
`address:<client>`), updated under a row lock; idle rows are deleted after a
day (`rerate.auth.throttle`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rerate.models.base import Base, UTCDateTime, utcnow


class LoginThrottle(Base):
    __tablename__ = "login_throttle"
    # Lockouts and failed logins are written to the audit log explicitly
    # (rerate.auth.login); the counters themselves are bookkeeping.
    __audited__ = False

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # in the current window
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    lockouts: Mapped[int] = mapped_column(Integer, default=0)  # in a row: each one lasts longer
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
