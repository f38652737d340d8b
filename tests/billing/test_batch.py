"""Billing many customers at once (issue 16 section 2), on SQLite and PostgreSQL:
one submission for many customers (API, CLI, console), one job per
(customer, period) in the log, run in batches whose runs equal those of the
jobs run one by one, row for row; a failure or a lost claim stays with its job."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from rerate.accounts.service import create_account, move_account
from rerate.billing import runs
from rerate.billing.aggregates import cache_aggregates
from rerate.billing.diff import diff_csv, diff_runs
from rerate.billing.tasks import batch_handlers, handlers
from rerate.jobs import queue
from rerate.jobs.worker import Worker
from rerate.kit.db import Database
from rerate.kit.periods import Month
from rerate.models import BillingCacheRow, BillingRun, Contract, Job, Node
from rerate.models.enums import AccountKind
from rerate.usage.schema import USAGE_SCHEMA
from tests.billing.fixtures import START, Billing, add_usage, import_table
from tests.cli.test_cli_audit import _run
from tests.world import World

PARTNER = "partner_admin"
CUSTOMERS = ("cust_a1x", "cust_a1y", "cust_a2x")


@pytest.fixture
def many(billing: Billing, database: Database, data_dir: Path) -> Billing:
    """The billing world (A1x and A1y share an account that moved mid-August)
    plus A2x on the same price book with its own account, under another partner
    of the same distributor."""
    w = billing.world
    with database.session() as s:
        a2x = s.get(Node, w.nodes["cust_a2x"].id)
        assert a2x is not None
        s.add(
            Contract(
                customer_id=a2x.id,
                seller_id=w.nodes["partner_a2"].id,
                currency="EUR",
                billing_tz="UTC",
                coverage_start=date(2026, 1, 1),
                active=True,
                cloud_price_book_id=billing.price_book_id,
            )
        )
        account = create_account(s, AccountKind.MANAGEMENT_ACCOUNT, external_ref="acc-a2x")
        move_account(s, account, customer=a2x, valid_from=START)
        account_id = account.id
    add_usage(database, data_dir, {"acc-a2x": account_id}, date(2026, 7, 25), date(2026, 10, 5))
    _unpriced_usage(database, data_dir, account_id)
    return billing


def _unpriced_usage(database: Database, data_dir: Path, account_id: int) -> None:
    """A SKU the price book does not list, a few days a month: unrated rows,
    which the cache counts per account."""
    rows: dict[str, list[object]] = {name: [] for name in USAGE_SCHEMA.names}
    for day in (date(2026, 8, 3), date(2026, 8, 17), date(2026, 9, 9)):
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        rid = f"acc-a2x-gpu-{day.isoformat()}"
        values = {
            "record_id": rid,
            "content_hash": rid,
            "import_id": 0,
            "source": "focus",
            "kind": "cloud",
            "account_ref": "acc-a2x",
            "account_id": account_id,
            "usage_start": start,
            "usage_end": start + timedelta(days=1),
            "service": "Compute",
            "sku": "gpu.large",
            "region": "westeurope",
            "quantity": Decimal(3),
            "unit": "h",
            "currency": "EUR",
        }
        for name in USAGE_SCHEMA.names:
            rows[name].append(values.get(name))
    import_table(database, data_dir, pa.table(rows, schema=USAGE_SCHEMA))


def batch_worker(database: Database, data_dir: Path, size: int = 50) -> Worker:
    return Worker(
        database,
        handlers=handlers(data_dir),
        batch_handlers=batch_handlers(data_dir),
        batch_size=size,
        lease_s=30,
        expand=None,
    )


def drain(worker: Worker) -> int:
    ran = 0
    while worker.run_once():
        ran += 1
    return ran


def post(client: TestClient, world: World, who: str = PARTNER, **body: object):
    return client.post("/api/v1/billing/recalculations", json=body, headers=world.headers(who))


def _tables(path: Path) -> dict[str, pa.Table]:
    return {
        "rated": pq.read_table(path / "rated"),
        "daily": pq.read_table(path / "daily"),
        "period_lines": pq.read_table(path / "period_lines.parquet"),
    }


def test_batch_runs_equal_one_by_one_runs_row_for_row(
    client: TestClient, many: Billing, database: Database, data_dir: Path
):
    w = many.world
    ids = [w.nodes[c].id for c in CUSTOMERS]
    r = post(
        client,
        w,
        "platform_admin",
        customer_ids=ids,
        periods=["2026-08", "2026-09"],
        reason="other",
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["queued"] == 6
    # One claim per period: each batch holds the three customers of one month.
    assert drain(batch_worker(database, data_dir)) == 2
    with database.session() as s:
        jobs = list(s.scalars(select(Job).where(Job.request_id == body["request_id"])))
        assert len(jobs) == 6
        assert {(j.customer_id, j.period) for j in jobs} == {
            (c, p) for c in ids for p in ("2026-08", "2026-09")
        }
        assert {j.status for j in jobs} == {"complete"}, [j.error for j in jobs]
        results = {(j.customer_id, j.period): json.loads(j.result or "{}") for j in jobs}
        assert {r["batch"]["jobs"] for r in results.values()} == {3}
        assert len({r["batch"]["id"] for r in results.values()}) == 2
        published = {
            (run.customer_id, run.period): run
            for run in s.scalars(select(BillingRun).where(BillingRun.status == "published"))
        }
        # The one-by-one path on the same data: compute_run for each (customer, period).
        unrated_seen: set[int] = set()
        for (customer_id, period), run in published.items():
            customer = s.get(Node, customer_id)
            assert customer is not None
            alone = runs.compute_run(s, data_dir, customer, Month.parse(period))
            assert alone.fingerprint == run.fingerprint
            assert alone.net_total == run.net_total
            assert alone.list_total == run.list_total
            assert alone.row_count == run.row_count
            assert alone.unrated_count == run.unrated_count
            assert alone.inputs is not None
            assert run.inputs is not None
            mine, theirs = json.loads(alone.inputs), json.loads(run.inputs)
            mine.pop("computed_at"), theirs.pop("computed_at")
            assert mine == theirs
            batch_tables, alone_tables = _tables(Path(run.path)), _tables(alone.path)
            for name, table in alone_tables.items():
                assert batch_tables[name].equals(table), f"{name} of {customer_id} {period}"
            assert json.loads((Path(run.path) / "summary.json").read_text()) == json.loads(
                (alone.path / "summary.json").read_text()
            )
            # The cache and the diff were built from the tables as written: the
            # same as from the files read back.
            cached = {
                c.account_id: (c.quantity, c.list_amount, c.net_amount, c.row_count)
                for c in s.scalars(
                    select(BillingCacheRow).where(
                        BillingCacheRow.customer_id == customer_id,
                        BillingCacheRow.period == period,
                    )
                )
            }
            from_files = {
                r["account_id"]: (r["quantity"], r["list_amount"], r["net_amount"], r["row_count"])
                for r in cache_aggregates(runs.read_daily(run), runs.read_rated(run))
            }
            assert cached == from_files
            assert {
                r["account_id"]: r["unrated_count"]
                for r in cache_aggregates(runs.read_daily(run), runs.read_rated(run))
            } == {
                c.account_id: c.unrated_count
                for c in s.scalars(
                    select(BillingCacheRow).where(
                        BillingCacheRow.customer_id == customer_id,
                        BillingCacheRow.period == period,
                    )
                )
            }
            # The lone path's cache rows (counted part by part while writing) too.
            assert alone.tables is not None
            assert alone.tables.cache_rows == cache_aggregates(
                pq.read_table(alone.path / "daily"), pq.read_table(alone.path / "rated")
            )
            unrated_seen.update(r["unrated_count"] for r in alone.tables.cache_rows)
            result = results[(customer_id, period)]
            diff_file = (data_dir / result["diff_file"]).read_text()
            assert diff_file == diff_csv(*diff_runs(None, run))
            assert Decimal(result["total_after"]) == run.net_total.quantize(Decimal("0.01"))
            assert result["published"] is True
        assert len(published) == 6
        assert unrated_seen - {0}, "some run has unrated rows (the unpriced SKU)"
        cache = s.scalar(select(func.count()).select_from(BillingCacheRow))
        assert cache is not None
        assert cache >= 6
    # August of A1x and A1y share the mover account: each billed only its side.
    aug = {c: published[(c, "2026-08")].net_total for c in ids[:2]}
    assert all(v > 0 for v in aug.values())


def test_one_customer_failing_fails_only_its_job(
    client: TestClient, many: Billing, database: Database, data_dir: Path
):
    w = many.world
    ids = [w.nodes[c].id for c in CUSTOMERS]
    r = post(client, w, "platform_admin", customer_ids=ids, periods=["2026-09"], reason="other")
    assert r.status_code == 202, r.text
    # Queued while eligible; A1y's contract ends before the job runs (the
    # eligibility gate runs again in the batch).
    with database.session() as s:
        s.execute(
            update(Contract)
            .where(Contract.customer_id == w.nodes["cust_a1y"].id)
            .values(active=False)
        )
    assert drain(batch_worker(database, data_dir)) == 1
    with database.session() as s:
        jobs = {j.customer_id: j for j in s.scalars(select(Job))}
        assert jobs[w.nodes["cust_a1y"].id].status == "failed"
        assert "not eligible" in (jobs[w.nodes["cust_a1y"].id].error or "")
        assert jobs[w.nodes["cust_a1x"].id].status == "complete"
        assert jobs[w.nodes["cust_a2x"].id].status == "complete"
        published = set(
            s.scalars(select(BillingRun.customer_id).where(BillingRun.status == "published"))
        )
    assert published == {w.nodes["cust_a1x"].id, w.nodes["cust_a2x"].id}


def test_a_worker_declared_dead_publishes_nothing_for_the_job_it_lost(
    client: TestClient, many: Billing, database: Database, data_dir: Path
):
    w = many.world
    ids = [w.nodes[c].id for c in CUSTOMERS]
    r = post(client, w, "platform_admin", customer_ids=ids, periods=["2026-09"], reason="other")
    assert r.status_code == 202, r.text
    worker = batch_worker(database, data_dir)
    claims = queue.claim_batch(
        database,
        worker_id=worker.worker_id,
        lease_s=30,
        types=worker.handlers.keys(),
        batch_types=worker.batch_handlers.keys(),
        limit=10,
    )
    assert len(claims) == 3
    lost = next(c for c in claims if c.customer_id == w.nodes["cust_a1y"].id)
    # The worker paused past its lease on one job; another worker's reaper
    # failed it and moved its fencing token on.
    with database.session() as s:
        s.execute(
            update(Job)
            .where(Job.id == lost.id)
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert queue.reap_expired(database) == [lost.id]
    worker.run_batch(claims)
    with database.session() as s:
        jobs = {j.id: j for j in s.scalars(select(Job))}
        assert jobs[lost.id].status == "failed"
        assert "stopped responding" in (jobs[lost.id].error or "")
        assert jobs[lost.id].result is None
        assert {jobs[c.id].status for c in claims if c.id != lost.id} == {"complete"}
        published = set(
            s.scalars(select(BillingRun.customer_id).where(BillingRun.status == "published"))
        )
    assert w.nodes["cust_a1y"].id not in published
    assert published == {w.nodes["cust_a1x"].id, w.nodes["cust_a2x"].id}


def test_a_reseller_cannot_include_another_tenants_customer(
    client: TestClient, many: Billing, database: Database
):
    w = many.world
    outside = post(
        client,
        w,
        customer_ids=[w.nodes["cust_a1x"].id, w.nodes["cust_a2x"].id],
        periods=["2026-09"],
        reason="other",
    )
    assert outside.status_code == 404, outside.text
    unknown = post(
        client,
        w,
        customer_ids=[w.nodes["cust_a1x"].id, 999_999],
        periods=["2026-09"],
        reason="other",
    )
    assert unknown.status_code == 404
    # A partner user lacks Billing Utilities Admin: refused before anything else.
    user = post(
        client,
        w,
        "partner_user",
        customer_ids=[w.nodes["cust_a1x"].id],
        periods=["2026-09"],
        reason="other",
    )
    assert user.status_code == 403
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0
    # "All eligible" is the caller's scope: A1's two customers, never A2x.
    mine = post(client, w, all_eligible=True, periods=["2026-09"], reason="other")
    assert mine.status_code == 202, mine.text
    assert {j["customer_id"] for j in mine.json()["jobs"]} == {
        w.nodes["cust_a1x"].id,
        w.nodes["cust_a1y"].id,
    }
    # Asked again while they wait: answered with the active jobs, nothing twice.
    again = post(client, w, all_eligible=True, periods=["2026-09"], reason="other").json()
    assert again["queued"] == 0
    assert {j["status"] for j in again["jobs"]} == {"active"}
    both = post(client, w, customer_ids=[], all_eligible=True, periods=["2026-09"], reason="other")
    assert both.status_code == 422


def test_api_journey_all_eligible_then_the_log(
    client: TestClient, many: Billing, database: Database, data_dir: Path
):
    w = many.world
    r = post(client, w, "platform_admin", all_eligible=True, periods=["2026-09"], reason="other")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["queued"] == 3
    # cust_b1x has no contract: not a candidate; nothing refused among the three.
    assert body["refused"] == []
    assert drain(batch_worker(database, data_dir)) == 1
    log = client.get(
        "/api/v1/jobs", params={"period": "2026-09"}, headers=w.headers("platform_admin")
    ).json()
    mine = [j for j in log["items"] if j["request_id"] == body["request_id"]]
    assert len(mine) == 3
    assert {j["status"] for j in mine} == {"complete"}
    for item in mine:
        one = client.get(f"/api/v1/jobs/{item['id']}", headers=w.headers("platform_admin")).json()
        assert one["result"]["published"] is True
        assert one["result"]["batch"]["jobs"] == 3
        diff = client.get(
            f"/api/v1/jobs/{item['id']}/diff.csv", headers=w.headers("platform_admin")
        )
        assert diff.status_code == 200
        assert "TOTAL" in diff.text


def test_cli_journey_several_customers(
    many: Billing, database: Database, data_dir: Path, tmp_path: Path
):
    w = many.world
    done = _run(
        database,
        tmp_path,
        *("recalc", "--customer", str(w.nodes["cust_a1x"].id)),
        *("--customer", str(w.nodes["cust_a1y"].id), "--period", "2026-09"),
        *("--reason", "other", "--as", w.users[PARTNER].email, "--no-follow"),
    )
    assert done.returncode == 0, done.stderr
    assert "queued 2 jobs" in done.stderr
    refused = _run(
        database,
        tmp_path,
        *("recalc", "--customer", str(w.nodes["cust_a1x"].id)),
        *("--customer", str(w.nodes["cust_a2x"].id), "--period", "2026-08"),
        *("--reason", "other", "--as", w.users[PARTNER].email, "--no-follow"),
    )
    assert refused.returncode == 2
    assert "not found" in refused.stderr
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 2
    # The jobs the CLI queued run in one batch (its data directory is data_dir).
    assert drain(batch_worker(database, data_dir)) == 1
    with database.session() as s:
        assert {j.status for j in s.scalars(select(Job))} == {"complete"}


def test_console_bills_every_eligible_customer(
    client: TestClient, many: Billing, database: Database, data_dir: Path
):
    w = many.world
    page = client.get("/billing/utilities", headers=w.headers(PARTNER))
    assert page.status_code == 200
    assert 'id="bill-all-submit"' in page.text
    r = client.post(
        "/billing/utilities/bill-all",
        headers={**w.headers(PARTNER), "HX-Request": "true"},
        data={"period": "2026-09", "reason": "other"},
    )
    assert r.status_code == 202, r.text
    message = json.loads(r.headers["hx-trigger"])["rerate:jobs-submitted"]["message"]
    assert message == "Recalculation queued for 2 customers."
    bad = client.post(
        "/billing/utilities/bill-all",
        headers={**w.headers(PARTNER), "HX-Request": "true"},
        data={"period": "2026-13", "reason": "other"},
    )
    assert bad.status_code == 422
    assert 'role="alert"' in bad.text
    assert drain(batch_worker(database, data_dir)) == 1
    with database.session() as s:
        assert {j.status for j in s.scalars(select(Job))} == {"complete"}


def test_naming_one_owner_of_a_moved_account_cascades_to_the_other(
    client: TestClient, many: Billing, database: Database, data_dir: Path
):
    """As for one customer: A1x and A1y shared the mover account in August, so
    naming A1x (with A2x) queues A1y's August too, once, as a cascade."""
    w = many.world
    r = post(
        client,
        w,
        customer_ids=[w.nodes["cust_a1x"].id],
        periods=["2026-08", "2026-09"],
        reason="other",
    )
    assert r.status_code == 202, r.text
    jobs = {(j["customer_id"], j["period"]) for j in r.json()["jobs"]}
    assert jobs == {
        (w.nodes["cust_a1x"].id, "2026-08"),
        (w.nodes["cust_a1x"].id, "2026-09"),
        (w.nodes["cust_a1y"].id, "2026-08"),  # the cascade; in September A1x had both
    }
    with database.session() as s:
        child = s.scalars(select(Job).where(Job.customer_id == w.nodes["cust_a1y"].id)).one()
        assert child.parent_id is not None
        assert child.explanation.startswith("cascade from job")
    # Both named: each queued once, no cascade job on top.
    with database.session() as s:
        s.execute(update(Job).values(status="cancelled"))
    both = post(
        client,
        w,
        customer_ids=[w.nodes["cust_a1x"].id, w.nodes["cust_a1y"].id],
        periods=["2026-08"],
        reason="other",
    ).json()
    assert both["queued"] == 2
    assert drain(batch_worker(database, data_dir)) == 1
    with database.session() as s:
        done = s.scalars(select(Job).where(Job.request_id == both["request_id"])).all()
        assert {j.status for j in done} == {"complete"}


def test_cli_all_eligible(many: Billing, database: Database, data_dir: Path, tmp_path: Path):
    w = many.world
    done = _run(
        database,
        tmp_path,
        *("recalc", "--all-eligible", "--period", "2026-09", "--reason", "other"),
        *("--as", w.users[PARTNER].email, "--no-follow"),
    )
    assert done.returncode == 0, done.stderr
    assert "queued 2 jobs" in done.stderr
    neither = _run(
        database,
        tmp_path,
        *("recalc", "--period", "2026-09", "--reason", "other"),
        *("--as", w.users[PARTNER].email, "--no-follow"),
    )
    assert neither.returncode == 2
    assert "--all-eligible" in neither.stderr
