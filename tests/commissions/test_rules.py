"""Commission rules: rate bounds, half-open effective dates, no overlap per
(node, service) in the service and in the database, who may write them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import DatabaseError

from rerate.commissions import service
from rerate.kit.db import Database
from rerate.kit.errors import Conflict, Forbidden, Invalid, NotFound
from rerate.models import CommissionRule
from tests.commissions.docs import principal
from tests.world import World

URL = "/api/v1/commissions/rules"


def _body(world: World, **kw: object) -> dict[str, object]:
    return {
        "node_id": world.nodes["partner_a1"].id,
        "rate": "0.05",
        "valid_from": "2026-01-01",
        **kw,
    }


def test_create_read_list_and_end_over_the_api(client: TestClient, world: World):
    admin = world.headers("platform_admin")
    r = client.post(
        URL,
        json=_body(world, service="Compute", valid_to="2027-01-01", reason="contract 7"),
        headers={**admin, "Idempotency-Key": "rule-1"},
    )
    assert r.status_code == 201, r.text
    rule = r.json()
    assert (rule["rate"], rule["service"], rule["valid_from"], rule["valid_to"]) == (
        "0.05",
        "Compute",
        "2026-01-01",
        "2027-01-01",
    )
    # The same key again answers the same rule, and creates nothing.
    again = client.post(
        URL,
        json=_body(world, service="Compute", valid_to="2027-01-01", reason="contract 7"),
        headers={**admin, "Idempotency-Key": "rule-1"},
    )
    assert again.status_code == 201
    assert again.json()["id"] == rule["id"]
    listed = client.get(URL, headers=world.headers("partner_admin")).json()
    assert [x["id"] for x in listed["items"]] == [rule["id"]]
    assert (
        client.get(f"{URL}/{rule['id']}", headers=world.headers("distributor")).status_code == 200
    )
    r = client.post(
        f"{URL}/{rule['id']}/end",
        json={"valid_to": "2026-07-01", "reason": "renegotiated"},
        headers=admin,
    )
    assert r.status_code == 200
    assert r.json()["valid_to"] == "2026-07-01"
    # The next rule may start the very day the first one ends (half-open).
    r = client.post(
        URL,
        json=_body(world, service="compute", valid_from="2026-07-01", rate="0.07"),
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert r.json()["service"] == "Compute"  # the existing spelling wins


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rate": "0"}, "rate"),
        ({"rate": "-0.01"}, "rate"),
        ({"rate": "1"}, "rate"),
        ({"rate": "1.5"}, "rate"),
        ({"rate": "0.1234567"}, "rate"),
        ({"rate": 0.05}, "rate"),  # a JSON float
        ({"rate": "abc"}, "rate"),
        ({"valid_to": "2026-01-01"}, "valid_to"),  # empty range
        ({"valid_to": "2025-12-31"}, "valid_to"),
        ({"valid_from": "2026-02-30"}, "valid_from"),
        ({"valid_from": "0001-01-01"}, "valid_from"),
        ({"service": "x" * 101}, "service"),
        ({"node_id": 0}, "node_id"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(client: TestClient, world: World, change, field):
    r = client.post(URL, json=_body(world, **change), headers=world.headers("platform_admin"))
    assert r.status_code == 422, r.text
    assert field in r.text


def test_overlap_is_refused_per_node_and_service(database: Database, world: World):
    admin = principal(database, world, "platform_admin")
    a1 = world.nodes["partner_a1"].id
    with database.session() as s:
        service.create_rule(
            s,
            admin,
            node_id=a1,
            rate=Decimal("0.05"),
            valid_from=date(2026, 1, 1),
            valid_to=date(2026, 7, 1),
        )
        # Another service, or the same range on another node: no overlap.
        service.create_rule(
            s,
            admin,
            node_id=a1,
            rate=Decimal("0.1"),
            service="Compute",
            valid_from=date(2026, 1, 1),
        )
        service.create_rule(
            s,
            admin,
            node_id=world.nodes["partner_a2"].id,
            rate=Decimal("0.1"),
            valid_from=date(2026, 1, 1),
        )
    for start, end in [
        (date(2025, 1, 1), date(2026, 1, 2)),  # ends inside
        (date(2026, 6, 30), None),  # starts inside, open-ended
        (date(2025, 1, 1), None),  # covers it
        (date(2026, 3, 1), date(2026, 4, 1)),  # inside
    ]:
        with pytest.raises(Conflict, match="overlaps rule #"), database.session() as s:
            service.create_rule(
                s, admin, node_id=a1, rate=Decimal("0.05"), valid_from=start, valid_to=end
            )
    with database.session() as s:  # touching ends do not overlap
        service.create_rule(s, admin, node_id=a1, rate=Decimal("0.06"), valid_from=date(2026, 7, 1))
        service.create_rule(
            s,
            admin,
            node_id=a1,
            rate=Decimal("0.04"),
            valid_from=date(2025, 1, 1),
            valid_to=date(2026, 1, 1),
        )
    with database.session() as s:
        first = (
            s.query(CommissionRule)
            .filter_by(node_id=a1, service="")
            .order_by(CommissionRule.valid_from)
            .first()
        )
        assert first is not None
        first_id = first.id
    with pytest.raises(Conflict, match="overlap"), database.session() as s:
        service.end_rule(s, admin, first_id, valid_to=date(2026, 2, 1))  # into the 2026 rule


def test_the_database_refuses_an_overlap_written_around_the_service(
    database: Database, world: World
):
    a1 = world.nodes["partner_a1"].id
    with database.session() as s:
        s.add(
            CommissionRule(
                node_id=a1, service="", rate=Decimal("0.05"), valid_from=date(2026, 1, 1)
            )
        )
    with pytest.raises(DatabaseError, match="must not overlap"), database.session() as s:
        s.add(
            CommissionRule(
                node_id=a1,
                service="",
                rate=Decimal("0.07"),
                valid_from=date(2026, 5, 1),
                valid_to=date(2026, 6, 1),
            )
        )
    with pytest.raises(DatabaseError), database.session() as s:  # the rate check
        s.add(
            CommissionRule(
                node_id=a1, service="Calls", rate=Decimal("1.5"), valid_from=date(2026, 1, 1)
            )
        )
    with database.session() as s:  # another service is fine
        s.add(
            CommissionRule(
                node_id=a1, service="Calls", rate=Decimal("0.07"), valid_from=date(2026, 5, 1)
            )
        )


def test_effective_dates_are_half_open():
    rules = [
        CommissionRule(
            id=1,
            node_id=1,
            service="",
            rate=Decimal("0.05"),
            valid_from=date(2026, 1, 1),
            valid_to=date(2026, 10, 2),
        ),
        CommissionRule(
            id=2, node_id=1, service="", rate=Decimal("0.06"), valid_from=date(2026, 10, 2)
        ),
        CommissionRule(
            id=3,
            node_id=1,
            service="Compute",
            rate=Decimal("0.1"),
            valid_from=date(2026, 10, 2),
            valid_to=date(2026, 11, 1),
        ),
    ]
    assert service.rule_for(rules, "Compute", date(2025, 12, 31)) is None
    assert service.rule_for(rules, "Compute", date(2026, 10, 1)).id == 1  # type: ignore[union-attr]
    assert service.rule_for(rules, "Compute", date(2026, 10, 2)).id == 3  # type: ignore[union-attr]
    assert service.rule_for(rules, "compute", date(2026, 10, 31)).id == 3  # type: ignore[union-attr]
    assert service.rule_for(rules, "Compute", date(2026, 11, 1)).id == 2  # type: ignore[union-attr]
    assert service.rule_for(rules, "Storage", date(2026, 10, 2)).id == 2  # type: ignore[union-attr]


@pytest.mark.parametrize("who", ["distributor", "partner_admin", "partner_user", "customer_user"])
def test_only_platform_roles_write_rules(client: TestClient, world: World, who: str):
    """A distributor reads its partners' rules but sets none (docs/commissions.md):
    the platform pays commissions, so only platform roles agree the rates."""
    r = client.post(URL, json=_body(world), headers=world.headers(who))
    assert r.status_code == 403, r.text
    ok = client.post(URL, json=_body(world), headers=world.headers("platform_service"))
    assert ok.status_code == 201, ok.text
    r = client.post(
        f"{URL}/{ok.json()['id']}/end", json={"valid_to": "2026-03-01"}, headers=world.headers(who)
    )
    assert r.status_code in (403, 404), r.text  # 404 for roles that cannot see it at all


def test_service_level_refusals(database: Database, world: World):
    admin = principal(database, world, "platform_admin")
    dist = principal(database, world, "distributor")
    with pytest.raises(NotFound), database.session() as s:  # a customer earns nothing
        service.create_rule(
            s,
            admin,
            node_id=world.nodes["cust_a1x"].id,
            rate=Decimal("0.05"),
            valid_from=date(2026, 1, 1),
        )
    with pytest.raises(NotFound), database.session() as s:  # the platform node neither
        service.create_rule(
            s,
            admin,
            node_id=world.nodes["platform"].id,
            rate=Decimal("0.05"),
            valid_from=date(2026, 1, 1),
        )
    with pytest.raises(Forbidden), database.session() as s:
        service.create_rule(
            s,
            dist,
            node_id=world.nodes["partner_a1"].id,
            rate=Decimal("0.05"),
            valid_from=date(2026, 1, 1),
        )
    with pytest.raises(NotFound), database.session() as s:  # Dist B's partner: not even seen
        service.create_rule(
            s,
            dist,
            node_id=world.nodes["partner_b1"].id,
            rate=Decimal("0.05"),
            valid_from=date(2026, 1, 1),
        )
    with pytest.raises(Invalid, match="service"), database.session() as s:
        service.create_rule(
            s,
            admin,
            node_id=world.nodes["partner_a1"].id,
            rate=Decimal("0.05"),
            valid_from=date(2026, 1, 1),
            service="bad\nname",
        )
