"""Login throttling: lockouts per account and per client address.

Every wrong password counts against two keys: the account (the email as
typed, known or not, so a lockout says nothing about whether the user exists)
and the client address. A key that reaches its limit within the window is
locked; the right password is refused while it is. Each further lockout in a
row lasts twice as long, up to a ceiling; a successful login clears the
account's counters (not the address's: one good account must not launder an
address that is guessing others). A key left alone for a day is forgotten.

The counters live in `login_throttle` so they hold across restarts and every
server process. Callers update them in a write transaction of their own
(`Database.write_session`): they must commit even though the login fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from rerate.kit.db import is_sqlite
from rerate.kit.settings import Settings
from rerate.models import LoginThrottle

FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    account_failures: int = 5
    address_failures: int = 20
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)
    lockout_max: timedelta = timedelta(hours=24)

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        return cls(
            account_failures=settings.login_max_failures,
            address_failures=settings.login_address_max_failures,
            window=timedelta(seconds=settings.login_window_s),
            lockout=timedelta(seconds=settings.login_lockout_s),
            lockout_max=timedelta(seconds=settings.login_lockout_max_s),
        )

    def lockout_for(self, previous_lockouts: int) -> timedelta:
        # In float seconds: 2**n times a timedelta overflows quickly.
        seconds = self.lockout.total_seconds() * 2.0 ** min(previous_lockouts, 64)
        return timedelta(seconds=min(seconds, self.lockout_max.total_seconds()))


@dataclass(frozen=True, slots=True)
class Lock:
    key: str
    until: datetime

    @property
    def what(self) -> str:
        return "account" if self.key.startswith("account:") else "address"

    def retry_after_s(self, now: datetime) -> int:
        return max(1, math.ceil((self.until - now).total_seconds()))


def account_key(email: str) -> str:
    return "account:" + email.strip().lower()[:320]


def address_key(client: str) -> str:
    return "address:" + client[:64]


def active_lock(session: Session, keys: list[str], now: datetime) -> Lock | None:
    """The lock that lasts longest among `keys`, if any is locked at `now`."""
    row = session.execute(
        select(LoginThrottle.key, LoginThrottle.locked_until)
        .where(LoginThrottle.key.in_(keys), LoginThrottle.locked_until > now)
        .order_by(LoginThrottle.locked_until.desc())
        .limit(1)
    ).first()
    return Lock(row.key, row.locked_until) if row is not None else None


def _locked_row(session: Session, key: str, now: datetime) -> LoginThrottle:
    """The key's row, created if missing, locked for this transaction (on
    SQLite the write session's BEGIN IMMEDIATE already serialises writers)."""
    insert = sqlite.insert if is_sqlite(session) else postgresql.insert
    session.execute(
        insert(LoginThrottle)
        .values(key=key, failures=0, window_start=now, lockouts=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


@dataclass(frozen=True, slots=True)
class Failure:
    started: list[Lock]  # the locks this failure started (to audit)
    lock: Lock | None  # the longest lock in force on the account or the address now


def note_failure(
    session: Session, policy: ThrottlePolicy, *, email: str, client: str, now: datetime
) -> Failure:
    """Count one failed login against the account and the address.

    A failure that lands while its key is already locked (it passed the check
    before a concurrent attempt started the lock) is not counted again: the
    lock is the answer."""
    started: list[Lock] = []
    in_force: list[Lock] = []
    for key, limit in (
        (account_key(email), policy.account_failures),
        (address_key(client), policy.address_failures),
    ):
        row = _locked_row(session, key, now)
        if row.locked_until is not None and row.locked_until > now:
            in_force.append(Lock(key, row.locked_until))
            continue
        if row.updated_at <= now - FORGET_AFTER:
            row.lockouts = 0  # quiet for a day: the next lockout is the short one again
        if row.window_start <= now - policy.window:
            row.failures, row.window_start = 0, now
        row.failures += 1
        if row.failures >= limit:
            row.locked_until = now + policy.lockout_for(row.lockouts)
            row.lockouts += 1
            row.failures, row.window_start = 0, now
            started.append(Lock(key, row.locked_until))
            in_force.append(started[-1])
        row.updated_at = now
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.updated_at < now - FORGET_AFTER,
            (LoginThrottle.locked_until.is_(None)) | (LoginThrottle.locked_until < now),
        )
    )
    return Failure(started, max(in_force, key=lambda lock: lock.until, default=None))


def note_success(session: Session, *, email: str) -> None:
    """A right password while unlocked: the account starts afresh."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == account_key(email)))
