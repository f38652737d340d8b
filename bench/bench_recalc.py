"""Benchmark of issue 4: recalculation and invoice refresh through the job system.

    .venv/bin/python bench/bench_recalc.py                 # full size (RERATE_BENCH_SCALE=1.0)
    RERATE_BENCH_SCALE=0.05 .venv/bin/python bench/bench_recalc.py    # quick run
    .venv/bin/python bench/bench_recalc.py --only recalc --backend sqlite

Targets (issue 4): recalculating one customer-month of 5 M CDRs end to end
(submit to Complete) in 15 s or less; an invoice refresh for 1,000 customers
in 30 s or less. Sizes and targets scale with RERATE_BENCH_SCALE (the targets
linearly, so they mean something near 1.0 only: fixed costs such as the idle
worker's 1 s poll dominate a quick run).

recalc: one VoIP customer (100 SIP trunks) with a contract on the demo's
tariff deck (5,000+ prefixes, peak/offpeak banded entries, a timetable with
weekend and holiday bands), a discount and a support fee, and 5 M CDRs in
August 2026 (closed), imported through the real import service
(`usage.service.import_parsed`). A first recalculation publishes run 1; then a
carrier update (price-book version 2 from 16 August, about a third of the rates
changed) is added, so the timed recalculation publishes a new version. Timed:
`billing.utilities.submit` (what POST /api/v1/billing-utilities/recalculations
calls) in one write transaction, as the endpoint does -> a `jobs.worker.Worker`
already polling in a thread (as `rerate serve` runs it, default poll interval,
in a process that has not rated anything yet) claims and runs it -> the job row
says complete. The job's result gives the breakdown (`timings_s`: plan, read,
rate, write, fingerprint, diff, publish). Baseline in the same run: the pure
engine (`rating.engine.rate` + `rating.output.write_run`) on the same usage
rows with the same plan, so the job system's overhead is visible.

refresh: 1,000 customers, each with an active contract, one account, a
month of daily cloud usage, a published run and an Issued invoice for August
2026 (set up through the services and the job system, untimed). Timed: one
`submit` per customer (one transaction each, as the API does), drained by 1
then 2 `rerate worker` processes (`jobs.worker.run_worker_process`, started
and idle before the clock starts; on SQLite they share its one write lock)
until every job is complete; then checked:
each old invoice Cancelled, exactly one new Ready invoice per customer, linked
both ways. Between the two runs the new invoices are issued (untimed), so the
second run refreshes Issued invoices too.

Each scenario runs on SQLite (a database file, the embedded default) and, if
reachable, on PostgreSQL in a dedicated database `rerate_bench` created and
dropped here (admin URL from RERATE_BENCH_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/postgres). Every measured part runs in its
own process, so `peak_rss_mb` (ru_maxrss) is that part's own. The generated
CDRs are cached under bench/.data/ (git-ignored); databases and data
directories are rebuilt every run and removed at the end (--keep keeps them).
The machine's load average (and, for recalc, the process's CPU seconds) is
reported with every figure: timings on a shared 2-core machine are noisy.
Processes that rate set Arrow's allocator as the CLI does (kit/runtime.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, insert, select

from rerate.accounts.service import create_account, move_account
from rerate.auth.permissions import Principal
from rerate.auth.service import assign_role, create_user, principal_for
from rerate.billing import utilities
from rerate.billing.plan_builder import build_plan
from rerate.billing.runs import LOOKBACK
from rerate.billing.tasks import expand_schedule, handlers
from rerate.demo.catalog import french_holidays
from rerate.demo.loader import build_timetable, tariff_rows
from rerate.demo.tariffs import build_deck
from rerate.demo.usage import CDRS_PER_DAY, Peer, cdr_usage
from rerate.invoicing import service as invoices
from rerate.invoicing.generate import generate_for
from rerate.jobs import views
from rerate.jobs.worker import Worker, run_worker_process, start_in_thread
from rerate.kit import migrate
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.db import Database
from rerate.kit.periods import Month
from rerate.kit.runtime import tune_for_batch_work
from rerate.kit.settings import Settings
from rerate.models import (
    BillingCacheRow,
    BillingRun,
    Contract,
    ContractRule,
    Invoice,
    Job,
    Node,
    PriceBook,
    PriceBookVersion,
    PriceEntry,
    TariffEntry,
    User,
)
from rerate.models.enums import AccountKind, JobStatus, JobType, NodeKind, ReasonCode, Role
from rerate.pricebooks.service import mark_published
from rerate.rating import engine, output
from rerate.tenancy.service import create_node
from rerate.usage.importers.base import ParseResult
from rerate.usage.schema import USAGE_SCHEMA, UsageKind
from rerate.usage.service import ImportReport, import_parsed
from rerate.usage.store import UsageStore

SCALE = float(os.environ.get("RERATE_BENCH_SCALE", "1.0"))
HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
PERIOD = Month(2026, 8)  # closed; fixed so that the cached input stays valid
START = datetime(2026, 1, 1, tzinfo=UTC)  # contracts, ownership, price book v1
CARRIER_UPDATE = datetime(2026, 8, 16, tzinfo=UTC)  # price-book version 2, mid-period
N_CDR = max(20_000, round(5_000_000 * SCALE))
N_TRUNKS = 100
N_CUSTOMERS = max(20, round(1000 * SCALE))
TARGET_RECALC_S = 15.0
TARGET_REFRESH_S = 30.0
PG_ADMIN_URL = os.environ.get(
    "RERATE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PG_DB = "rerate_bench"
BACKENDS = ("sqlite", "postgres")
FINAL = (JobStatus.COMPLETE.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value)
BENCH_ACTOR = Actor(None, "bench")


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _say(message: str) -> None:
    print(f"[bench_recalc {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- databases


def _pg_reason() -> str | None:
    """None when PostgreSQL is reachable, else why not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=5):
            return None
    except Exception as exc:  # any failure to connect: skip, saying why
        return f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}".strip()


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def _pg_url() -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+psycopg://", 1) + "/" + PG_DB


def state_dir(scenario: str, backend: str) -> Path:
    return DATA / f"{scenario}-{backend}"


def database_url(scenario: str, backend: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{state_dir(scenario, backend) / 'rerate.db'}"
    return _pg_url()


def fresh_state(scenario: str, backend: str) -> tuple[str, Path]:
    """An empty, migrated database and an empty data directory."""
    folder = state_dir(scenario, backend)
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "data").mkdir(parents=True)
    if backend == "postgres":
        _pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        _pg_admin(f'CREATE DATABASE "{PG_DB}"')
    url = database_url(scenario, backend)
    migrate.upgrade(url)
    return url, folder / "data"


def drop_state(scenario: str, backend: str) -> None:
    shutil.rmtree(state_dir(scenario, backend), ignore_errors=True)
    if backend == "postgres" and _pg_reason() is None:
        _pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')


def save_state(scenario: str, backend: str, state: dict[str, Any]) -> None:
    (state_dir(scenario, backend) / "state.json").write_text(json.dumps(state, indent=2))


def load_state(scenario: str, backend: str) -> dict[str, Any]:
    return dict(json.loads((state_dir(scenario, backend) / "state.json").read_text()))


def principal(db: Database, user_id: int) -> Principal:
    with db.session() as s:
        user = s.get(User, user_id)
        assert user is not None
        return principal_for(s, user, via="api_key")


def tenancy(s: Any, reseller: str) -> tuple[Node, Node, User]:
    """Platform > distributor > reseller, and the reseller's admin (Billing
    Utilities Admin on the reseller's subtree), who submits the jobs."""
    platform = create_node(s, NodeKind.PLATFORM, name="Platform", parent=None)
    dist = create_node(s, NodeKind.DISTRIBUTOR, name="Bench Distribution", parent=platform)
    partner = create_node(s, NodeKind.PARTNER, name=reseller, parent=dist)
    user = create_user(s, "reseller-admin@bench.example", name="Reseller admin", password=None)
    assign_role(s, user, role=Role.PARTNER_ADMIN, node=partner)
    return dist, partner, user


def submit(
    db: Database, who: Principal, type_: JobType, customer_id: int, reason: ReasonCode
) -> int:
    """One API request, as billing.endpoints does it: one write transaction
    (BEGIN IMMEDIATE on SQLite), `utilities.submit`, the job view; the job id."""
    with db.write_session() as s:
        set_session_actor(s, Actor(who.user_id, who.email))
        sub = utilities.submit(
            s, who, type_, customer_id=customer_id, periods=[str(PERIOD)], reason=reason
        )
        s.flush()
        views.get_job(s, who, sub.jobs[0].id)
        return sub.jobs[0].id


def drain_in_process(db: Database, data_dir: Path) -> int:
    worker = Worker(db, handlers=handlers(data_dir), worker_id="bench-setup", expand=None)
    ran = 0
    while worker.run_once():
        ran += 1
    return ran


# ---------------------------------------------------------------- recalc: input


def trunk_ref(i: int) -> str:
    return f"trunk-{i:04d}"


def cdr_file() -> Path:
    return DATA / f"recalc_cdrs_v1_{N_CDR}.parquet"  # bump v1 when the generator changes


def generate_cdrs() -> dict[str, Any]:
    """N_CDR calls of one customer's trunks in PERIOD (UTC days), as an
    importer leaves them (account_id -1: the import service resolves it)."""
    path = cdr_file()
    if path.exists():
        return {"cached": str(path)}
    DATA.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    deck = build_deck(np.random.default_rng([2026, 2]))  # the demo's deck
    days = PERIOD.days()
    peers = [
        Peer(i + 1, trunk_ref(i), "33", "Europe/Paris", f"331{i:05d}", 1.0 + (i % 7))
        for i in range(N_TRUNKS)
    ]
    scale = N_CDR / (CDRS_PER_DAY * len(days))
    holidays = {d for d, _ in french_holidays(PERIOD.year)}
    table = cdr_usage(
        np.random.default_rng([2026, 4]), days, peers, deck.pool, scale=scale, holidays=holidays
    )
    ids = table.schema.get_field_index("account_id")
    table = table.set_column(
        ids,
        USAGE_SCHEMA.field("account_id"),
        pa.array(np.full(table.num_rows, -1, dtype=np.int64)),
    )
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.rename(path)
    return {"generated": str(path), "rows": table.num_rows, "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------- recalc: parts


def _import(
    db: Database,
    data_dir: Path,
    who: Principal,
    table: pa.Table,
    *,
    file: str,
    account_column: str,
    source: str,
    kind: UsageKind,
    sha256: str,
) -> ImportReport:
    """Import an already parsed table through the importers' own path."""
    parsed = ParseResult(
        table=table,
        line_numbers=np.arange(1, table.num_rows + 1, dtype=np.int64),
        rejects=[],
        rows_read=table.num_rows,
        file=file,
        account_column=account_column,
    )
    with db.session() as s:
        return import_parsed(
            s, UsageStore(data_dir), who, parsed, source=source, kind=kind, sha256=sha256
        )


def part_recalc_setup(backend: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    url, data_dir = fresh_state("recalc", backend)
    db = Database(url)
    deck = build_deck(np.random.default_rng([2026, 2]))
    with db.session() as s:
        set_session_actor(s, BENCH_ACTOR, "benchmark setup")
        _dist, partner, user = tenancy(s, "Blue Voice Bench")
        customer = create_node(
            s, NodeKind.CUSTOMER, name="Voice customer", parent=partner, tax_rate=Decimal("0.20")
        )
        for i in range(N_TRUNKS):
            account = create_account(s, AccountKind.VOIP_PEER, external_ref=trunk_ref(i))
            move_account(s, account, customer=customer, valid_from=START)
        book = PriceBook(
            name="Wholesale voice deck", kind="voip", currency="EUR", owner_node_id=partner.id
        )
        s.add(book)
        s.flush()
        v1 = PriceBookVersion(price_book_id=book.id, version=1, effective_from=START, note="v1")
        s.add(v1)
        s.flush()
        s.execute(insert(TariffEntry), tariff_rows(v1.id, deck.v1))
        mark_published(s, v1, by=None)
        timetable = build_timetable(s, [PERIOD.year], partner)
        contract = Contract(
            customer_id=customer.id,
            seller_id=partner.id,
            name="Voice",
            currency="EUR",
            billing_tz="UTC",
            coverage_start=START.date(),
            active=True,
            voip_price_book_id=book.id,
            timetable_id=timetable.id,
        )
        s.add(contract)
        s.flush()
        s.add_all(
            [
                ContractRule(
                    contract_id=contract.id, version=1, position=1, kind="discount", percent=5
                ),
                ContractRule(
                    contract_id=contract.id,
                    version=1,
                    position=2,
                    kind="support_fee",
                    percent=Decimal("2.5"),
                    description="Support",
                ),
            ]
        )
        ids = {"customer_id": customer.id, "user_id": user.id, "book_id": book.id}
    who = principal(db, ids["user_id"])
    t1 = time.perf_counter()
    _say(f"recalc/{backend}: importing {N_CDR} CDRs through import_parsed")
    report = _import(
        db,
        data_dir,
        who,
        pq.read_table(cdr_file()),
        file="bench-asterisk-2026-08.csv",
        account_column="accountcode",
        source="asterisk",
        kind=UsageKind.CDR,
        sha256=hashlib.sha256(cdr_file().read_bytes()).hexdigest(),
    )
    t2 = time.perf_counter()
    _say(f"recalc/{backend}: first recalculation (run 1)")
    first = submit(db, who, JobType.RECALCULATION, ids["customer_id"], ReasonCode.OTHER)
    drain_in_process(db, data_dir)
    t3 = time.perf_counter()
    with db.session() as s:
        job = s.get(Job, first)
        assert job is not None
        if job.status != JobStatus.COMPLETE.value:
            raise RuntimeError(f"the first recalculation did not complete: {job.error}")
        first_result = json.loads(job.result or "{}")
        # The carrier's update: a complete new deck from mid-period on.
        set_session_actor(s, BENCH_ACTOR, "carrier update")
        v2 = PriceBookVersion(
            price_book_id=ids["book_id"], version=2, effective_from=CARRIER_UPDATE, note="v2"
        )
        s.add(v2)
        s.flush()
        s.execute(insert(TariffEntry), tariff_rows(v2.id, deck.v2))
        mark_published(s, v2, by=None)
    db.dispose()
    state = {
        **ids,
        "url": url,
        "data_dir": str(data_dir),
        "prefixes_v1": len({t.prefix for t in deck.v1}),
        "tariff_entries": len(deck.v1) + len(deck.v2),
    }
    save_state("recalc", backend, state)
    return {
        "seconds_tenancy_and_catalog": round(t1 - t0, 2),
        "seconds_import": round(t2 - t1, 2),
        "import": {"rows_read": report.rows_read, "new": report.new, "rejected": report.rejected},
        "seconds_first_recalculation": round(t3 - t2, 2),
        "first_run_total": first_result.get("total_after"),
        "prefixes_v1": state["prefixes_v1"],
        "tariff_entries_v1_v2": state["tariff_entries"],
        "peak_rss_mb": _peak_rss_mb(),
    }


def part_recalc_engine(backend: str) -> dict[str, Any]:
    """Baseline: the pure engine on the same rows, same plan, no job system."""
    state = load_state("recalc", backend)
    db = Database(state["url"])
    data_dir = Path(state["data_dir"])
    load_before = _load()
    t0 = time.perf_counter()
    cpu0 = _cpu_seconds()
    with db.session() as s:
        customer = s.get(Node, state["customer_id"])
        assert customer is not None
        window = PERIOD.in_zone("UTC")
        plan, _accounts = build_plan(s, customer, window.start_utc - LOOKBACK, window.end_utc)
    t1 = time.perf_counter()
    files = sorted(str(p) for p in (data_dir / "usage").glob("day=*/*.parquet"))
    usage = pq.read_table(files, columns=list(engine.USAGE_COLUMNS), read_dictionary=["kind"])
    t2 = time.perf_counter()
    result = engine.rate(usage, plan, window)
    t3 = time.perf_counter()
    target = data_dir / "bench-engine-run"
    shutil.rmtree(target, ignore_errors=True)
    output.write_run(result, target)
    t4 = time.perf_counter()
    cpu = _cpu_seconds() - cpu0
    shutil.rmtree(target, ignore_errors=True)
    db.dispose()
    totals = result.summary.totals.get("EUR")
    return {
        "rows": usage.num_rows,
        "seconds": round(t4 - t2, 2),  # rate + write_run: what the job adds overhead to
        "seconds_plan_from_db": round(t1 - t0, 2),
        "seconds_read_parquet": round(t2 - t1, 2),
        "seconds_rate": round(t3 - t2, 2),
        "seconds_write_run": round(t4 - t3, 2),
        "cpu_seconds": round(cpu, 2),  # plan, read, rate and write, all threads
        "rated": result.summary.rated,
        "unrated": result.summary.unrated,
        "total": str(totals.total) if totals else None,
        "peak_rss_mb": _peak_rss_mb(),
        "load_average_before": load_before,
        "load_average_after": _load(),
    }


def _job_row(db: Database, job_id: int) -> Job:
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def part_recalc(backend: str) -> dict[str, Any]:
    """Timed: submit -> a polling worker claims and runs it -> complete."""
    state = load_state("recalc", backend)
    db = Database(state["url"])
    data_dir = Path(state["data_dir"])
    who = principal(db, state["user_id"])
    poll_s = Settings().worker_poll_s
    worker = Worker(db, handlers=handlers(data_dir), expand=expand_schedule, poll_s=poll_s)
    thread, stop = start_in_thread(worker)
    time.sleep(poll_s + 0.5)  # first housekeeping done; the worker is idle, polling
    load_before = _load()
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    t0_utc = datetime.now(UTC)
    job_id = submit(
        db, who, JobType.RECALCULATION, state["customer_id"], ReasonCode.PRICE_BOOK_UPDATE
    )
    t_submitted = time.perf_counter()
    notes: list[tuple[float, str]] = []
    # A light poll (one indexed row, Core, every 0.1 s): the process also runs
    # the job, and the figure comes from the job's own finished_at anyway.
    status_of = select(Job.status, Job.progress_note).where(Job.id == job_id)
    while True:
        with db.engine.connect() as conn:
            status, note = conn.execute(status_of).one()
        if note and (not notes or notes[-1][1] != note):
            notes.append((round(time.perf_counter() - t0, 2), note))
        if status in FINAL:
            break
        time.sleep(0.1)
    t_seen = time.perf_counter()
    cpu = _cpu_seconds() - cpu0
    load_after = _load()
    stop.set()
    thread.join()
    job = _job_row(db, job_id)
    result = json.loads(job.result or "{}")
    with db.session() as s:
        runs = s.scalars(
            select(BillingRun)
            .where(BillingRun.customer_id == state["customer_id"])
            .order_by(BillingRun.version)
        ).all()
        statuses = [(r.version, r.status) for r in runs]
        cache_rows = s.scalar(
            select(func.count())
            .select_from(BillingCacheRow)
            .where(BillingCacheRow.customer_id == state["customer_id"])
        )
    db.dispose()
    assert job.started_at is not None
    assert job.finished_at is not None
    # Submit (before the transaction began) to complete (the job row's
    # finished_at, committed with it), on this host's clock.
    seconds = (job.finished_at - t0_utc).total_seconds()
    target = round(TARGET_RECALC_S * SCALE, 2)
    steps = result.get("timings_s") or {}
    # Issue 16: everything but reading and rating (claim wait, plan,
    # fingerprint, diff, publish, commit), under 1 s for a 5 M-CDR month.
    fixed = seconds - float(steps.get("read", 0)) - float(steps.get("rate", 0))
    return {
        "status": job.status,
        "error": job.error,
        "rows": result.get("rows_rerated"),
        "seconds": round(seconds, 2),
        "target_seconds": target,
        "meets_target": job.status == JobStatus.COMPLETE.value and seconds <= target,
        "fixed_cost_seconds": round(fixed, 2),
        "fixed_cost_target_seconds": 1.0,
        "seconds_submit": round(t_submitted - t0, 3),
        "seconds_seen_by_poller": round(t_seen - t0, 2),  # 0.1 s polls
        "seconds_waiting_for_claim": round((job.started_at - job.created_at).total_seconds(), 2),
        "seconds_running": round((job.finished_at - job.started_at).total_seconds(), 2),
        "cpu_seconds": round(cpu, 2),  # this process, submit to complete, all threads
        "breakdown_s": result.get("timings_s"),
        "progress_notes_seen": notes,
        "result": {
            k: result.get(k)
            for k in (
                "new_version",
                "published",
                "run_version",
                "total_before",
                "total_after",
                "delta",
                "changed_items",
                "unrated",
            )
        },
        "runs": statuses,
        "cache_rows": cache_rows,
        "worker_poll_s": poll_s,
        "peak_rss_mb": _peak_rss_mb(),
        "load_average_before": load_before,
        "load_average_after": load_after,
    }


# ---------------------------------------------------------------- refresh


def customer_ref(i: int) -> str:
    return f"sub-{i:05d}"


def _cloud_usage(n_customers: int) -> pa.Table:
    """Daily rows of two SKUs per account for every day of PERIOD (UTC 00:00)."""
    days = PERIOD.days()
    n = n_customers * len(days) * 2
    cust = np.repeat(np.arange(n_customers), len(days) * 2)
    day = np.tile(np.repeat(np.arange(len(days)), 2), n_customers)
    sku = np.tile(np.arange(2), n_customers * len(days))
    first = int(datetime(PERIOD.year, PERIOD.month, 1, tzinfo=UTC).timestamp()) * 1_000_000
    start = first + day * 86_400_000_000
    refs = pa.array([customer_ref(int(i)) for i in range(n_customers)]).take(pa.array(cust))
    skus = pa.array(["vm.small", "disk.gb"]).take(pa.array(sku))
    record_ids = pa.array(
        [
            f"{customer_ref(int(c))}-{int(k)}-{int(d)}"
            for c, d, k in zip(cust, day, sku, strict=True)
        ]
    )
    qty = np.where(sku == 0, 24 + cust % 5, 100 + cust % 50) * 10**10  # whole units, scale 10
    columns = {
        "record_id": record_ids,
        "content_hash": pa.array(
            [hashlib.md5(r.encode()).hexdigest() for r in record_ids.to_pylist()]
        ),
        "import_id": pa.array(np.zeros(n, dtype=np.int64)),
        "source": pa.array(["focus"] * n),
        "kind": pa.array(["cloud"] * n),
        "account_ref": refs,
        "account_id": pa.array(np.full(n, -1, dtype=np.int64)),
        "usage_start": pa.array(start, pa.int64()).cast(USAGE_SCHEMA.field("usage_start").type),
        "usage_end": pa.array(start + 86_400_000_000, pa.int64()).cast(
            USAGE_SCHEMA.field("usage_end").type
        ),
        "service": pa.array(["Compute", "Storage"]).take(pa.array(sku)),
        "sku": skus,
        "region": pa.array(["westeurope"] * n),
        "quantity": pa.array(
            [Decimal(int(q)).scaleb(-10) for q in qty], USAGE_SCHEMA.field("quantity").type
        ),
        "unit": pa.array(["h", "GB-day"]).take(pa.array(sku)),
        "currency": pa.array(["EUR"] * n),
    }
    arrays = [
        columns[f.name].cast(f.type) if f.name in columns else pa.nulls(n, f.type)
        for f in USAGE_SCHEMA
    ]
    return pa.Table.from_arrays(arrays, schema=USAGE_SCHEMA)


def part_refresh_setup(backend: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    url, data_dir = fresh_state("refresh", backend)
    db = Database(url)
    with db.session() as s:
        set_session_actor(s, BENCH_ACTOR, "benchmark setup")
        _dist, partner, user = tenancy(s, "Acme Cloud Bench")
        book = PriceBook(name="Cloud EUR", kind="cloud", currency="EUR", owner_node_id=partner.id)
        s.add(book)
        s.flush()
        v1 = PriceBookVersion(price_book_id=book.id, version=1, effective_from=START)
        s.add(v1)
        s.flush()
        s.add_all(
            [
                PriceEntry(
                    version_id=v1.id,
                    sku="vm.small",
                    service="Compute",
                    unit="h",
                    unit_price=Decimal("0.0500000000"),
                ),
                PriceEntry(
                    version_id=v1.id,
                    sku="disk.gb",
                    service="Storage",
                    unit="GB-day",
                    unit_price=Decimal("0.0033333333"),
                ),
            ]
        )
        s.flush()
        mark_published(s, v1, by=None)
        customer_ids = []
        for i in range(N_CUSTOMERS):
            customer = create_node(
                s,
                NodeKind.CUSTOMER,
                name=f"Customer {i:05d}",
                parent=partner,
                tax_rate=Decimal("0.20"),
            )
            contract = Contract(
                customer_id=customer.id,
                seller_id=partner.id,
                currency="EUR",
                billing_tz="Europe/Paris",
                coverage_start=START.date(),
                active=True,
                cloud_price_book_id=book.id,
            )
            s.add(contract)
            s.flush()
            if i % 3 == 0:
                s.add(
                    ContractRule(
                        contract_id=contract.id,
                        version=1,
                        position=1,
                        kind="discount",
                        scope_service="Compute",
                        percent=Decimal(10),
                    )
                )
            account = create_account(
                s, AccountKind.MANAGEMENT_ACCOUNT, external_ref=customer_ref(i)
            )
            move_account(s, account, customer=customer, valid_from=START)
            customer_ids.append(customer.id)
        user_id = user.id
    who = principal(db, user_id)
    t1 = time.perf_counter()
    report = _import(
        db,
        data_dir,
        who,
        _cloud_usage(N_CUSTOMERS),
        file="bench-focus-2026-08.csv",
        account_column="SubAccountId",
        source="focus",
        kind=UsageKind.CLOUD,
        sha256="0" * 64,
    )
    t2 = time.perf_counter()
    _say(f"refresh/{backend}: {N_CUSTOMERS} first recalculations through the job system")
    for cid in customer_ids:
        submit(db, who, JobType.RECALCULATION, cid, ReasonCode.OTHER)
    ran = drain_in_process(db, data_dir)
    t3 = time.perf_counter()
    with db.session() as s:
        failed = s.scalar(
            select(func.count()).select_from(Job).where(Job.status != JobStatus.COMPLETE.value)
        )
        if failed:
            raise RuntimeError(f"{failed} first recalculations did not complete")
        set_session_actor(s, BENCH_ACTOR, "first invoices")
        for cid in customer_ids:
            customer = s.get(Node, cid)
            assert customer is not None
            invoices.issue(s, generate_for(s, customer, str(PERIOD)).invoice)
    t4 = time.perf_counter()
    db.dispose()
    save_state(
        "refresh",
        backend,
        {"url": url, "data_dir": str(data_dir), "user_id": user_id, "customers": customer_ids},
    )
    return {
        "customers": len(customer_ids),
        "usage_rows": report.new,
        "seconds_tenancy": round(t1 - t0, 2),
        "seconds_import": round(t2 - t1, 2),
        "first_recalculations": ran,
        "seconds_first_recalculations": round(t3 - t2, 2),
        "seconds_invoice_and_issue": round(t4 - t3, 2),
    }


def _worker_process(url: str, data_dir: str, ready: Any) -> None:
    """The body of `rerate worker` (run_worker_process with the billing handlers)."""
    tune_for_batch_work()  # as the CLI does
    ready.set()
    run_worker_process(
        url,
        lambda _db: handlers(Path(data_dir)),
        worker_id=f"bench-{os.getpid()}",
        poll_s=Settings().worker_poll_s,
        expand=expand_schedule,
    )


def _issued_invoices(db: Database, customers: list[int]) -> dict[int, int]:
    with db.session() as s:
        rows = s.execute(
            select(Invoice.customer_id, Invoice.id).where(
                Invoice.period == str(PERIOD), Invoice.status == "issued"
            )
        ).all()
    issued = {int(c): int(i) for c, i in rows}
    missing = set(customers) - issued.keys()
    if missing:
        raise RuntimeError(f"{len(missing)} customers have no Issued invoice to refresh")
    return issued


def verify_refresh(db: Database, before: dict[int, int]) -> dict[str, Any]:
    """Each old invoice Cancelled, exactly one new Ready invoice, linked both ways."""
    problems: list[str] = []
    with db.session() as s:
        rows = s.scalars(select(Invoice).where(Invoice.period == str(PERIOD))).all()
    by_customer: dict[int, list[Invoice]] = {}
    for inv in rows:
        by_customer.setdefault(inv.customer_id, []).append(inv)
    for cid, old_id in before.items():
        mine = {i.id: i for i in by_customer.get(cid, [])}
        old = mine[old_id]
        live = [i for i in mine.values() if i.status in ("draft", "ready", "issued", "paid")]
        if old.status != "cancelled":
            problems.append(f"customer {cid}: old invoice {old_id} is {old.status}")
        if len(live) != 1 or live[0].status != "ready":
            problems.append(f"customer {cid}: live invoices {[(i.id, i.status) for i in live]}")
            continue
        new = live[0]
        if old.replaced_by_id != new.id or new.replaces_id != old.id:
            problems.append(f"customer {cid}: {old.id} and {new.id} are not linked both ways")
    return {"ok": not problems, "checked": len(before), "problems": problems[:5]}


def part_refresh(backend: str, workers: int) -> dict[str, Any]:
    state = load_state("refresh", backend)
    db = Database(state["url"])
    customers: list[int] = state["customers"]
    who = principal(db, state["user_id"])
    before = _issued_invoices(db, customers)
    ctx = multiprocessing.get_context("spawn")
    procs = []
    try:
        for _ in range(workers):
            ready = ctx.Event()
            proc = ctx.Process(
                target=_worker_process, args=(state["url"], state["data_dir"], ready)
            )
            proc.start()
            procs.append((proc, ready))
        for _proc, ready in procs:
            ready.wait(60)
        time.sleep(Settings().worker_poll_s + 1.0)  # the workers are up and idle, polling
        load_before = _load()
        t0 = time.perf_counter()
        job_ids = [
            submit(db, who, JobType.INVOICE_REFRESH, cid, ReasonCode.INCORRECT_CHARGES)
            for cid in customers
        ]
        t_submitted = time.perf_counter()
        while True:
            with db.session() as s:
                done = s.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.id.in_(job_ids), Job.status.in_(FINAL))
                )
            if done == len(job_ids):
                break
            time.sleep(0.05)
        t1 = time.perf_counter()
        load_after = _load()
    finally:
        for proc, _ready in procs:
            proc.terminate()  # SIGTERM: a worker stops after its current job
        for proc, _ready in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    with db.session() as s:
        statuses = dict(
            s.execute(
                select(Job.status, func.count()).where(Job.id.in_(job_ids)).group_by(Job.status)
            ).all()
        )
        first_error = s.scalar(select(Job.error).where(Job.id.in_(job_ids), Job.error.is_not(None)))
    check = verify_refresh(db, before)
    db.dispose()
    seconds = t1 - t0
    target = round(TARGET_REFRESH_S * SCALE, 2)
    complete = statuses.get(JobStatus.COMPLETE.value, 0)
    return {
        "workers": workers,
        "worker_kind": "process (rerate worker: run_worker_process)",
        "jobs": len(job_ids),
        "statuses": statuses,
        "first_error": first_error,
        "seconds": round(seconds, 2),
        "target_seconds": target,
        "meets_target": complete == len(job_ids) and check["ok"] and seconds <= target,
        "jobs_per_second": round(len(job_ids) / seconds, 1),
        "seconds_submitting": round(t_submitted - t0, 2),
        "verified": check,
        "load_average_before": load_before,
        "load_average_after": load_after,
    }


def part_refresh_reissue(backend: str) -> dict[str, Any]:
    """Between two timed runs: issue the new Ready invoices (untimed)."""
    state = load_state("refresh", backend)
    db = Database(state["url"])
    t0 = time.perf_counter()
    with db.session() as s:
        set_session_actor(s, BENCH_ACTOR, "issue refreshed invoices")
        ready = s.scalars(
            select(Invoice)
            .where(Invoice.period == str(PERIOD), Invoice.status == "ready")
            .order_by(Invoice.customer_id)
        ).all()
        for inv in ready:
            invoices.issue(s, inv)
    db.dispose()
    return {"issued": len(ready), "seconds": round(time.perf_counter() - t0, 2)}


# ---------------------------------------------------------------- driver


def run_part(part: str, backend: str, workers: int) -> dict[str, Any]:
    if part == "gen-cdrs":
        return generate_cdrs()
    if part == "recalc-setup":
        return part_recalc_setup(backend)
    if part == "recalc-engine":
        return part_recalc_engine(backend)
    if part == "recalc":
        return part_recalc(backend)
    if part == "refresh-setup":
        return part_refresh_setup(backend)
    if part == "refresh":
        return part_refresh(backend, workers)
    if part == "refresh-reissue":
        return part_refresh_reissue(backend)
    raise ValueError(part)


PARTS = (
    "gen-cdrs",
    "recalc-setup",
    "recalc-engine",
    "recalc",
    "refresh-setup",
    "refresh",
    "refresh-reissue",
)


def _child(part: str, backend: str = "sqlite", workers: int = 1) -> dict[str, Any]:
    _say(f"{part} {backend}" + (f" workers={workers}" if part == "refresh" else ""))
    cmd = [
        sys.executable,
        __file__,
        "--part",
        part,
        "--backend",
        backend,
        "--workers",
        str(workers),
    ]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    if proc.returncode != 0 or not lines:
        return {"error": f"{part} exited {proc.returncode} (traceback above on stderr)"}
    return dict(json.loads(lines[-1]))


def _recalc(backend: str) -> dict[str, Any]:
    setup = _child("recalc-setup", backend)
    if "error" in setup:
        return {"setup": setup}
    baseline = _child("recalc-engine", backend)
    timed = _child("recalc", backend)
    if "seconds" in timed and "seconds" in baseline:
        timed["job_overhead_seconds"] = round(timed["seconds"] - baseline["seconds"], 2)
    return {"setup_untimed": setup, "engine_baseline": baseline, "job": timed}


def _refresh(backend: str) -> dict[str, Any]:
    setup = _child("refresh-setup", backend)
    if "error" in setup:
        return {"setup": setup}
    out: dict[str, Any] = {"setup_untimed": setup}
    out["workers_1"] = _child("refresh", backend, 1)
    out["reissue_untimed"] = _child("refresh-reissue", backend)
    out["workers_2"] = _child("refresh", backend, 2)
    return out


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    """Seconds against the targets, per scenario and database, at a glance."""
    out: dict[str, Any] = {}
    for backend, r in report.get("recalc", {}).items():
        job = r.get("job", {}) if isinstance(r, dict) else {}
        out[f"recalc_{backend}"] = (
            {
                k: job.get(k)
                for k in (
                    "seconds",
                    "target_seconds",
                    "meets_target",
                    "fixed_cost_seconds",
                    "fixed_cost_target_seconds",
                )
            }
            if "seconds" in job
            else r.get("skipped") or r.get("error") or "failed"
        )
    for backend, r in report.get("refresh", {}).items():
        for workers in ("workers_1", "workers_2"):
            part = r.get(workers, {}) if isinstance(r, dict) else {}
            out[f"refresh_{backend}_{workers}"] = (
                {k: part.get(k) for k in ("seconds", "target_seconds", "meets_target")}
                if "seconds" in part
                else r.get("skipped") or part.get("error") or "failed"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=["recalc", "refresh"], help="run one scenario only")
    parser.add_argument("--backend", choices=BACKENDS, help="one database only")
    parser.add_argument("--keep", action="store_true", help="keep databases and data dirs")
    args = parser.parse_args()
    if args.part:
        tune_for_batch_work()  # as the CLI does for `rerate worker` and `rerate serve`
        print(json.dumps(run_part(args.part, args.backend or "sqlite", args.workers), default=str))
        return
    report: dict[str, Any] = {
        "scale": SCALE,
        "cdrs": N_CDR,
        "customers": N_CUSTOMERS,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": _load(),
    }
    backends = [args.backend] if args.backend else list(BACKENDS)
    pg_reason = _pg_reason() if "postgres" in backends else None
    scenarios = [args.only] if args.only else ["recalc", "refresh"]
    for scenario in scenarios:
        report[scenario] = {}
        if scenario == "recalc":
            gen = _child("gen-cdrs")
            if "error" in gen:
                report[scenario] = {"error": gen}
                continue
        for backend in backends:
            if backend == "postgres" and pg_reason:
                report[scenario][backend] = {"skipped": pg_reason}
                continue
            run = _recalc if scenario == "recalc" else _refresh
            report[scenario][backend] = run(backend)
            if not args.keep:
                drop_state(scenario, backend)
    report["summary"] = _summary(report)
    report["load_average_at_end"] = _load()
    print(json.dumps(report, default=str))  # one line: bench/run.py reads the last stdout line


if __name__ == "__main__":
    main()
