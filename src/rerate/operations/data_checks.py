"""The database and the data directory agree: published runs are readable and
match their checksums, the billing cache comes from the current runs, every
committed import's usage files are whole, and nothing else is left behind.

Layouts: billing runs under `runs/customer=<id>/period=<YYYY-MM>/<uuid>/`
(billing/runs.py), usage under `usage/day=<YYYY-MM-DD>/<import id>.parquet`
and `usage/_superseded/...` (usage/store.py).
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import select

from rerate.billing import run_files, runs
from rerate.jobs import queue
from rerate.kit.errors import Conflict
from rerate.models import BillingCacheRow, BillingRun, CurrentRun, UsageImport
from rerate.models.enums import JobType, ReasonCode, RunStatus
from rerate.operations.check import Check, CheckResult, Context, Finding
from rerate.usage.service import visible_import_ids
from rerate.usage.store import UsageStore

# A run directory younger than this may belong to a recalculation that has
# renamed it into place and not yet recorded it: never removed.
ORPHAN_RUN_GRACE = timedelta(minutes=15)
_CUSTOMER_RE = re.compile(r"^customer=(\d+)$")
_PERIOD_RE = re.compile(r"^period=(\d{4}-\d{2})$")
_USAGE_FILE_RE = re.compile(r"^(\d+)\.parquet$")


# --- published runs ------------------------------------------------------------------------


def _current_runs(ctx: Context) -> list[BillingRun]:
    with ctx.db.session() as s:
        return list(
            s.scalars(
                select(BillingRun)
                .join(CurrentRun, CurrentRun.run_id == BillingRun.id)
                .order_by(BillingRun.customer_id, BillingRun.period)
            )
        )


def _active_job(ctx: Context, customer_id: int, period: str) -> int | None:
    with ctx.db.session() as s:
        job = queue.find_active(s, queue.lock_key_for(customer_id, period))
        return job.id if job is not None else None


def published_runs(ctx: Context) -> CheckResult:
    result = CheckResult(
        "published_runs",
        "each published run is readable and matches its checksums"
        + ("" if ctx.deep else " (sizes only: --quick)"),
    )
    for run in _current_runs(ctx):
        found = run_files.problems(run, deep=ctx.deep)
        if run.status != RunStatus.PUBLISHED.value:
            found.append(f"it is current but its status is {run.status}")
        if not found:
            continue
        active = _active_job(ctx, run.customer_id, run.period)
        result.problems.append(
            Finding(
                f"run {run.id} (customer {run.customer_id}, {run.period}, version "
                f"{run.version}): {'; '.join(found)}",
                repair=f"job {active} is already queued or running for this period"
                if active
                else "queue a recalculation, which rebuilds the run from usage",
            )
        )
    return result


def queue_recalculations(ctx: Context, _result: CheckResult) -> list[str]:
    current = _current_runs(ctx)
    if len(current) > 1 and not any(Path(r.path).is_dir() for r in current):
        # Not damage: the data directory is not the one the database was used
        # with (restored elsewhere, a wrong RERATE_DATA_DIR). Re-rating every
        # period with today's rules would hide that.
        return [
            f"no recalculation queued: none of the {len(current)} published runs' directories "
            "exists; is RERATE_DATA_DIR the data directory this database was used with?"
        ]
    done = []
    for run in current:
        if not run_files.problems(run, deep=ctx.deep):
            continue
        try:
            with ctx.db.write_session() as s:
                job = queue.enqueue(
                    s,
                    type=JobType.RECALCULATION,
                    customer_id=run.customer_id,
                    period=run.period,
                    reason=ReasonCode.DATA_CORRECTION,
                    explanation=f"{ctx.actor_label}: run {run.id}'s files are missing or damaged",
                    actor_id=None,
                    actor_label=ctx.actor_label,
                    request_id=str(uuid.uuid4()),
                )
                job_id = job.id
        except Conflict:
            continue  # a job is already active for the period: it rebuilds the run
        done.append(
            f"queued recalculation job {job_id} for customer {run.customer_id} {run.period} "
            f"(run {run.id} unreadable); a worker rebuilds the run from usage"
        )
    return done


# --- billing cache -------------------------------------------------------------------------


def _stale_caches(ctx: Context) -> list[tuple[int, str, set[int], int | None]]:
    """(customer, period, run ids in the cache, current run id) where they differ."""
    with ctx.db.session() as s:
        current = {
            (c, p): r
            for c, p, r in s.execute(
                select(CurrentRun.customer_id, CurrentRun.period, CurrentRun.run_id)
            )
        }
        cached: dict[tuple[int, str], set[int]] = defaultdict(set)
        for c, p, r in s.execute(
            select(
                BillingCacheRow.customer_id, BillingCacheRow.period, BillingCacheRow.run_id
            ).distinct()
        ):
            cached[(c, p)].add(r)
    return [
        (c, p, ids, current.get((c, p)))
        for (c, p), ids in sorted(cached.items())
        if ids != {current.get((c, p))}
    ]


def billing_cache(ctx: Context) -> CheckResult:
    result = CheckResult("billing_cache", "the billing cache comes from the current runs")
    for customer_id, period, ids, current in _stale_caches(ctx):
        result.problems.append(
            Finding(
                f"customer {customer_id} {period}: cache rows from runs {sorted(ids)}, "
                f"current run {current}",
                repair="rebuild the cache from the current run",
            )
        )
    return result


def rebuild_caches(ctx: Context, _result: CheckResult) -> list[str]:
    done = []
    for customer_id, period, _ids, _current in _stale_caches(ctx):
        try:
            with ctx.db.write_session() as s:
                rows = runs.rebuild_cache(s, customer_id, period)
        except run_files.RunUnreadable as exc:
            done.append(f"cache of customer {customer_id} {period} not rebuilt: {exc.detail}")
            continue
        done.append(f"rebuilt the cache of customer {customer_id} {period} ({rows} rows)")
    return done


# --- usage files ---------------------------------------------------------------------------


def _usage_files(store: UsageStore) -> dict[int, list[Path]]:
    """Import id -> its row files (`usage/day=*/<id>.parquet`; markers excluded)."""
    files: dict[int, list[Path]] = defaultdict(list)
    if store.usage_dir.is_dir():
        for path in store.usage_dir.glob("day=*/*.parquet"):
            m = _USAGE_FILE_RE.match(path.name)
            if m:
                files[int(m.group(1))].append(path)
    return files


def usage_files(ctx: Context) -> CheckResult:
    result = CheckResult("usage_files", "every committed import's usage files are there and whole")
    store = UsageStore(ctx.data_dir)
    files = _usage_files(store)
    with ctx.db.session() as s:
        imports = list(
            s.execute(
                select(
                    UsageImport.id,
                    UsageImport.file_name,
                    UsageImport.rows_new,
                    UsageImport.rows_corrected,
                )
            )
        )
    for import_id, file_name, new, corrected in imports:
        expected = new + corrected
        rows = 0
        damaged = []
        for path in files.get(import_id, []):
            try:
                rows += pq.read_metadata(path).num_rows
            except Exception:  # any footer that does not read is a damaged file
                damaged.append(str(path.relative_to(ctx.data_dir)))
        if damaged or rows != expected:
            what = (
                f"{', '.join(damaged)} damaged"
                if damaged
                else f"{rows} rows in its files, {expected} recorded"
            )
            result.problems.append(
                Finding(
                    f"import {import_id} ({file_name}): {what}",
                    manual="restore the data directory from the backup taken with the "
                    "database, or import the source file again",
                )
            )
    committed = {i for i, *_ in imports}
    orphans = sorted(i for i in store.import_ids() if i not in committed)
    if orphans:
        result.notes.append(
            Finding(
                f"files of {len(orphans)} imports that never committed (ids "
                f"{', '.join(map(str, orphans[:10]))}{' ...' if len(orphans) > 10 else ''}); "
                "readers ignore them",
                repair="delete them",
            )
        )
    return result


def sweep_usage(ctx: Context, _result: CheckResult) -> list[str]:
    store = UsageStore(ctx.data_dir)
    # Under the import lock no import is between writing and committing, so
    # every invisible file is an orphan: no grace period needed.
    with store.import_lock(timeout=60):
        with ctx.db.session() as s:
            visible = visible_import_ids(s)
        removed = store.sweep_orphans(visible, grace=timedelta(0))
    return (
        [f"deleted {len(removed)} usage files of imports that never committed"] if removed else []
    )


# --- orphan run directories ----------------------------------------------------------------


def _run_dirs(ctx: Context) -> list[tuple[int, str, Path]]:
    root = ctx.data_dir / "runs"
    found: list[tuple[int, str, Path]] = []
    if not root.is_dir():
        return found
    for customer_dir in root.iterdir():
        c = _CUSTOMER_RE.match(customer_dir.name)
        if not c or not customer_dir.is_dir():
            continue
        for period_dir in customer_dir.iterdir():
            p = _PERIOD_RE.match(period_dir.name)
            if not p or not period_dir.is_dir():
                continue
            found += [(int(c.group(1)), p.group(1), d) for d in period_dir.iterdir() if d.is_dir()]
    return found


def _orphan_runs(ctx: Context) -> list[tuple[int, str, Path]]:
    with ctx.db.session() as s:
        # By directory name (a random uuid): robust to a data directory that
        # was moved, where the recorded absolute paths no longer match.
        known = {Path(p).name for p in s.scalars(select(BillingRun.path))}
    return [(c, p, d) for c, p, d in _run_dirs(ctx) if d.name not in known]


def orphan_runs(ctx: Context) -> CheckResult:
    result = CheckResult(
        "orphan_runs", "no run directories that no billing run refers to (left by a crash)"
    )
    orphans = _orphan_runs(ctx)
    if orphans:
        result.notes.append(
            Finding(
                f"{len(orphans)} run directories no billing run refers to, e.g. "
                f"{orphans[0][2].relative_to(ctx.data_dir)}",
                repair=f"delete those older than {int(ORPHAN_RUN_GRACE.total_seconds() // 60)} "
                "minutes whose period has no active job",
            )
        )
    return result


def remove_orphan_runs(ctx: Context, _result: CheckResult) -> list[str]:
    cutoff = time.time() - ORPHAN_RUN_GRACE.total_seconds()
    removed = 0
    for customer_id, period, path in _orphan_runs(ctx):
        if path.stat().st_mtime > cutoff or _active_job(ctx, customer_id, period):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return [f"deleted {removed} orphan run directories"] if removed else []


CHECKS = [
    Check("published_runs", published_runs, queue_recalculations),
    Check("billing_cache", billing_cache, rebuild_caches),
    Check("usage_files", usage_files, sweep_usage),
    Check("orphan_runs", orphan_runs, remove_orphan_runs),
]
