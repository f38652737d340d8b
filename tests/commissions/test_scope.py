"""Who sees what: a partner its own commissions, a distributor its own and its
partners', the platform all. Every id in path, query and body is checked
before anything is read: outside the caller's scope answers 404."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from rerate.kit.db import Database
from tests.commissions.docs import build_example
from tests.world import World

API = "/api/v1/commissions"


def _routes(node_id: int, rule_id: int) -> list[str]:
    """Every read route, naming the node in its query or path."""
    return [
        f"{API}/rules?node_id={node_id}",
        f"{API}/summary?node_id={node_id}&from=2026-09&to=2026-10",
        f"{API}/charts/month?node_id={node_id}&from=2026-09&to=2026-10",
        f"{API}/charts/customer?node_id={node_id}&from=2026-10&to=2026-10",
        f"{API}/charts/service?node_id={node_id}&from=2026-10&to=2026-10",
        f"{API}/statements/{node_id}/2026-10",
        f"{API}/statements/{node_id}/2026-10/csv",
        f"{API}/statements/{node_id}/2026-10/pdf",
        f"{API}/rules/{rule_id}",
    ]


# (user, node, the rule of that node in the example) -> expected status
SEES = {
    "partner_admin": {"partner_a1": 200, "partner_a2": 404, "dist_a": 404, "partner_b1": 404},
    "distributor": {
        "partner_a1": 200,
        "partner_a2": 200,
        "dist_a": 200,
        "dist_b": 404,
        "partner_b1": 404,
    },
    "platform_admin": {"partner_a1": 200, "partner_a2": 200, "dist_a": 200, "partner_b1": 200},
    "platform_service": {"partner_b1": 200, "dist_b": 200},
}


@pytest.fixture
def example(database: Database, world: World, client: TestClient) -> dict[str, int]:
    ids = build_example(database, world)
    admin = world.headers("platform_admin")
    for node in ("partner_a2", "partner_b1", "dist_b"):
        r = client.post(
            f"{API}/rules",
            json={"node_id": world.nodes[node].id, "rate": "0.03", "valid_from": "2026-01-01"},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        ids[node] = r.json()["id"]
    ids["partner_a1"] = ids["a1_all"]
    ids["dist_a"] = ids["dist_all"]
    return ids


def test_scope_of_every_read_route(client: TestClient, world: World, example: dict[str, int]):
    for user, nodes in SEES.items():
        for node, expected in nodes.items():
            for url in _routes(world.nodes[node].id, example[node]):
                r = client.get(url, headers=world.headers(user))
                assert r.status_code == expected, (user, node, url, r.text)
                if expected == 404:
                    # Nothing of the node leaks, not even its name.
                    assert world.nodes[node].name not in r.text


@pytest.mark.parametrize("who", ["partner_user", "customer_user"])
def test_roles_without_commissions_are_refused(client: TestClient, world: World, example, who):
    for url in _routes(world.nodes["partner_a1"].id, example["partner_a1"]):
        assert client.get(url, headers=world.headers(who)).status_code == 403, url
    assert client.get(f"{API}/nodes", headers=world.headers(who)).status_code == 403


def test_lists_are_scoped(client: TestClient, world: World, example):
    def names(who: str) -> set[str]:
        r = client.get(f"{API}/nodes", headers=world.headers(who))
        return {n["name"] for n in r.json()["items"]}

    assert names("partner_admin") == {"Partner A1"}
    assert names("distributor") == {"Dist A", "Partner A1", "Partner A2"}
    assert names("platform_admin") == {"Dist A", "Dist B", "Partner A1", "Partner A2", "Partner B1"}
    rules = client.get(f"{API}/rules", headers=world.headers("partner_admin")).json()["items"]
    assert {r["node_id"] for r in rules} == {world.nodes["partner_a1"].id}
    rules = client.get(f"{API}/rules", headers=world.headers("distributor")).json()["items"]
    assert {r["node_id"] for r in rules} == {
        world.nodes[n].id for n in ("partner_a1", "partner_a2", "dist_a")
    }


def test_ids_in_the_body_are_checked(client: TestClient, world: World, example):
    body = {"rate": "0.05", "valid_from": "2030-01-01"}
    # A customer or the platform node earns no commission: not found, even for the platform.
    for node in ("cust_a1x", "platform"):
        r = client.post(
            f"{API}/rules",
            json={**body, "node_id": world.nodes[node].id},
            headers=world.headers("platform_admin"),
        )
        assert r.status_code == 404, r.text
    r = client.post(
        f"{API}/rules", json={**body, "node_id": 999_999}, headers=world.headers("platform_admin")
    )
    assert r.status_code == 404
    # Writers are platform roles only: a distributor is refused before any id is read.
    r = client.post(
        f"{API}/rules",
        json={**body, "node_id": world.nodes["partner_b1"].id},
        headers=world.headers("distributor"),
    )
    assert r.status_code == 403
    assert "Partner B1" not in r.text


def test_the_partner_sees_the_statement_the_distributor_sees_for_it(
    client: TestClient, world: World, example
):
    a1 = world.nodes["partner_a1"].id
    mine = client.get(f"{API}/statements/{a1}/2026-10", headers=world.headers("partner_admin"))
    theirs = client.get(f"{API}/statements/{a1}/2026-10", headers=world.headers("distributor"))
    assert mine.json() == theirs.json()
    assert mine.json()["totals"] == [{"currency": "EUR", "basis": "296.73", "commission": "20.34"}]
    chart = client.get(
        f"{API}/charts/month?node_id={a1}&from=2026-09&to=2026-10",
        headers=world.headers("distributor"),
    ).json()
    assert chart["series"] == [
        {
            "currency": "EUR",
            "points": [
                {"key": "2026-09", "label": "2026-09", "basis": "90.10", "commission": "4.51"},
                {"key": "2026-10", "label": "2026-10", "basis": "296.73", "commission": "20.34"},
            ],
        }
    ]


@pytest.mark.parametrize(
    "url",
    [
        f"{API}/summary?node_id=1&from=2026-13&to=2026-10",
        f"{API}/summary?node_id=1&from=2026-10&to=2026-09",
        f"{API}/summary?node_id=1&from=2020-01&to=2026-10",
        f"{API}/summary?from=2026-09&to=2026-10",
        f"{API}/statements/1/26-10",
        f"{API}/charts/region?node_id=1&from=2026-09&to=2026-10",
    ],
)
def test_bad_query_is_a_4xx(client: TestClient, world: World, url: str):
    url = url.replace("node_id=1", f"node_id={world.nodes['partner_a1'].id}")
    url = url.replace("statements/1/", f"statements/{world.nodes['partner_a1'].id}/")
    r = client.get(url, headers=world.headers("platform_admin"))
    assert r.status_code == 422, r.text
