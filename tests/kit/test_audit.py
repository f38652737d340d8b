from __future__ import annotations

import json

from sqlalchemy import select

from rerate.kit.audit import Actor, audit_context, record
from rerate.kit.db import Database
from rerate.models import AuditEntry
from rerate.models.enums import NodeKind
from rerate.tenancy.service import create_node


def test_every_change_is_audited_with_actor_and_reason(database: Database):
    with audit_context(Actor(7, "ann@example.com"), "onboarding"), database.session() as s:
        platform = create_node(s, NodeKind.PLATFORM, name="P", parent=None)
        dist = create_node(s, NodeKind.DISTRIBUTOR, name="D", parent=platform)
    with audit_context(Actor(8, "bob@example.com"), "rename"), database.session() as s:
        node = s.get(type(dist), dist.id)
        assert node is not None
        node.name = "D2"
        record(s, "publish", "billing_runs", 42, version=3)
    with database.session() as s:
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    inserts = [e for e in entries if e.action == "insert"]
    assert {e.object_type for e in inserts} == {"nodes"}
    assert all(e.actor == "ann@example.com" and e.reason == "onboarding" for e in inserts)
    update = next(e for e in entries if e.action == "update" and "name" in json.loads(e.changes))
    assert json.loads(update.changes)["name"] == ["D", "D2"]
    assert update.actor_id == 8
    assert update.reason == "rename"
    publish = next(e for e in entries if e.action == "publish")
    assert publish.object_id == "42"
    assert json.loads(publish.changes) == {"version": 3}


def test_secrets_never_reach_the_audit_log(database: Database):
    """Key, password and session-token hashes are secrets: the log says that they
    were set or changed, never their value."""
    from rerate.auth import service as auth
    from rerate.auth.login import log_in
    from rerate.auth.secrets import hash_password
    from rerate.auth.throttle import ThrottlePolicy
    from rerate.models import ApiKey, User, WebSession

    with audit_context(Actor(1, "admin@example.com")), database.session() as s:
        user = auth.create_user(s, "eve@example.com", name="Eve", password="correct-horse-9")
        key, _secret = auth.create_api_key(s, user, name="ci")
        user_id, key_id = user.id, key.id
    log_in(
        database,
        "eve@example.com",
        "correct-horse-9",
        client="127.0.0.1",
        max_age_s=3600,
        policy=ThrottlePolicy(),
    )
    with audit_context(Actor(1, "admin@example.com")), database.session() as s:
        user = s.get(User, user_id)
        assert user is not None
        user.password_hash = hash_password("another-horse-9")
    with database.session() as s:
        user = s.get(User, user_id)
        key = s.get(ApiKey, key_id)
        sessions = list(s.scalars(select(WebSession)))
        assert user is not None
        assert key is not None
        assert user.password_hash
        assert sessions
        secrets = [user.password_hash, key.key_hash, *(w.token_hash for w in sessions)]
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    logged = "\n".join(e.changes for e in entries)
    for secret in secrets:
        assert secret not in logged
    assert "$argon2" not in logged
    key_insert = next(e for e in entries if e.object_type == "api_keys" and e.action == "insert")
    assert json.loads(key_insert.changes)["key_hash"] == "[redacted]"
    password_change = next(e for e in entries if e.object_type == "users" and e.action == "update")
    assert json.loads(password_change.changes)["password_hash"] == ["[redacted]", "[redacted]"]


def test_record_redacts_secret_names(database: Database):
    with database.session() as s:
        record(s, "rotate", "api_keys", 1, key_hash="abc123", note="rotated")
    with database.session() as s:
        entry = s.scalars(select(AuditEntry)).one()
    assert json.loads(entry.changes) == {"key_hash": "[redacted]", "note": "rotated"}
