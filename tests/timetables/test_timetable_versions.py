"""Timetables edited as versions effective from an instant: the plan bands
each call with the version in force at its start, old versions stay readable,
and everything is scoped, validated and audited."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.billing.plan_builder import build_plan
from rerate.kit.db import Database
from rerate.kit.periods import Month
from rerate.models import AuditEntry, Contract
from rerate.models.tenancy import Node
from rerate.rating.engine import rate
from tests.billing.fixtures import add_voip_deck, build_billing
from tests.rating.helpers import usage_table
from tests.world import World

PARTNER = "partner_admin"
MID_AUGUST = "2026-08-16T00:00:00Z"


def _timetable(client: TestClient, world: World, **extra: object) -> dict:
    body = {
        "owner_node_id": world.nodes["partner_a1"].id,
        "name": "Business hours",
        "tz": "Europe/Paris",
        "default_band": "offpeak",
        "effective_from": "2026-01-01T00:00:00Z",
        "rules": [{"band": "peak", "weekdays": "01234", "start": "08:00", "end": "20:00"}],
        "reason": "new timetable",
        **extra,
    }
    r = client.post("/api/v1/timetables", json=body, headers=world.headers(PARTNER))
    assert r.status_code == 201, r.text
    return r.json()


def test_a_version_effective_mid_month_bands_calls_before_and_after_it_differently(
    client: TestClient, database: Database, data_dir: Path, world: World
) -> None:
    billing = build_billing(database, data_dir, world)
    contract_id = billing.contract_ids["cust_a1x"]
    # Peak calls cost 0.60/min, off-peak ones 0.10/min.
    deck_id, _v, _e = add_voip_deck(
        database, world, contract_id, bands={"peak": "0.60", "offpeak": "0.10"}
    )
    tt = _timetable(client, world)
    # From mid-August on, weekdays are off-peak all day (a new version, in the past).
    changed = client.post(
        f"/api/v1/timetables/{tt['id']}/rules/remove",
        json={"effective_from": MID_AUGUST, "position": 1, "reason": "summer hours"},
        headers=world.headers(PARTNER),
    )
    assert changed.status_code == 201, changed.text
    assert changed.json()["version"] == 2
    assert changed.json()["rules"] == []
    with database.session() as s:
        contract = s.get(Contract, contract_id)
        assert contract is not None
        contract.timetable_id = tt["id"]
    with database.session() as s:
        customer = s.get(Node, world.nodes["cust_a1x"].id)
        assert customer is not None
        plan, _ = build_plan(
            s, customer, datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)
        )
    account = billing.accounts["acc-x"]
    # Two Mondays at 10:00 Paris time, before and after the change.
    calls = [datetime(2026, 8, 3, 8, tzinfo=UTC), datetime(2026, 8, 17, 8, tzinfo=UTC)]
    usage = usage_table(
        [
            {
                "kind": "cdr",
                "account_id": account,
                "usage_start": start,
                "destination": "33123456",
                "billable_seconds": 120,
            }
            for start in calls
        ]
    )
    rows = rate(usage, plan, Month(2026, 8).in_zone("Europe/Paris")).rated.to_pylist()
    got = sorted((r["usage_start"], r["band"], r["list_amount"]) for r in rows)
    assert [(band, amount) for _, band, amount in got] == [
        ("peak", Decimal("1.2")),  # 2 min at 0.60, version 1
        ("offpeak", Decimal("0.2")),  # 2 min at 0.10, version 2
    ]
    assert deck_id


def test_old_versions_stay_readable_and_each_edit_is_a_new_audited_version(
    client: TestClient, database: Database, world: World
) -> None:
    tt = _timetable(client, world)
    admin = world.headers(PARTNER)
    r = client.post(
        f"/api/v1/timetables/{tt['id']}/holidays",
        json={
            "effective_from": "2026-05-01T00:00:00Z",
            "holiday": {"day": "2026-07-14", "band": "weekend", "name": "Fête nationale"},
            "reason": "July holiday",
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    # A version in between is based on the version in force at its instant (v1).
    r = client.post(
        f"/api/v1/timetables/{tt['id']}/default-band",
        json={"effective_from": "2026-03-01T00:00:00Z", "default_band": "night"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert r.json()["holidays"] == []
    shown = client.get(f"/api/v1/timetables/{tt['id']}", headers=admin).json()
    assert [(v["version"], v["default_band"], len(v["holidays"])) for v in shown["versions"]] == [
        (1, "offpeak", 0),
        (3, "night", 0),
        (2, "offpeak", 1),
    ]
    assert shown["versions"][0]["rules"][0]["band"] == "peak"
    # Same instant twice: 409 naming the version.
    again = client.post(
        f"/api/v1/timetables/{tt['id']}/default-band",
        json={"effective_from": "2026-03-01T00:00:00Z", "default_band": "x"},
        headers=admin,
    )
    assert again.status_code == 409
    assert "version 3" in again.json()["detail"]
    with database.session() as s:
        reasons = s.scalars(
            select(AuditEntry.reason).where(AuditEntry.object_type == "timetable_versions")
        ).all()
        actors = set(
            s.scalars(
                select(AuditEntry.actor).where(AuditEntry.object_type == "timetable_versions")
            )
        )
    assert "July holiday" in reasons
    assert "new timetable" in reasons
    assert actors == {"partner_admin@test.example"}


def test_timetables_are_scoped_validated_and_refused_whole(
    client: TestClient, database: Database, world: World
) -> None:
    tt = _timetable(client, world)
    outsider = {**world.headers(PARTNER)}
    # Another distributor's partner: 404 for both the owner and the timetable.
    r = client.post(
        "/api/v1/timetables",
        json={
            "owner_node_id": world.nodes["partner_b1"].id,
            "name": "x",
            "tz": "UTC",
            "default_band": "peak",
            "effective_from": "2026-01-01T00:00:00Z",
        },
        headers=outsider,
    )
    assert r.status_code == 404
    seen = client.get(f"/api/v1/timetables/{tt['id']}", headers=world.headers("distributor"))
    assert seen.status_code == 200
    hidden = client.get(f"/api/v1/timetables/{tt['id']}", headers=world.headers("customer_user"))
    assert hidden.status_code == 404
    r = client.post(
        f"/api/v1/timetables/{tt['id']}/default-band",
        json={"effective_from": "2026-03-01T00:00:00Z", "default_band": "night"},
        headers=world.headers("partner_user"),
    )
    assert r.status_code == 403
    # Bad zone, bad holiday twice: 422 naming the field, nothing stored.
    before = client.get("/api/v1/timetables", headers=outsider).json()["total"]
    bad = _post_raw(client, world, tz="Mars/Olympus")
    assert bad.status_code == 422
    assert "tz" in bad.json()["detail"]
    bad = _post_raw(
        client,
        world,
        holidays=[
            {"day": "2026-12-25", "band": "weekend"},
            {"day": "2026-12-25", "band": "weekend"},
        ],
    )
    assert bad.status_code == 422
    assert "holidays[2].day" in bad.json()["detail"]
    assert client.get("/api/v1/timetables", headers=outsider).json()["total"] == before
    found = client.get("/api/v1/timetables?q=business", headers=outsider).json()
    assert [t["name"] for t in found["items"]] == ["Business hours"]


def _post_raw(client: TestClient, world: World, **extra: object):  # type: ignore[no-untyped-def]
    body = {
        "owner_node_id": world.nodes["partner_a1"].id,
        "name": "Bad",
        "tz": "Europe/Paris",
        "default_band": "offpeak",
        "effective_from": "2026-01-01T00:00:00Z",
        **extra,
    }
    return client.post("/api/v1/timetables", json=body, headers=world.headers(PARTNER))
