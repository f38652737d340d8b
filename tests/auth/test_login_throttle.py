"""Login throttling: lockouts per account and per client address, kept in the
database (they survive a restart and hold across server processes), and the
same work for unknown and known users."""

from __future__ import annotations

import json
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.app import create_app
from rerate.auth import secrets
from rerate.auth.login import log_in
from rerate.auth.throttle import ThrottlePolicy
from rerate.kit.db import Database
from rerate.kit.errors import TooManyAttempts, Unauthenticated
from rerate.kit.settings import Settings
from rerate.models import AuditEntry
from tests.world import World

EMAIL = "partner_admin@test.example"
PASSWORD = "correct-horse"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LOOSE = ThrottlePolicy(account_failures=1000, address_failures=1000)


def _login(client: TestClient, password: str, email: str = EMAIL, **headers: str):
    return client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, headers=headers
    )


def _attempt(db: Database, password: str, *, at: datetime, email: str = EMAIL, client="10.0.0.1"):
    """One login through the service at a given time: 'ok', 'wrong' or 'locked'."""
    try:
        log_in(db, email, password, client=client, max_age_s=60, policy=ThrottlePolicy(), now=at)
    except TooManyAttempts:
        return "locked"
    except Unauthenticated:
        return "wrong"
    return "ok"


def test_wrong_passwords_lock_the_account_and_the_right_one_is_then_refused(
    client: TestClient, world: World, database: Database, data_dir: Path
):
    answers = [_login(client, f"guess-number-{i}").status_code for i in range(5)]
    assert answers == [401, 401, 401, 401, 429]  # the fifth starts the lockout
    right = _login(client, PASSWORD)
    assert right.status_code == 429, right.text
    assert right.json()["error"] == "TooManyAttempts"
    assert "try again in 15 minutes" in right.json()["detail"]
    assert 800 < int(right.headers["Retry-After"]) <= 900
    assert "rerate_session" not in right.cookies
    # A restarted server (or another process on the same database) agrees.
    settings = Settings(data_dir=data_dir, database_url=database.url, env="test")
    with TestClient(create_app(settings, Database(database.url))) as other:
        assert _login(other, PASSWORD).status_code == 429
    # Other accounts are not affected (the address limit is higher).
    world_key = world.headers("partner_user")
    assert client.get("/api/v1/me", headers=world_key).status_code == 200


def test_unknown_accounts_lock_the_same_way(client: TestClient, world: World):
    """Otherwise a lockout would tell which emails exist."""
    answers = [_login(client, "whatever-12", "nobody@test.example").status_code for _ in range(6)]
    assert answers == [401, 401, 401, 401, 429, 429]


def test_the_lockout_ends_and_each_one_in_a_row_lasts_longer(world: World, database: Database):
    for i in range(5):
        assert _attempt(database, f"wrong-{i}-xxxx", at=T0 + timedelta(seconds=i)) in (
            "wrong",
            "locked",
        )
    assert _attempt(database, PASSWORD, at=T0 + timedelta(minutes=14)) == "locked"
    # First lockout: 15 minutes from the fifth failure.
    for i in range(5):
        _attempt(database, f"wrong-{i}-yyyy", at=T0 + timedelta(minutes=16, seconds=i))
    # Second in a row: 30 minutes.
    assert _attempt(database, PASSWORD, at=T0 + timedelta(minutes=16 + 29)) == "locked"
    assert _attempt(database, PASSWORD, at=T0 + timedelta(minutes=16 + 31)) == "ok"
    # A successful login starts the account afresh: the next lockout is short again.
    later = T0 + timedelta(hours=2)
    for i in range(5):
        _attempt(database, f"wrong-{i}-zzzz", at=later + timedelta(seconds=i))
    assert _attempt(database, PASSWORD, at=later + timedelta(minutes=16)) == "ok"


def test_failures_outside_the_window_do_not_add_up(world: World, database: Database):
    for i in range(4):
        assert _attempt(database, "wrong-wrong-1", at=T0 + timedelta(minutes=i)) == "wrong"
    assert _attempt(database, "wrong-wrong-1", at=T0 + timedelta(minutes=20)) == "wrong"
    assert _attempt(database, PASSWORD, at=T0 + timedelta(minutes=21)) == "ok"


def test_one_address_guessing_many_accounts_is_locked(world: World, database: Database):
    at = T0
    for i in range(20):
        at += timedelta(seconds=1)
        _attempt(database, "guess-guess-1", email=f"user{i}@test.example", at=at)
    assert _attempt(database, PASSWORD, at=at + timedelta(seconds=1)) == "locked"
    # The right password from another address still works: the account is not locked.
    assert _attempt(database, PASSWORD, at=at + timedelta(seconds=2), client="10.0.0.2") == "ok"
    # A success does not clear the address (one good account must not launder it).
    assert _attempt(database, PASSWORD, at=at + timedelta(seconds=3)) == "locked"


def test_concurrent_failures_are_all_counted(world: World, database: Database):
    """Several server threads failing at once: no lost update, no duplicate-key error."""
    results: list[str] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            results.append(_attempt(database, "wrong-wrong-2", at=T0))
        except BaseException as exc:  # collected: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == ["locked"] * 4 + ["wrong"] * 4  # the fifth failure locks
    assert _attempt(database, PASSWORD, at=T0 + timedelta(seconds=1)) == "locked"


class CountingHasher(PasswordHasher):
    """The real argon2 hasher, counting verifications."""

    calls = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        type(self).calls += 1
        return super().verify(hash, password)


def test_unknown_users_cost_an_argon2_verification_too(
    world: World, database: Database, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(secrets, "_hasher", CountingHasher())
    for email in (EMAIL, "nobody@test.example", "partner_user@test.example"):  # last: no password
        before = CountingHasher.calls
        with pytest.raises(Unauthenticated):
            log_in(database, email, "wrong-wrong-3", client="10.0.0.3", max_age_s=60, policy=LOOSE)
        assert CountingHasher.calls == before + 1, email


def test_unknown_and_known_users_take_the_same_time(world: World, database: Database):
    def seconds(email: str) -> float:
        started = time.perf_counter()
        with pytest.raises(Unauthenticated):
            log_in(database, email, "wrong-wrong-4", client="10.0.0.4", max_age_s=60, policy=LOOSE)
        return time.perf_counter() - started

    seconds("nobody@test.example")  # warm up (the dummy hash is made once)
    known = statistics.median(seconds(EMAIL) for _ in range(5))
    unknown = statistics.median(seconds("nobody@test.example") for _ in range(5))
    assert 0.5 < unknown / known < 2, (known, unknown)


def test_logins_failures_and_logouts_are_audited_with_actor_and_address(
    client: TestClient, world: World, database: Database
):
    assert _login(client, "wrong-wrong-5").status_code == 401
    assert _login(client, "wrong-wrong-5", "nobody@test.example").status_code == 401
    assert _login(client, PASSWORD).status_code == 200
    assert client.post("/api/v1/auth/logout").status_code == 200
    with database.session() as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.in_(["login_failed", "login", "logout"]))
            .order_by(AuditEntry.id)
        ).all()
    user_id = world.users["partner_admin"].id
    got = [(r.action, r.actor_id, r.actor, r.object_id, json.loads(r.changes)) for r in rows]
    assert got == [
        (
            "login_failed",
            None,
            "anonymous",
            str(user_id),
            {"client": "testclient", "email": EMAIL, "known_user": True},
        ),
        (
            "login_failed",
            None,
            "anonymous",
            "",
            {"client": "testclient", "email": "nobody@test.example", "known_user": False},
        ),
        ("login", user_id, EMAIL, str(user_id), {"client": "testclient"}),
        ("logout", user_id, EMAIL, str(user_id), {"client": "testclient"}),
    ]


def test_a_lockout_is_audited(client: TestClient, world: World, database: Database):
    for i in range(5):
        _login(client, f"guess-number-{i}")
    with database.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "lockout")).one()
    assert entry.object_type == "login_throttle"
    assert entry.object_id == f"account:{EMAIL}"
    assert json.loads(entry.changes)["client"] == "testclient"


def test_the_login_page_says_the_account_is_locked(client: TestClient, world: World):
    for i in range(5):
        client.post("/login", data={"email": EMAIL, "password": f"guess-number-{i}"})
    page = client.post("/login", data={"email": EMAIL, "password": PASSWORD})
    assert page.status_code == 429
    assert "Too many failed logins for this account; try again in 15 minutes." in page.text
    assert int(page.headers["Retry-After"]) > 0
    assert "rerate_session" not in page.cookies
