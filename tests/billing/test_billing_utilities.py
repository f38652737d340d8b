"""Billing utilities end to end: submit over the API, run the worker, check the
published runs, cache, diff, cascade and invoices, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rerate.billing.tasks import handlers
from rerate.jobs.worker import Worker
from rerate.kit.db import Database
from rerate.kit.periods import Month
from rerate.models import (
    BillingCacheRow,
    BillingRun,
    Invoice,
    Node,
    PriceBookVersion,
    PriceEntry,
)
from rerate.pricebooks.service import mark_published
from tests.billing.fixtures import Billing, build_billing
from tests.world import World

PARTNER = "partner_admin"


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


def drain(database: Database, data_dir: Path) -> int:
    worker = Worker(database, handlers=handlers(data_dir), lease_s=30, expand=None)
    ran = 0
    while worker.run_once():
        ran += 1
    return ran


def submit(
    client: TestClient,
    world: World,
    kind: str,
    customer: str,
    periods: list[str],
    reason: str = "incorrect_charges",
    **extra: object,
):
    body = {"customer_id": world.nodes[customer].id, "periods": periods, "reason": reason, **extra}
    return client.post(
        f"/api/v1/billing-utilities/{kind}", json=body, headers=world.headers(PARTNER)
    )


def job(client: TestClient, world: World, job_id: int) -> dict:
    return client.get(f"/api/v1/jobs/{job_id}", headers=world.headers(PARTNER)).json()


def test_eligible_customers_and_periods(client: TestClient, billing: Billing):
    w = billing.world
    names = [
        c["name"]
        for c in client.get(
            "/api/v1/billing-utilities/customers", headers=w.headers(PARTNER)
        ).json()["items"]
    ]
    assert names == ["Cust A1x", "Cust A1y"]  # A1's customers with an active contract only
    periods = client.get(
        f"/api/v1/billing-utilities/customers/{w.nodes['cust_a1x'].id}/periods",
        headers=w.headers(PARTNER),
    ).json()["items"]
    current = Month.of(datetime.now(UTC).date())
    assert str(current) not in periods
    assert {"2026-08", "2026-09"} <= set(periods)
    assert periods == sorted(periods, reverse=True)


def test_recalculation_publishes_a_run_and_fills_the_cache(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    r = submit(client, w, "recalculations", "cust_a1x", ["2026-09"])
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["request_id"]
    assert body["jobs"][0]["status"] == "queued"
    assert body["jobs"][0]["type_label"] == "Recalc."
    assert drain(database, data_dir) == 1
    done = job(client, w, body["jobs"][0]["id"])
    assert done["status"] == "complete", done["error"]
    result = done["result"]
    # September 2026 in Europe/Paris is [2026-08-31 22:00, 2026-09-30 22:00) UTC: the daily
    # rows starting at 00:00 UTC on 1..30 Sept fall inside (the 31 Aug row starts before it).
    # Both accounts belong to A1x all month. Per account per day: vm.small 24 h x 0.05 = 1.20,
    # less the 10 % Compute discount = 1.08; disk 100 x 0.0033333333 = 0.33333333; together
    # 1.41333333 x 2 accounts x 30 days = 84.7999998, rounded at the boundary to 84.80.
    assert Decimal(result["total_after"]) == Decimal("84.80")
    assert result["published"] is True
    assert result["new_version"] is True
    with database.session() as s:
        run = s.scalar(select(BillingRun).where(BillingRun.period == "2026-09"))
        assert run is not None
        assert run.status == "published"
        cache = list(s.scalars(select(BillingCacheRow).where(BillingCacheRow.period == "2026-09")))
    assert {c.account_id for c in cache} == set(billing.accounts.values())
    assert sum((c.net_amount for c in cache), Decimal(0)) == Decimal("84.7999998000")


def test_open_period_other_without_explanation_and_conflicts(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    # August has an invoice to refresh (a refresh never makes a first one).
    assert submit(client, w, "recalculations", "cust_a1x", ["2026-08"]).status_code == 202
    drain(database, data_dir)
    r = client.post(
        "/api/v1/invoices/generate",
        json={"customer_id": w.nodes["cust_a1x"].id, "period": "2026-08"},
        headers=w.headers("platform_admin"),
    )
    assert r.status_code == 201, r.text
    current = str(Month.of(datetime.now(UTC).date()))
    r = submit(client, w, "recalculations", "cust_a1x", [current])
    assert r.status_code == 422
    assert "current, open billing period" in r.json()["detail"]
    r = submit(client, w, "invoice-refreshes", "cust_a1x", ["2026-08"], reason="other")
    assert r.status_code == 422
    assert "explanation" in r.json()["detail"]
    assert (
        submit(client, w, "recalculations", "cust_a1x", ["2026-08"], reason="other").status_code
        == 202
    )
    r = submit(
        client,
        w,
        "invoice-refreshes",
        "cust_a1x",
        ["2026-08"],
        reason="other",
        explanation="customer asked",
    )
    assert r.status_code == 409
    assert "already queued" in r.json()["detail"]


def test_cascade_recalculates_the_other_owner(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    r = submit(client, w, "recalculations", "cust_a1x", ["2026-08"])
    jobs = r.json()["jobs"]
    assert [j["customer_name"] for j in jobs] == ["Cust A1x", "Cust A1y"]
    assert jobs[1]["parent_id"] == jobs[0]["id"]
    assert drain(database, data_dir) == 2
    parent = job(client, w, jobs[0]["id"])
    assert parent["children"] == [jobs[1]["id"]]
    child = job(client, w, jobs[1]["id"])
    assert child["status"] == "complete", child["error"]
    # The mover's August usage is split at 2026-08-15 12:00 UTC: the daily row of the 15th
    # starts at 00:00 UTC, when A1y still owned it, so A1y bills 1..15 Aug (15 days).
    assert child["result"]["rows_rerated"] > 0


def test_price_change_creates_a_new_version_and_a_diff(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    submit(client, w, "recalculations", "cust_a1x", ["2026-09"])
    drain(database, data_dir)
    # Nothing changed: no new version.
    r = submit(client, w, "recalculations", "cust_a1x", ["2026-09"])
    drain(database, data_dir)
    same = job(client, w, r.json()["jobs"][0]["id"])
    assert same["status"] == "complete", same["error"]
    assert same["result"]["new_version"] is False
    # A new price book version from 1 Sept (Paris) doubles the disk price.
    with database.session() as s:
        v2 = PriceBookVersion(
            price_book_id=billing.price_book_id,
            version=2,
            effective_from=datetime(2026, 8, 31, 22, tzinfo=UTC),
        )
        s.add(v2)
        s.flush()
        s.add_all(
            [
                PriceEntry(
                    version_id=v2.id,
                    sku="vm.small",
                    service="Compute",
                    unit="h",
                    unit_price=Decimal("0.05"),
                ),
                PriceEntry(
                    version_id=v2.id,
                    sku="disk.gb",
                    service="Storage",
                    unit="GB-day",
                    unit_price=Decimal("0.0066666666"),
                ),
            ]
        )
        s.flush()
        mark_published(s, v2, by=None)
    r = submit(client, w, "recalculations", "cust_a1x", ["2026-09"], reason="price_book_update")
    drain(database, data_dir)
    changed = job(client, w, r.json()["jobs"][0]["id"])
    assert changed["status"] == "complete", changed["error"]
    result = changed["result"]
    assert result["new_version"] is True
    assert result["run_version"] == 2
    # disk: 100 GB x 0.0066666666 = 0.66666666/day x 2 accounts x 30 days = 39.9999996;
    # vm.small unchanged 64.80; total 104.7999996 -> 104.80; before 84.80; delta 20.00.
    assert Decimal(result["total_before"]) == Decimal("84.80")
    assert Decimal(result["total_after"]) == Decimal("104.80")
    assert Decimal(result["delta"]) == Decimal("20.00")
    diff = client.get(f"/api/v1/jobs/{changed['id']}/diff.csv", headers=w.headers(PARTNER))
    assert diff.status_code == 200
    rows = list(csv.DictReader(io.StringIO(diff.text)))
    disk = [r for r in rows if r["item"] == "disk.gb"]
    assert len(disk) == 2
    assert all(Decimal(r["new_amount"]) == 2 * Decimal(r["old_amount"]) for r in disk)
    # The TOTAL row adds up to the job's delta: a "usage rounded" row carries
    # the rounding of each run's usage sum to the minor unit.
    assert Decimal(rows[-1]["delta_amount"]) == Decimal("20.00")
    with database.session() as s:
        statuses = sorted(
            s.scalars(select(BillingRun.status).where(BillingRun.period == "2026-09"))
        )
    assert statuses == ["published", "superseded"]  # the previous run is kept


def test_dry_run_does_not_publish(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    r = submit(client, w, "recalculations", "cust_a1x", ["2026-09"], dry_run=True)
    drain(database, data_dir)
    done = job(client, w, r.json()["jobs"][0]["id"])
    assert done["status"] == "complete", done["error"]
    assert done["result"]["published"] is False
    with database.session() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(BillingRun).where(BillingRun.status == "published")
            )
            == 0
        )
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get(f"/api/v1/jobs/{done['id']}/diff.csv", headers=w.headers(PARTNER)).text
            )
        )
    )
    assert rows[-1]["account_id"] == "TOTAL"
    assert Decimal(rows[-1]["new_amount"]) == Decimal("84.80")  # the run's total


def test_refresh_cancels_issued_invoice_and_links_the_new_one(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    cust = w.nodes["cust_a1x"].id
    submit(client, w, "recalculations", "cust_a1x", ["2026-09"])
    drain(database, data_dir)
    admin = w.headers("platform_admin")
    inv = client.post(
        "/api/v1/invoices/generate", json={"customer_id": cust, "period": "2026-09"}, headers=admin
    )
    assert inv.status_code == 201, inv.text
    first = inv.json()
    # 84.80 usage + 20 % tax 16.96 = 101.76; lines add up to the total
    assert first["status"] == "ready"
    assert first["total"] == "101.76"
    assert sum(Decimal(x["amount"]) for x in first["lines"]) == Decimal(first["total"])
    issued = client.post(f"/api/v1/invoices/{first['id']}/issue", headers=admin).json()
    assert issued["status"] == "issued"
    assert issued["number"].endswith("000001")
    # A refresh with nothing changed keeps the invoice (test_no_empty_invoice);
    # here the customer's tax rate changed, so the refreshed invoice differs.
    with database.session() as s:
        node = s.get(Node, cust)
        assert node is not None
        node.tax_rate = Decimal("0.10")
    r = submit(
        client,
        w,
        "invoice-refreshes",
        "cust_a1x",
        ["2026-09"],
        reason="other",
        explanation="resend",
    )
    assert r.status_code == 202, r.text
    drain(database, data_dir)
    listed = client.get(
        f"/api/v1/invoices?customer_id={cust}&period=2026-09", headers=w.headers(PARTNER)
    ).json()["items"]
    by_status = {i["status"]: i for i in listed}
    assert set(by_status) == {"cancelled", "ready"}
    assert by_status["cancelled"]["replaced_by"] == by_status["ready"]["id"]
    assert by_status["ready"]["replaces"] == by_status["cancelled"]["id"]
    assert by_status["cancelled"]["number"] == issued["number"]  # unchanged
    pdf = client.get(f"/api/v1/invoices/{by_status['ready']['id']}/pdf", headers=admin)
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Invoice)) == 2


def test_customer_user_cannot_submit(client: TestClient, billing: Billing):
    w = billing.world
    body = {"customer_id": w.nodes["cust_a1x"].id, "periods": ["2026-08"], "reason": "other"}
    r = client.post(
        "/api/v1/billing-utilities/recalculations", json=body, headers=w.headers("customer_user")
    )
    assert r.status_code == 403
    r = client.post(
        "/api/v1/billing-utilities/recalculations",
        json={**body, "customer_id": w.nodes["cust_b1x"].id},
        headers=w.headers(PARTNER),
    )
    assert r.status_code == 404


def test_schedule_for_later_and_cron(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    w = billing.world
    cust = w.nodes["cust_a1x"].id
    later = "2099-01-01T02:00:00+00:00"
    r = submit(client, w, "recalculations", "cust_a1x", ["2026-08"], run_at=later)
    assert r.status_code == 202, r.text
    assert r.json()["jobs"][0]["run_after"].startswith("2099-01-01T02:00")
    assert drain(database, data_dir) == 0  # not due yet: it waits in the queue
    body = {
        "name": "nightly",
        "type": "recalculation",
        "customer_id": cust,
        "cron": "0 2 * * *",
        "reason": "other",
    }
    r = client.post("/api/v1/schedules", json=body, headers=w.headers(PARTNER))
    assert r.status_code == 201, r.text
    assert r.json()["next_run_at"] is not None
    bad = client.post(
        "/api/v1/schedules", json={**body, "cron": "61 * * * *"}, headers=w.headers(PARTNER)
    )
    assert bad.status_code == 422
    everyone = client.post(
        "/api/v1/schedules", json={**body, "customer_id": None}, headers=w.headers(PARTNER)
    )
    assert everyone.status_code == 403
    listed = client.get("/api/v1/schedules", headers=w.headers(PARTNER)).json()
    assert [s["name"] for s in listed["items"]] == ["nightly"]
    off = client.delete(f"/api/v1/schedules/{listed['items'][0]['id']}", headers=w.headers(PARTNER))
    assert off.json()["enabled"] is False


def test_cascade_into_another_tenant_runs_under_the_system_actor_unnamed(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    """Issue 11: after an account moved to another distributor's customer, the
    reseller's recalculation of its own customer answered 404 and queued nothing."""
    from rerate.accounts.service import move_account
    from rerate.models import Account, Contract, Job, Node

    w = billing.world
    b1x = w.nodes["cust_b1x"]
    with database.session() as s:
        s.add(
            Contract(
                customer_id=b1x.id,
                seller_id=w.nodes["partner_b1"].id,
                currency="EUR",
                billing_tz="Europe/Paris",
                coverage_start=datetime(2026, 1, 1).date(),
                active=True,
                cloud_price_book_id=billing.price_book_id,
            )
        )
        acc_x = s.get(Account, billing.accounts["acc-x"])
        move_account(
            s, acc_x, customer=s.get(Node, b1x.id), valid_from=datetime(2026, 8, 20, tzinfo=UTC)
        )
    r = submit(client, w, "recalculations", "cust_a1x", ["2026-08"])
    assert r.status_code == 202, r.text
    body = r.json()
    assert [j["customer_name"] for j in body["jobs"]] == ["Cust A1x", "Cust A1y"]
    assert body["cascades_outside_scope"] == 1
    assert body["notice"] == "1 cascade job outside your scope"
    assert "B1x" not in r.text
    assert b1x.id not in {j["customer_id"] for j in body["jobs"]}
    with database.session() as s:
        other = s.scalars(select(Job).where(Job.customer_id == b1x.id)).one()
        assert other.actor_id is None
        assert other.actor_label == "system"
        assert other.parent_id == body["jobs"][0]["id"]
    # The submitter's log does not show the other tenant's job; the platform's does.
    mine = client.get("/api/v1/jobs", headers=w.headers(PARTNER)).json()
    assert b1x.id not in {j["customer_id"] for j in mine["items"]}
    assert drain(database, data_dir) == 3
    with database.session() as s:
        assert {j.status for j in s.scalars(select(Job))} == {"complete"}
