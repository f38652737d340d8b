"""Password login: throttled, the same time for known and unknown users, audited.

Three short steps rather than one transaction: read (is the account or the
address locked? the user's hash), verify the password outside any
transaction (argon2 is slow on purpose, and must not hold SQLite's write
lock), then write (count the failure, or open the web session) in a write
transaction of its own that commits whether the login succeeds or not: a
failed login must leave its trace even though the request fails.

An unknown email, an inactive user or one without a password is verified
against a dummy hash (`secrets.verify_password`), so the answer takes as
long as for a real user with a wrong password.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.auth import throttle
from rerate.auth.secrets import new_token, token_hash, verify_password
from rerate.auth.service import principal_for
from rerate.auth.throttle import Lock, ThrottlePolicy
from rerate.kit.audit import Actor, record, set_session_actor
from rerate.kit.db import Database
from rerate.kit.errors import RerateError, TooManyAttempts, Unauthenticated
from rerate.models import User, WebSession
from rerate.models.base import utcnow

WRONG = "wrong email or password"
ANONYMOUS = Actor(None, "anonymous")


def _too_many(lock: Lock, now: datetime) -> TooManyAttempts:
    wait = lock.retry_after_s(now)
    minutes = max(1, round(wait / 60))
    whom = "this account" if lock.what == "account" else "this address"
    return TooManyAttempts(
        f"too many failed logins for {whom}; try again in {minutes} minute"
        + ("s" if minutes != 1 else ""),
        retry_after_s=wait,
    )


def log_in(
    db: Database,
    email: str,
    password: str,
    *,
    client: str,
    max_age_s: int,
    policy: ThrottlePolicy,
    now: datetime | None = None,
) -> tuple[User, str]:
    """Check the password and open a web session; returns the user and the cookie token.

    Raises `TooManyAttempts` while the account or the client address is
    locked (even for the right password) and `Unauthenticated` otherwise.
    """
    now = now or utcnow()
    email = email.strip().lower()
    keys = [throttle.account_key(email), throttle.address_key(client)]
    user_id: int | None = None
    password_hash: str | None = None
    with db.session() as session:
        lock = throttle.active_lock(session, keys, now)
        if lock is None:
            user = session.scalar(select(User).where(User.email == email))
            if user is not None and user.active:
                user_id, password_hash = user.id, user.password_hash
    if lock is not None:
        raise _too_many(lock, now)

    if not verify_password(password_hash, password) or user_id is None:
        with db.write_session() as session:
            error = _count_failure(session, policy, email, client, user_id, now)
        raise error
    with db.write_session() as session:
        outcome = _open_session(session, keys, user_id, client, max_age_s, now)
    if isinstance(outcome, TooManyAttempts):
        raise outcome
    return outcome


def _count_failure(
    session: Session,
    policy: ThrottlePolicy,
    email: str,
    client: str,
    user_id: int | None,
    now: datetime,
) -> RerateError:
    """Count and audit a failed login; the error to answer with (committed first)."""
    failure = throttle.note_failure(session, policy, email=email, client=client, now=now)
    set_session_actor(session, ANONYMOUS)
    record(
        session,
        "login_failed",
        "users",
        user_id or "",
        email=email[:320],
        client=client,
        known_user=user_id is not None,
    )
    for lock in failure.started:
        record(session, "lockout", "login_throttle", lock.key[:64], client=client, until=lock.until)
    return _too_many(failure.lock, now) if failure.lock else Unauthenticated(WRONG)


def _open_session(
    session: Session, keys: list[str], user_id: int, client: str, max_age_s: int, now: datetime
) -> tuple[User, str] | TooManyAttempts:
    # Another attempt may have locked the account while this one verified.
    lock = throttle.active_lock(session, keys, now)
    if lock is not None:
        return _too_many(lock, now)
    user = session.get(User, user_id)
    if user is None:  # deleted while the password was being verified
        raise Unauthenticated(WRONG)
    principal_for(session, user, via="session")  # refused when every role is deactivated
    throttle.note_success(session, email=user.email)
    token = new_token()
    session.add(
        WebSession(
            user_id=user.id,
            token_hash=token_hash(token),
            expires_at=now + timedelta(seconds=max_age_s),
        )
    )
    user.last_login_at = now
    set_session_actor(session, Actor(user.id, user.email))
    record(session, "login", "users", user.id, client=client)
    return user, token
