"""The seed's billing routes: generate/{yyyy-MM}, yearmonth/{yyyy-MM},
generate/range, range -- permissions, scope, half-open days, validation."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from rerate.kit.db import Database
from rerate.models import Job
from tests.billing.fixtures import Billing
from tests.billing.test_billing_utilities import drain
from tests.world import World

RANGE = "/api/v1/billing/range"
MONTH = "/api/v1/billing/yearmonth"
GENERATE = "/api/v1/billing/generate"


def _get(client: TestClient, world: World, who: str, url: str, **params: Any) -> dict:
    r = client.get(url, params=params, headers=world.headers(who))
    assert r.status_code == 200, r.text
    return r.json()


def _generate_august(client: TestClient, billing: Billing, database: Database, data_dir: Path):
    w = billing.world
    body = _get(client, w, "partner_admin", f"{GENERATE}/2026-08")
    assert body["months"] == ["2026-08"]
    assert body["period_start"] == "2026-08-01"
    assert body["period_end"] == "2026-09-01"
    assert sorted((j["customer_id"], j["period"], j["status"]) for j in body["jobs"]) == sorted(
        (w.nodes[c].id, "2026-08", "queued") for c in ("cust_a1x", "cust_a1y")
    )
    assert body["job_ids"] == [j["job_id"] for j in body["jobs"]]
    # Idempotent while the jobs wait: the same jobs are answered, none is added.
    again = _get(client, w, "partner_admin", f"{GENERATE}/2026-08")
    assert again["job_ids"] == body["job_ids"]
    assert {j["status"] for j in again["jobs"]} == {"active"}
    with database.session() as s:
        assert len(s.scalars(select(Job)).all()) == 2
    assert drain(database, data_dir) == 2
    return body


def test_generate_a_month_then_read_it(
    client: TestClient, database: Database, data_dir: Path, billing: Billing
):
    w = billing.world
    _generate_august(client, billing, database, data_dir)
    month = _get(client, w, "partner_admin", f"{MONTH}/2026-08")
    assert month["start"] == "2026-08-01"
    assert month["end"] == "2026-09-01"
    assert month["total"] == 31 * 2 + 16 * 2 + 15 * 2  # acc-x; acc-mover with each owner
    assert len(month["items"]) == 100  # the default page
    assert {i["day"][:7] for i in month["items"]} == {"2026-08"}
    eur = month["totals"][0]
    assert eur["currency"] == "EUR"
    assert eur["lines"] == month["total"]
    assert Decimal(eur["net_amount"]) > 0
    assert month["unreadable_runs"] == []
    # The same rows through the range route; September was never generated.
    same = _get(client, w, "partner_admin", RANGE, start="2026-08-01", end="2026-10-01")
    assert same["total"] == month["total"]
    assert same["totals"] == month["totals"]
    monthly = _get(client, w, "partner_admin", f"{MONTH}/2026-08", monthly="true")
    assert monthly["monthly"] is True
    assert monthly["total"] == 6
    assert sum(Decimal(i["net_amount"]) for i in monthly["items"]) == Decimal(eur["net_amount"])
    # A month generated again after its jobs ran: new jobs, no new run version.
    again = _get(client, w, "partner_admin", f"{GENERATE}/2026-08")
    assert {j["status"] for j in again["jobs"]} == {"queued"}
    drain(database, data_dir)
    for job_id in again["job_ids"]:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=w.headers("partner_admin")).json()
        assert job["status"] == "complete"
        assert job["result"]["new_version"] is False
    assert _get(client, w, "partner_admin", f"{MONTH}/2026-08")["totals"] == month["totals"]


def test_half_open_range_excludes_the_end_day(
    client: TestClient, database: Database, data_dir: Path, billing: Billing
):
    w = billing.world
    _generate_august(client, billing, database, data_dir)
    body = _get(client, w, "partner_admin", RANGE, start="2026-08-14", end="2026-08-16")
    assert {i["day"] for i in body["items"]} == {"2026-08-14", "2026-08-15"}
    last = _get(client, w, "partner_admin", RANGE, start="2026-08-31", end="2026-09-01")
    assert {i["day"] for i in last["items"]} == {"2026-08-31"}
    assert (
        _get(client, w, "partner_admin", RANGE, start="2026-09-01", end="2026-09-02")["total"] == 0
    )


def test_scope_partner_customer_and_not_found(
    client: TestClient, database: Database, data_dir: Path, billing: Billing
):
    w = billing.world
    n = w.nodes
    _generate_august(client, billing, database, data_dir)
    aug = {"start": "2026-08-01", "end": "2026-09-01", "limit": 1000}
    partner = _get(client, w, "partner_admin", RANGE, **aug)
    assert {i["customer"]["id"] for i in partner["items"]} == {n["cust_a1x"].id, n["cust_a1y"].id}
    mine = _get(client, w, "customer_user", RANGE, **aug)
    assert {i["customer"]["id"] for i in mine["items"]} == {n["cust_a1x"].id}
    assert mine["total"] == 31 * 2 + 16 * 2
    # Another customer's id, a partner's id, an unknown id: 404, never an empty page.
    for who, customer in (
        ("customer_user", n["cust_a1y"].id),
        ("partner_admin", n["cust_b1x"].id),
        ("partner_admin", n["partner_a1"].id),
        ("partner_admin", 999_999),
    ):
        r = client.get(RANGE, params={**aug, "customer_id": customer}, headers=w.headers(who))
        assert r.status_code == 404, (who, customer, r.text)
        r = client.get(f"{MONTH}/2026-08", params={"customer_id": customer}, headers=w.headers(who))
        assert r.status_code == 404
    r = client.get(RANGE, params={**aug, "account_id": 999_999}, headers=w.headers("partner_admin"))
    assert r.status_code == 404
    one = _get(
        client, w, "partner_admin", RANGE, **aug, customer_id=n["cust_a1y"].id, sku="vm.small"
    )
    assert one["total"] == 15
    assert {(i["customer"]["name"], i["sku"]) for i in one["items"]} == {("Cust A1y", "vm.small")}
    two = client.get(
        RANGE,
        params=[*aug.items(), ("customer_id", n["cust_a1y"].id), ("customer_id", n["cust_a1x"].id)],
        headers=w.headers("partner_admin"),
    ).json()
    assert two["total"] == partner["total"]
    assert client.get(RANGE, params=aug).status_code == 401


def test_generation_permissions(
    client: TestClient, database: Database, data_dir: Path, billing: Billing
):
    w = billing.world
    # Read-only roles may read but not generate.
    for who in ("customer_user", "partner_user", "distributor"):
        r = client.get(f"{GENERATE}/2026-08", headers=w.headers(who))
        assert r.status_code == 403, who
        assert "recalculate" in r.json()["detail"]
    # Range generation is for platform roles only.
    for who in ("partner_admin", "distributor", "customer_user"):
        r = client.post(
            f"{GENERATE}/range",
            params={"start": "2026-08-01", "end": "2026-09-01"},
            headers=w.headers(who),
        )
        assert r.status_code == 403, who
        assert "generate_billing" in r.json()["detail"]
    with database.session() as s:
        assert s.scalars(select(Job)).all() == []


def test_get_generate_is_refused_to_a_browser_session(client: TestClient, billing: Billing):
    r = client.post(
        "/api/v1/auth/login",
        json={"email": "partner_admin@test.example", "password": "correct-horse"},
    )
    assert r.status_code == 200, r.text
    r = client.get(f"{GENERATE}/2026-08")
    assert r.status_code == 403
    assert "API key" in r.json()["detail"]
    # Reading with the session is fine.
    assert client.get(f"{MONTH}/2026-08").status_code == 200


def test_platform_generates_a_range_idempotently(
    client: TestClient, database: Database, data_dir: Path, billing: Billing
):
    w = billing.world
    headers = {**w.headers("platform_admin"), "Idempotency-Key": "gen-aug-sep"}
    params = {"start": "2026-08-20", "end": "2026-09-05"}
    r = client.post(f"{GENERATE}/range", params=params, headers=headers)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["months"] == ["2026-08", "2026-09"]  # every month the range touches, whole
    assert sorted((j["customer_id"], j["period"]) for j in body["jobs"]) == sorted(
        (w.nodes[c].id, p) for c in ("cust_a1x", "cust_a1y") for p in ("2026-08", "2026-09")
    )
    # The same key replays the first answer; no job is queued twice.
    replay = client.post(f"{GENERATE}/range", params=params, headers=headers)
    assert replay.status_code == 202
    assert replay.json() == body
    without_key = client.post(
        f"{GENERATE}/range", params=params, headers=w.headers("platform_admin")
    )
    assert without_key.json()["job_ids"] == body["job_ids"]
    assert drain(database, data_dir) == 4
    read = _get(client, w, "platform_admin", RANGE, start="2026-08-20", end="2026-09-05")
    assert {i["day"] for i in read["items"]} >= {"2026-08-20", "2026-09-04"}
    assert all("2026-08-20" <= i["day"] < "2026-09-05" for i in read["items"])


def test_open_and_future_months(client: TestClient, billing: Billing):
    w = billing.world
    # The current month is open: every customer is refused, with the reason.
    r = client.post(
        f"{GENERATE}/range",
        params={"start": "2026-11-20", "end": "2026-12-02"},
        headers=w.headers("platform_admin"),
    )
    body = r.json()
    assert r.status_code == 202, r.text
    refused = {(x["period"], x["customer_id"]) for x in body["refused"]}
    assert {p for p, _ in refused} == {"2026-12"}
    assert {p for p in (j["period"] for j in body["jobs"])} == {"2026-11"}
    assert "current, open billing period" in body["refused"][0]["reason"]
    r = client.get(f"{GENERATE}/2099-01", headers=w.headers("partner_admin"))
    assert r.status_code == 422
    assert "has not begun" in r.json()["detail"]
    r = client.get(f"{GENERATE}/1999-12", headers=w.headers("partner_admin"))
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ({"end": "2026-09-01"}, "start", None),
        ({"start": "2026-08-01"}, "end", None),
        ({"start": "2026-08-32", "end": "2026-09-01"}, "start", None),
        ({"start": "01/08/2026", "end": "2026-09-01"}, "start", None),
        ({"start": "2026-09-01", "end": "2026-09-01"}, "end", "must be after start"),
        ({"start": "2026-09-02", "end": "2026-09-01"}, "end", "must be after start"),
        ({"start": "2025-01-01", "end": "2026-01-03"}, "end", "at most 366"),
        ({"start": "2026-08-01", "end": "2026-09-01", "limit": 0}, "limit", None),
        ({"start": "2026-08-01", "end": "2026-09-01", "limit": 1001}, "limit", None),
        ({"start": "2026-08-01", "end": "2026-09-01", "sort": "bogus"}, "sort", "sort:"),
        ({"start": "2026-08-01", "end": "2026-09-01", "customer_id": "x"}, "customer_id", None),
    ],
)
def test_range_validation_names_the_parameter(
    client: TestClient, world: World, params: dict, field: str, text: str | None
):
    r = client.get(RANGE, params=params, headers=world.headers("partner_admin"))
    assert r.status_code == 422, r.text
    body = r.json()
    if text is None:
        assert any(field in e["loc"] for e in body["errors"]), body
    else:
        assert text in body["detail"]
        assert field in body["detail"]
    if field in ("start", "end"):
        g = client.post(f"{GENERATE}/range", params=params, headers=world.headers("platform_admin"))
        assert g.status_code == 422, g.text


def test_month_paths_are_validated(client: TestClient, world: World):
    for bad in ("2026-13", "2026-8", "202608", "x"):
        for url in (f"{MONTH}/{bad}", f"{GENERATE}/{bad}"):
            r = client.get(url, headers=world.headers("partner_admin"))
            assert r.status_code == 422, (url, r.text)
            assert any("period" in e["loc"] for e in r.json()["errors"])
