"""Reliability with real processes and real PostgreSQL: a SIGKILLed worker, and
20 concurrent submissions for the same (customer, period)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from rerate.app import create_app
from rerate.auth.cache import forget_all
from rerate.jobs.queue import reap_expired
from rerate.kit.db import Database, is_sqlite
from rerate.kit.settings import Settings
from rerate.models import ApiKey, BillingRun, CurrentRun, Invoice, Job, Node
from tests.billing.fixtures import Billing, add_bulk_usage, build_billing
from tests.billing.test_billing_utilities import PARTNER, drain, submit
from tests.world import World


@pytest.fixture
def billing(database: Database, data_dir: Path, world: World) -> Billing:
    return build_billing(database, data_dir, world)


def check_invoice_invariants(database: Database, issued_before: dict[int, tuple]) -> None:
    """One live invoice per (customer, period, type); lines sum to the total;
    issued invoices unchanged."""
    with database.session() as s:
        live = s.execute(
            select(Invoice.customer_id, Invoice.period, Invoice.type, func.count())
            .where(Invoice.status.in_(["draft", "ready", "issued", "paid"]))
            .group_by(Invoice.customer_id, Invoice.period, Invoice.type)
        ).all()
        assert all(count == 1 for *_, count in live)
        for inv in s.scalars(select(Invoice)):
            assert sum((ln.amount for ln in inv.lines), Decimal(0)) == inv.total
        for inv_id, (number, total) in issued_before.items():
            inv = s.get(Invoice, inv_id)
            assert inv is not None
            assert (inv.number, inv.total) == (number, total)


def _issue_invoice(client: TestClient, world: World, period: str) -> dict[int, tuple]:
    admin = world.headers("platform_admin")
    cust = world.nodes["cust_a1x"].id
    inv = client.post(
        "/api/v1/invoices/generate", json={"customer_id": cust, "period": period}, headers=admin
    ).json()
    issued = client.post(f"/api/v1/invoices/{inv['id']}/issue", headers=admin).json()
    return {issued["id"]: (issued["number"], Decimal(issued["total"]))}


@pytest.mark.postgres
def test_sigkill_mid_recalculation_keeps_the_published_state(
    client: TestClient, billing: Billing, database: Database, data_dir: Path
):
    if is_sqlite(database.engine):
        pytest.skip("real worker processes against the production database (PostgreSQL)")
    w = billing.world
    # A first, published run and an issued invoice for September.
    submit(client, w, "recalculations", "cust_a1x", ["2026-09"])
    drain(database, data_dir)
    issued = _issue_invoice(client, w, "2026-09")
    with database.session() as s:
        published = s.get(CurrentRun, (w.nodes["cust_a1x"].id, "2026-09"))
        assert published is not None
        run_before = published.run_id
    # Enough usage that rating takes a while, so the kill lands mid-job.
    add_bulk_usage(
        database,
        data_dir,
        billing.accounts["acc-x"],
        "acc-x",
        datetime(2026, 9, 1, tzinfo=UTC),
        400_000,
    )
    job_id = submit(
        client, w, "recalculations", "cust_a1x", ["2026-09"], reason="data_correction"
    ).json()["jobs"][0]["id"]
    env = {
        **os.environ,
        "RERATE_DATABASE_URL": database.url,
        "RERATE_DATA_DIR": str(data_dir),
        "RERATE_WORKER_LEASE_S": "2",
        "RERATE_WORKER_POLL_S": "0.05",
    }
    log = (data_dir / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rerate.cli.main", "worker", "--worker-id", "victim"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with database.session() as s:
                job = s.get(Job, job_id)
                assert job is not None
                if job.status == "running" and job.progress_note:
                    break
                assert job.status in ("queued", "running"), (
                    f"job ended before the kill: {job.status}"
                )
            assert proc.poll() is None, (data_dir / "worker.log").read_text()
            assert time.monotonic() < deadline, "the worker never started the job"
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()
    time.sleep(2.5)  # let the 2 s lease run out
    assert job_id in reap_expired(database)
    with database.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert job.status == "failed"
        assert "stopped responding" in (job.error or "")
        current = s.get(CurrentRun, (w.nodes["cust_a1x"].id, "2026-09"))
        assert current is not None
        assert current.run_id == run_before
    check_invoice_invariants(database, issued)
    # Running it again gives the same totals as a clean run would.
    again = submit(
        client, w, "recalculations", "cust_a1x", ["2026-09"], reason="data_correction"
    ).json()["jobs"][0]["id"]
    drain(database, data_dir)
    with database.session() as s:
        job = s.get(Job, again)
        assert job is not None
        assert job.status == "complete", job.error
        runs = list(
            s.scalars(
                select(BillingRun)
                .where(
                    BillingRun.period == "2026-09", BillingRun.customer_id == w.nodes["cust_a1x"].id
                )
                .order_by(BillingRun.version)
            )
        )
    # Paris September ends 2026-09-30 22:00 UTC: 43,080 of each cycle's 43,200 minutes fall
    # inside it; 9 full cycles + 11,200 rows = 398,920 rows x 0.5 h x 0.05 x 0.9 = 8,975.70,
    # on top of the fixture's 84.7999998: 9,060.4999998 -> 9,060.50.
    assert runs[-1].net_total == Decimal("9060.50")
    check_invoice_invariants(database, issued)


@contextmanager
def _committing_back_to_back(database: Database, node_id: int) -> Iterator[None]:
    """Another connection commits short write transactions back to back (as
    busy workers do) for as long as the block runs."""
    stop = threading.Event()

    def busy_worker() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            with database.write_session() as s:
                s.execute(update(Node).where(Node.id == node_id).values(name=f"P{n}"))

    thread = threading.Thread(target=busy_worker)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@pytest.mark.postgres
def test_twenty_concurrent_submissions_run_exactly_once(
    billing: Billing, database: Database, data_dir: Path
):
    if is_sqlite(database.engine):
        pytest.skip("concurrency is PostgreSQL's production case; SQLite serialises writers")
    w = billing.world
    app = create_app(Settings(data_dir=data_dir, database_url=database.url), database)
    body = {"customer_id": w.nodes["cust_a1x"].id, "periods": ["2026-08"], "reason": "other"}

    # One client shared by 20 threads: its lifespan (and the pool's disposal)
    # must not end while other threads still hold connections.
    with TestClient(app) as c:

        def post(_: int) -> int:
            return c.post(
                "/api/v1/billing-utilities/recalculations", json=body, headers=w.headers(PARTNER)
            ).status_code

        with ThreadPoolExecutor(max_workers=20) as pool:
            codes = sorted(pool.map(post, range(20)))
    assert codes.count(202) == 1, codes
    assert codes.count(409) == 19, codes
    assert drain(database, data_dir) == 2  # the job and its cascade child (A1y)
    with database.session() as s:
        statuses = list(s.scalars(select(Job.status)))
    assert statuses == ["complete", "complete"]
    check_invoice_invariants(database, {})


def test_submissions_succeed_on_sqlite_while_workers_commit(
    client: TestClient, billing: Billing, database: Database
):
    """SQLite refuses to upgrade a read transaction to a write once another
    connection has committed since it began ("database is locked", at once:
    waiting cannot help). Workers commit claims and heartbeats all the time, so
    a submission takes the write lock up front instead. (Logged in with a
    session cookie: authenticating reads only.)"""
    if not is_sqlite(database.engine):
        pytest.skip("about SQLite's single write lock")
    login = client.post(
        "/api/v1/auth/login",
        json={"email": "partner_admin@test.example", "password": "correct-horse"},
    )
    assert login.status_code == 200, login.text
    nodes = billing.world.nodes
    with _committing_back_to_back(database, nodes["platform"].id):
        answers = [
            client.post(
                "/api/v1/billing-utilities/cache-syncs",
                json={
                    "customer_id": nodes[customer].id,
                    "periods": [f"2026-{month:02d}"],
                    "reason": "data_correction",
                },
            )
            for customer in ("cust_a1x", "cust_a1y")
            for month in range(1, 10)
        ]
    assert [r.status_code for r in answers] == [202] * len(answers), [
        r.text for r in answers if r.status_code != 202
    ]


def test_api_key_requests_succeed_on_sqlite_while_workers_commit(
    client: TestClient, billing: Billing, database: Database
):
    """API-key authentication only reads in the request's transaction; the
    key's last-use mark (at most once a minute) is its own short write."""
    if not is_sqlite(database.engine):
        pytest.skip("about SQLite's single write lock")
    nodes = billing.world.nodes
    headers = billing.world.headers("partner_admin")
    with _committing_back_to_back(database, nodes["platform"].id):
        answers = []
        for i in range(30):
            if i % 10 == 0:  # make the last-use mark due again now and then
                with database.write_session() as s:
                    s.execute(update(ApiKey).values(last_used_at=None))
                forget_all()  # and have the server look at the key again (auth/cache.py)
            answers.append(client.get("/api/v1/jobs", headers=headers))
    assert [r.status_code for r in answers] == [200] * len(answers), [
        r.text for r in answers if r.status_code != 200
    ]
    with database.session() as s:
        used = s.scalar(
            select(ApiKey).where(ApiKey.user_id == billing.world.users["partner_admin"].id)
        )
        assert used is not None
        assert used.last_used_at is not None
