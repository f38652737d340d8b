"""Benchmark of issue 16 section 2: billing many small customers at once.

    .venv/bin/python bench/bench_batch.py                   # 1,000 customers (SCALE 1.0)
    RERATE_BENCH_SCALE=10 .venv/bin/python bench/bench_batch.py --backend sqlite   # 10,000
    RERATE_BENCH_QUICK=1 .venv/bin/python bench/bench_batch.py                      # smoke

Setup (untimed): the refresh scenario's world of bench_recalc.py (customers on
one cloud price book, one account each, a month of daily usage: 62 rows per
customer), for N customers plus a baseline sample of K.

Timed, in one process, on the same database:
- baseline: K customers recalculated one job at a time (the path every job
  took before batches: `Worker` with batch size 1), drained in-process (no
  poll waits counted); per-job seconds, and that figure times N;
- batch: one submission of the N other customers
  (`bulk_submit.submit_recalculations(customer_ids=...)`, what POST
  /api/v1/billing/recalculations calls; each id checked against the caller's
  scope), then a `Worker` with
  the batch handler drains them; submit to the last Complete. The shared
  steps of each batch and the per-job publish are itemised from the jobs'
  results (`batch.shared_timings_s`, `timings_s`).

- demo billing (`--no-demo` skips it): the demo `make run` loads (scale 1.0,
  RERATE_BENCH_QUICK=1: 0.05), loaded once (untimed) and copied; `bill_demo`
  timed on one copy with the jobs one at a time (batch size 1, the baseline)
  and on the other in batches (what `rerate demo` does), split into the
  recalculation jobs and the invoicing after them.

Targets (issue 16): 1,000 customer-months in at most 10 s, 10,000 in at most
60 s (the target scales with N linearly between them: 10 s per 1,000 up to
1,000, then 10 s + 50 s per 9,000); the demo's billing in at most 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_recalc as br

from rerate.accounts.service import create_account, move_account
from rerate.billing.bulk_submit import submit_recalculations
from rerate.billing.tasks import batch_handlers, handlers
from rerate.jobs.worker import Worker
from rerate.kit import migrate
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.db import Database
from rerate.kit.runtime import tune_for_batch_work
from rerate.models import (
    Contract,
    ContractRule,
    Job,
    PriceBook,
    PriceBookVersion,
    PriceEntry,
)
from rerate.models.enums import AccountKind, NodeKind, ReasonCode
from rerate.pricebooks.service import mark_published
from rerate.tenancy.service import create_node
from rerate.usage.schema import UsageKind

QUICK = os.environ.get("RERATE_BENCH_QUICK") == "1"
SCALE = float(os.environ.get("RERATE_BENCH_SCALE", "1.0"))
N = 60 if QUICK else max(50, round(1000 * SCALE))
K = 20 if QUICK else min(200, max(20, N // 5))  # baseline sample, one job at a time
BATCH_SIZE = int(os.environ.get("RERATE_WORKER_BATCH_SIZE", "200"))
DEMO_SCALE = 0.05 if QUICK else 1.0


def target_seconds(n: int) -> float:
    return round(10.0 * n / 1000 if n <= 1000 else 10.0 + 50.0 * (n - 1000) / 9000, 2)


def setup(backend: str) -> tuple[Database, Path, Any, list[int]]:
    url, data_dir = br.fresh_state("batch", backend)
    db = Database(url)
    total = N + K
    with db.session() as s:
        set_session_actor(s, br.BENCH_ACTOR, "benchmark setup")
        _dist, partner, user = br.tenancy(s, "Acme Cloud Bench")
        book = PriceBook(name="Cloud EUR", kind="cloud", currency="EUR", owner_node_id=partner.id)
        s.add(book)
        s.flush()
        v1 = PriceBookVersion(price_book_id=book.id, version=1, effective_from=br.START)
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
        ids = []
        for i in range(total):
            customer = create_node(s, NodeKind.CUSTOMER, name=f"Customer {i:05d}", parent=partner)
            contract = Contract(
                customer_id=customer.id,
                seller_id=partner.id,
                currency="EUR",
                billing_tz="Europe/Paris",
                coverage_start=br.START.date(),
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
                s, AccountKind.MANAGEMENT_ACCOUNT, external_ref=br.customer_ref(i)
            )
            move_account(s, account, customer=customer, valid_from=br.START)
            ids.append(customer.id)
        user_id = user.id
    who = br.principal(db, user_id)
    br._import(
        db,
        data_dir,
        who,
        br._cloud_usage(total),
        file="bench-focus-2026-08.csv",
        account_column="SubAccountId",
        source="focus",
        kind=UsageKind.CLOUD,
        sha256="0" * 64,
    )
    return db, data_dir, who, ids


def _statuses(db: Database, request_id: str) -> dict[str, int]:
    with db.session() as s:
        return dict(
            s.execute(
                select(Job.status, func.count())
                .where(Job.request_id == request_id)
                .group_by(Job.status)
            ).all()
        )


def _results(db: Database, request_id: str) -> list[dict[str, Any]]:
    with db.session() as s:
        return [
            json.loads(r or "{}")
            for r in s.scalars(select(Job.result).where(Job.request_id == request_id))
        ]


def baseline(db: Database, data_dir: Path, who: Any, ids: list[int]) -> dict[str, Any]:
    """K customers, one job each, run one at a time (batch size 1)."""
    with db.write_session() as s:
        set_session_actor(s, Actor(who.user_id, who.email))
        sub = submit_recalculations(
            s, who, periods=[str(br.PERIOD)], reason=ReasonCode.OTHER, customer_ids=ids
        )
        request_id = sub.request_id
    worker = Worker(db, handlers=handlers(data_dir), worker_id="bench-one", expand=None)
    t0 = time.perf_counter()
    while worker.run_once():
        pass
    seconds = time.perf_counter() - t0
    results = _results(db, request_id)
    steps = _mean_steps(results)
    return {
        "jobs": len(ids),
        "statuses": _statuses(db, request_id),
        "seconds": round(seconds, 2),
        "seconds_per_job": round(seconds / len(ids), 4),
        "mean_step_seconds_per_job": steps,
        "extrapolated_seconds_for_n": round(seconds / len(ids) * N, 1),
    }


def _mean_steps(results: list[dict[str, Any]]) -> dict[str, float]:
    sums: dict[str, float] = {}
    for r in results:
        for k, v in (r.get("timings_s") or {}).items():
            sums[k] = sums.get(k, 0.0) + float(v)
    return {k: round(v / max(1, len(results)), 5) for k, v in sums.items()}


def batched(db: Database, data_dir: Path, who: Any, ids: list[int]) -> dict[str, Any]:
    worker = Worker(
        db,
        handlers=handlers(data_dir),
        batch_handlers=batch_handlers(data_dir),
        batch_size=BATCH_SIZE,
        worker_id="bench-batch",
        expand=None,
    )
    t0 = time.perf_counter()
    with db.write_session() as s:
        set_session_actor(s, Actor(who.user_id, who.email))
        sub = submit_recalculations(
            s, who, periods=[str(br.PERIOD)], reason=ReasonCode.OTHER, customer_ids=ids
        )
        request_id = sub.request_id
        queued = len(sub.jobs)
    t_submit = time.perf_counter()
    batches = 0
    while worker.run_once():
        batches += 1
    seconds = time.perf_counter() - t0
    results = _results(db, request_id)
    shared: dict[str, float] = {}
    seen: set[str] = set()
    for r in results:
        b = r.get("batch") or {}
        if b.get("id") in seen:
            continue
        seen.add(b.get("id"))
        for k, v in (b.get("shared_timings_s") or {}).items():
            shared[k] = round(shared.get(k, 0.0) + float(v), 3)
    steps = _mean_steps(results)
    run_s = seconds - (t_submit - t0)
    return {
        "jobs": queued,
        "batch_size": BATCH_SIZE,
        "batches": len(seen),
        "statuses": _statuses(db, request_id),
        "seconds": round(seconds, 2),
        "seconds_submit": round(t_submit - t0, 2),
        "seconds_per_job": round(seconds / max(1, queued), 5),
        "target_seconds": target_seconds(queued),
        "meets_target": seconds <= target_seconds(queued),
        # Summed over the batches: check, inputs, plan, read, rate_and_write, sync.
        "shared_step_seconds_total": shared,
        "fixed_seconds_per_batch": round(
            sum(v for k, v in shared.items() if k not in ("read", "rate_and_write"))
            / max(1, len(seen)),
            3,
        ),
        # Per job: its own rate/write/fingerprint and its fenced publish (diff, publish).
        "mean_step_seconds_per_job": steps,
        "fixed_seconds_per_job": round(
            (run_s - shared.get("read", 0) - sum(steps.get(k, 0) for k in ("rate",)) * queued)
            / max(1, queued),
            5,
        ),
    }


def demo_billing(backend: str) -> dict[str, Any]:
    """`make run`'s demo billing (`rerate demo`: `bill_demo` after the demo is
    loaded), timed twice on two copies of one loaded demo: the jobs one at a
    time (batch size 1, the baseline) and in batches (what `rerate demo` does)."""
    from rerate.demo.billing import bill_demo
    from rerate.demo.loader import load_demo
    from rerate.demo.regions import add_demo_regions

    if backend != "sqlite":
        return {"skipped": "the demo billing is measured on SQLite (what make run uses)"}
    base = br.DATA / "demo-billing"
    shutil.rmtree(base, ignore_errors=True)
    (base / "seed" / "data").mkdir(parents=True)
    url = f"sqlite:///{base / 'seed' / 'rerate.db'}"
    migrate.upgrade(url)
    db = Database(url)
    t0 = time.perf_counter()
    summary = load_demo(db, base / "seed" / "data", scale=DEMO_SCALE)
    add_demo_regions(db, base / "seed" / "data")
    db.dispose()
    out: dict[str, Any] = {
        "scale": DEMO_SCALE,
        "usage_rows": summary.usage_rows,
        "cdrs": summary.cdrs,
        "seconds_load_untimed": round(time.perf_counter() - t0, 1),
    }
    for name, size in (("one_at_a_time", 1), ("batched", BATCH_SIZE)):
        shutil.copytree(base / "seed", base / name)
        copy = Database(f"sqlite:///{base / name / 'rerate.db'}")
        load = br._load()
        t = time.perf_counter()
        billed = bill_demo(copy, base / name / "data", batch_size=size)
        out[name] = {
            "seconds": round(time.perf_counter() - t, 2),
            "seconds_recalculation_jobs": billed.seconds_jobs,
            "seconds_invoicing": billed.seconds_invoices,
            "jobs": billed.jobs,
            "failed": billed.failed,
            "invoices_issued": billed.invoices_issued,
            "load_average_before": load,
        }
        copy.dispose()
    out["target_seconds"] = 5.0
    out["meets_target"] = out["batched"]["seconds"] <= 5.0
    shutil.rmtree(base, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=br.BACKENDS, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo's billing")
    args = parser.parse_args()
    tune_for_batch_work()
    backends = [args.backend] if args.backend else list(br.BACKENDS)
    report: dict[str, Any] = {"customers": N, "baseline_sample": K, "scale": SCALE}
    for backend in backends:
        if backend == "postgres" and br._pg_reason():
            report[backend] = {"skipped": br._pg_reason()}
            continue
        load = br._load()
        br._say(f"batch/{backend}: setting up {N + K} customers")
        db, data_dir, who, ids = setup(backend)
        br._say(f"batch/{backend}: baseline, {K} jobs one at a time")
        base = baseline(db, data_dir, who, ids[:K])
        br._say(f"batch/{backend}: {N} jobs in batches")
        out = batched(db, data_dir, who, ids[K:])
        report[f"{backend}_demo_billing"] = (
            "skipped (--no-demo)" if args.no_demo else demo_billing(backend)
        )
        report[backend] = {
            "baseline_one_at_a_time": base,
            "batched": out,
            "speedup_per_job": round(
                base["seconds_per_job"] / max(out["seconds_per_job"], 1e-9), 1
            ),
            "load_average_before": load,
            "load_average_after": br._load(),
        }
        db.dispose()
        if not args.keep:
            br.drop_state("batch", backend)
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
