"""Backfill with reconciliation over the API, on SQLite and PostgreSQL: a dry run
publishes nothing and reconciles exactly after a price change; publishing (at once,
or later from the reviewed dry run) goes through the normal publish path; only
platform roles may backfill, and only customers in their scope."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from rerate.billing.backfill import months_in
from rerate.invoicing.generate import generate_for
from rerate.kit.db import Database
from rerate.kit.errors import Invalid
from rerate.kit.periods import Month
from rerate.models import (
    AuditEntry,
    BillingCacheRow,
    BillingRun,
    CurrentRun,
    Invoice,
    Node,
    PriceBookVersion,
    PriceEntry,
)
from rerate.models.enums import NodeKind
from rerate.pricebooks.service import mark_published
from rerate.tenancy.service import create_node
from tests.billing.fixtures import Billing
from tests.billing.test_billing_utilities import drain, submit
from tests.world import World

ADMIN = "platform_admin"
RANGE = {"start": "2026-08-01", "end": "2026-10-01"}


def prices(database: Database, billing: Billing, version: int, disk: str) -> None:
    """A new price-book version from September (Paris): disk at `disk` per GB-day."""
    with database.session() as s:
        v = PriceBookVersion(
            price_book_id=billing.price_book_id,
            version=version,
            effective_from=datetime(2026, 8, 31, 22, tzinfo=UTC),
        )
        s.add(v)
        s.flush()
        s.add_all(
            [
                PriceEntry(
                    version_id=v.id,
                    sku="vm.small",
                    service="Compute",
                    unit="h",
                    unit_price=Decimal("0.05"),
                ),
                PriceEntry(
                    version_id=v.id,
                    sku="disk.gb",
                    service="Storage",
                    unit="GB-day",
                    unit_price=Decimal(disk),
                ),
            ]
        )
        s.flush()
        mark_published(s, v, by=None)


@pytest.fixture
def published(client: TestClient, billing: Billing, database: Database, data_dir: Path) -> Billing:
    """A1x's August and September published and September invoiced; then the disk
    price doubles from September."""
    w = billing.world
    r = submit(client, w, "recalculations", "cust_a1x", ["2026-08", "2026-09"])
    assert r.status_code == 202, r.text
    drain(database, data_dir)
    with database.session() as s:
        generate_for(s, s.get(Node, w.nodes["cust_a1x"].id), "2026-09")
    prices(database, billing, 2, "0.0066666666")
    return billing


def snapshot(database: Database) -> dict[str, object]:
    with database.session() as s:
        return {
            "current": sorted(
                (c.customer_id, c.period, c.run_id) for c in s.scalars(select(CurrentRun))
            ),
            "invoices": sorted((i.id, i.status, i.total) for i in s.scalars(select(Invoice))),
            "cache": sorted(
                (c.customer_id, c.period, c.account_id, c.run_id, c.net_amount)
                for c in s.scalars(select(BillingCacheRow))
            ),
        }


def backfill(client: TestClient, w: World, who: str = ADMIN, **body: object):
    return client.post("/api/v1/billing/backfill", json={**RANGE, **body}, headers=w.headers(who))


def ids(w: World, *names: str) -> list[int]:
    return [w.nodes[n].id for n in names]


def by_key(items: list[dict]) -> dict[tuple[str, str], dict]:
    return {(i["customer"], i["period"]): i for i in items}


def test_dry_run_publishes_nothing_and_reconciles_exactly(
    client: TestClient, published: Billing, database: Database, data_dir: Path
):
    w = published.world
    before = snapshot(database)
    r = backfill(client, w, customer_ids=ids(w, "cust_a1x", "cust_a1y"))
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["periods"] == 4
    assert body["skipped"] == 0
    assert body["job"]["type"] == "backfill"
    assert body["job"]["dry_run"] is True
    job_id = body["job"]["id"]
    assert drain(database, data_dir) == 1
    assert snapshot(database) == before  # current runs, invoices and cache untouched

    got = client.get(f"/api/v1/billing/backfill/{job_id}", headers=w.headers(ADMIN)).json()
    assert got["job"]["status"] == "complete", got["job"]["error"]
    items = by_key(got["items"])
    # September, A1x, per account per day: vm 24 h x 0.05 less 10 % = 1.08, disk 100 GB-day
    # at 0.0033333333 = 0.33333333 before (84.80 published: 1.41333333 x 2 x 30) and at
    # 0.0066666666 = 0.66666666 now: 1.74666666 x 2 accounts x 30 days = 104.7999996 -> 104.80.
    sep = items[("Cust A1x", "2026-09")]
    assert (sep["previous_total"], sep["backfilled_total"], sep["difference"]) == (
        "84.80",
        "104.80",
        "20.00",
    )
    assert sep["status"] == "computed"
    assert sep["currency"] == "EUR"
    assert sep["published"] is False
    # August is priced by version 1 still: the same total, nothing new recorded.
    aug = items[("Cust A1x", "2026-08")]
    assert aug["difference"] == "0.00"
    assert aug["status"] == "unchanged"
    assert aug["previous_total"] == aug["backfilled_total"]
    # A1y's August was published by the cascade of A1x's recalculation (acc-mover moved
    # in August): it owned acc-mover until the 15th at 12:00 UTC, days 1..15 (rows start
    # at 00:00 UTC), vm 1.20 + disk 0.33333333 = 1.53333333 a day, no discount:
    # 22.99999995 -> 23.00, priced by version 1 again. Its September never had a run
    # (nothing published: no previous total) and it owned nothing then.
    a1y = items[("Cust A1y", "2026-08")]
    assert (a1y["previous_total"], a1y["backfilled_total"], a1y["difference"]) == (
        "23.00",
        "23.00",
        "0.00",
    )
    a1y_sep = items[("Cust A1y", "2026-09")]
    assert (a1y_sep["previous_total"], a1y_sep["backfilled_total"], a1y_sep["difference"]) == (
        None,
        "0.00",
        "0.00",
    )
    assert a1y_sep["status"] == "computed"
    assert got["totals"] == [
        {
            "currency": "EUR",
            "previous_total": str(Decimal("84.80") + Decimal(aug["previous_total"]) + 23),
            "backfilled_total": str(Decimal("104.80") + Decimal(aug["backfilled_total"]) + 23),
            "difference": "20.00",
        }
    ]
    with database.session() as s:
        run = s.get(BillingRun, sep["run_id"])
        assert run is not None
        assert run.status == "computed"  # recorded beside the published one, not published

    csv_r = client.get(
        f"/api/v1/billing/backfill/{job_id}/reconciliation.csv", headers=w.headers(ADMIN)
    )
    assert csv_r.status_code == 200
    assert csv_r.headers["content-type"].startswith("text/csv")
    rows = {(r["customer"], r["period"]): r for r in csv.DictReader(io.StringIO(csv_r.text))}
    assert len(rows) == 4
    assert rows[("Cust A1x", "2026-09")]["previous_total"] == "84.80"
    assert rows[("Cust A1x", "2026-09")]["backfilled_total"] == "104.80"
    assert rows[("Cust A1x", "2026-09")]["difference"] == "20.00"
    assert rows[("Cust A1y", "2026-09")]["previous_total"] == ""


def test_publish_at_once_uses_the_normal_publish_path(
    client: TestClient, published: Billing, database: Database, data_dir: Path
):
    w = published.world
    r = backfill(client, w, customer_ids=ids(w, "cust_a1x"), publish=True)
    assert r.status_code == 202, r.text
    job_id = r.json()["job"]["id"]
    drain(database, data_dir)
    got = client.get(f"/api/v1/billing/backfill/{job_id}", headers=w.headers(ADMIN)).json()
    sep = by_key(got["items"])[("Cust A1x", "2026-09")]
    assert sep["status"] == "published"
    assert sep["published"] is True
    assert got["job"]["result"]["periods_published"] == 1
    assert got["job"]["result"]["periods_unchanged"] == 1
    with database.session() as s:
        current = s.get(CurrentRun, (w.nodes["cust_a1x"].id, "2026-09"))
        assert current is not None
        assert current.run_id == sep["run_id"]
        assert s.get(BillingRun, sep["previous_run_id"]).status == "superseded"
        cache = s.scalars(
            select(BillingCacheRow.net_amount).where(
                BillingCacheRow.customer_id == w.nodes["cust_a1x"].id,
                BillingCacheRow.period == "2026-09",
            )
        )
        assert sum(cache, Decimal(0)) == Decimal("104.7999996000")  # rebuilt from the new run
        assert s.scalar(
            select(AuditEntry.id).where(
                AuditEntry.action == "publish", AuditEntry.object_id == str(sep["run_id"])
            )
        )
        invoice = s.scalar(select(Invoice).where(Invoice.period == "2026-09"))
        assert invoice is not None
        assert invoice.total == Decimal("101.76")  # invoices are refreshed separately
    stale = client.get("/api/v1/billing-utilities/stale", headers=w.headers("partner_admin"))
    assert stale.status_code == 200
    assert not [
        p
        for p in stale.json()["items"]
        if p["customer"]["id"] == w.nodes["cust_a1x"].id and p["period"] == "2026-09"
    ]


def test_publish_the_reviewed_dry_run_reuses_unchanged_runs_and_recomputes_the_rest(
    client: TestClient, published: Billing, database: Database, data_dir: Path
):
    w = published.world
    r = backfill(client, w, customer_ids=ids(w, "cust_a1x", "cust_a1y"))
    dry = r.json()["job"]["id"]
    drain(database, data_dir)
    reviewed = by_key(
        client.get(f"/api/v1/billing/backfill/{dry}", headers=w.headers(ADMIN)).json()["items"]
    )
    # A1y's contract changes after the review (a 50 % discount on everything): its
    # periods' inputs change; A1x's do not.
    from rerate.models import ContractRule

    with database.session() as s:
        s.add(
            ContractRule(
                contract_id=published.contract_ids["cust_a1y"],
                version=1,
                position=1,
                kind="discount",
                percent=Decimal("50"),
            )
        )
    p = client.post(f"/api/v1/billing/backfill/{dry}/publish", headers=w.headers(ADMIN))
    assert p.status_code == 202, p.text
    job_id = p.json()["job"]["id"]
    assert p.json()["job"]["dry_run"] is False
    again = client.post(f"/api/v1/billing/backfill/{dry}/publish", headers=w.headers(ADMIN))
    assert again.status_code == 409  # one publication per reviewed dry run
    drain(database, data_dir)
    got = client.get(f"/api/v1/billing/backfill/{job_id}", headers=w.headers(ADMIN)).json()
    assert got["backfill"]["reviewed_job_id"] == dry
    items = by_key(got["items"])
    sep = items[("Cust A1x", "2026-09")]
    assert sep["status"] == "published"
    assert sep["reused"] is True
    assert sep["run_id"] == reviewed[("Cust A1x", "2026-09")]["run_id"]  # what was reviewed
    a1y = items[("Cust A1y", "2026-08")]
    assert a1y["status"] == "published"
    assert a1y["reused"] is False
    assert "inputs changed" in a1y["note"]
    assert a1y["backfilled_total"] == "11.50"  # 22.99999995 at half price, rounded
    assert items[("Cust A1x", "2026-08")]["status"] == "unchanged"
    with database.session() as s:
        current = s.get(CurrentRun, (w.nodes["cust_a1x"].id, "2026-09"))
        assert current is not None
        assert current.run_id == sep["run_id"]


def test_only_platform_roles_backfill_and_only_customers_in_scope(
    client: TestClient, published: Billing, database: Database
):
    w = published.world
    for who in ("partner_admin", "distributor", "customer_user"):
        assert backfill(client, w, who).status_code == 403, who
    r = backfill(client, w, customer_ids=ids(w, "cust_a1x"))
    job_id = r.json()["job"]["id"]
    for who in ("partner_admin", "distributor"):
        got = client.get(f"/api/v1/billing/backfill/{job_id}", headers=w.headers(who))
        assert got.status_code == 403, who
        jobs = client.get("/api/v1/jobs", headers=w.headers("partner_admin")).json()["items"]
        assert job_id not in [j["id"] for j in jobs]
    # One at a time per platform.
    busy = backfill(client, w, customer_ids=ids(w, "cust_a1y"))
    assert busy.status_code == 409
    assert str(job_id) in busy.json()["detail"]
    client.post(f"/api/v1/jobs/{job_id}/cancel", headers=w.headers(ADMIN))

    # Ids that are not customers of the caller's platform: 404, whatever they are.
    with database.session() as s:
        other = create_node(s, NodeKind.PLATFORM, name="Other platform", parent=None)
        dist = create_node(s, NodeKind.DISTRIBUTOR, name="Other dist", parent=other)
        partner = create_node(s, NodeKind.PARTNER, name="Other partner", parent=dist)
        foreign = create_node(s, NodeKind.CUSTOMER, name="Foreign", parent=partner)
        foreign_id = foreign.id
    for bad in (w.nodes["partner_a1"].id, 999_999, foreign_id):
        r = backfill(client, w, customer_ids=[w.nodes["cust_a1x"].id, bad])
        assert r.status_code == 404, (bad, r.text)
    assert (
        client.get("/api/v1/billing/backfill/999999", headers=w.headers(ADMIN)).status_code == 404
    )

    # Bad input names the field.
    r = backfill(client, w, start="2026-09-01", end="2026-09-01")
    assert r.status_code == 422
    assert "end" in r.json()["detail"]
    r = backfill(client, w, start="2020-01-01", end="2026-01-01")
    assert r.status_code == 422
    assert "36 months" in r.json()["detail"]
    r = backfill(client, w, start="not a date")
    assert r.status_code == 422
    r = backfill(client, w, customer_ids=ids(w, "cust_a2x"))  # no contract: nothing to do
    assert r.status_code == 422
    assert "nothing to backfill" in r.json()["detail"]
    # Schedules do not take backfills; the billing-utilities dialog has none.
    r = client.post(
        "/api/v1/schedules",
        json={"name": "x", "type": "backfill", "cron": "0 2 * * *", "reason": "other"},
        headers=w.headers(ADMIN),
    )
    assert r.status_code == 422
    assert (
        client.get("/billing/utilities/operations/backfill", headers=w.headers(ADMIN)).status_code
        == 404
    )


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    days=st.integers(min_value=1, max_value=2000),
)
def test_months_of_a_range_are_the_months_it_touches(start: date, days: int):
    end = start + timedelta(days=days)
    months = months_in(start, end)
    assert months[0] == Month.of(start)
    assert months[-1] == Month.of(end - timedelta(days=1))  # end is excluded
    assert all(b == a.next() for a, b in itertools.pairwise(months))
    every_day = {Month.of(start + timedelta(days=i)) for i in range(days)}
    assert set(months) == every_day


def test_an_empty_range_names_the_end():
    with pytest.raises(Invalid, match="end: must be after start"):
        months_in(date(2026, 9, 1), date(2026, 9, 1))


def test_a_reaped_backfill_says_its_published_periods_stay(
    client: TestClient, published: Billing, database: Database
):
    from datetime import timedelta as td

    from rerate.jobs import queue
    from rerate.models import Job

    w = published.world
    job_id = backfill(client, w, customer_ids=ids(w, "cust_a1x"), publish=True).json()["job"]["id"]
    claimed = queue.claim(database, worker_id="gone", lease_s=1)
    assert claimed is not None
    assert claimed.id == job_id
    assert queue.reap_expired(database, now=datetime.now(UTC) + td(seconds=5)) == [job_id]
    with database.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert job.status == "failed"
        assert "each period it published stays published" in (job.error or "")


def test_a_repeated_submission_with_its_idempotency_key_queues_one_job(
    client: TestClient, published: Billing, database: Database
):
    from rerate.models import Job

    w = published.world
    headers = {**w.headers(ADMIN), "Idempotency-Key": "backfill-once"}
    body = {**RANGE, "customer_ids": ids(w, "cust_a1x")}
    first = client.post("/api/v1/billing/backfill", json=body, headers=headers)
    second = client.post("/api/v1/billing/backfill", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["job"]["id"] == second.json()["job"]["id"]
    with database.session() as s:
        assert s.scalar(select(func.count()).where(Job.type == "backfill")) == 1
