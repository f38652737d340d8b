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
