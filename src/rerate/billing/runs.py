"""Billing runs: compute (rate into Parquet), record, publish atomically, cache.

A run is the rated output of one (customer, period), written once under
`<data_dir>/runs/customer=<id>/period=<YYYY-MM>/<uuid>/` and never edited.
Publishing switches `current_runs` for that (customer, period) in the same
transaction that marks the old run superseded and rebuilds the cache, so a
reader sees the old state or the new one, never a mix. A run whose content
fingerprint equals the current run's is not recorded: a recalculation that
changes nothing creates no new version.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from rerate.billing import run_files
from rerate.billing.aggregates import cache_aggregates, cache_rows_of, unrated_counts
from rerate.billing.eligibility import active_contract
from rerate.billing.inputs import LOOKBACK, period_inputs
from rerate.billing.plan_builder import build_plan
from rerate.kit import crash
from rerate.kit.audit import record
from rerate.kit.errors import NotFound
from rerate.kit.periods import Month
from rerate.models import BillingCacheRow, BillingRun, CurrentRun, Node
from rerate.models.base import utcnow
from rerate.models.enums import RunStatus
from rerate.rating import backends, output
from rerate.rating.backends import RunUsage
from rerate.rating.owned import owned_rows
from rerate.usage.service import visible_import_ids
from rerate.usage.store import UsageStore

# LOOKBACK (billing/inputs.py): usage that starts this long before the period
# can still overlap it (overlap selection); the engine decides which rows
# belong, we only read wide enough.


@dataclass(frozen=True, slots=True)
class ComputedRun:
    customer_id: int
    period: str
    path: Path
    fingerprint: str
    currency: str
    row_count: int
    unrated_count: int
    net_total: Decimal
    list_total: Decimal
    summary: dict[str, Any]
    # SHA-256 of the run's manifest.json (sizes and checksums of its files).
    manifest_sha256: str | None = None
    # Seconds per step (plan, read, rate, write, fingerprint), for the job's result.
    timings: dict[str, float] = field(default_factory=dict)
    # What the run was computed from (billing/inputs.py), as recorded JSON.
    inputs: str | None = None
    # The run's tables as just written, when the computing side kept them (a
    # batch's small runs): publishing then diffs and caches from them instead
    # of reading the files back.
    tables: WrittenTables | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class WrittenTables:
    daily: pa.Table
    period_lines: pa.Table
    cache_rows: list[dict[str, Any]]  # aggregates.cache_aggregates of the run


def run_dir(data_dir: Path, customer_id: int, period: str) -> Path:
    return Path(data_dir) / "runs" / f"customer={customer_id}" / f"period={period}"


def compute_run(
    session: Session, data_dir: Path, customer: Node, period: Month, *, progress: Any = None
) -> ComputedRun:
    """Rate the customer's period with the current rules into a new run directory."""
    clock = _Clock()
    contract = active_contract(session, customer.id)
    if contract is None:
        raise NotFound(f"{customer.name} has no active contract")
    window = period.in_zone(contract.billing_tz)
    # The inputs are read before the plan and the usage: a change landing in
    # between then shows as a difference (a needless recalculation at worst),
    # never as a change the run missed. The usage read uses exactly the
    # imports whose highest id the inputs record.
    visible = visible_import_ids(session)
    inputs = period_inputs(
        session, customer.id, str(period), usage_watermark=max(visible, default=0)
    )
    plan, account_ids = build_plan(session, customer, window.start_utc - LOOKBACK, window.end_utc)
    clock.lap("plan")
    if progress:
        progress(0.1, "plan built")
    usage = RunUsage(
        store=UsageStore(data_dir),
        visible=visible,
        start_utc=window.start_utc - LOOKBACK,
        end_utc=window.end_utc,
        account_ids=account_ids,
        keep=partial(owned_rows, ownership=plan.ownership, customer_id=customer.id),
    )
    target = run_dir(data_dir, customer.id, str(period)) / uuid.uuid4().hex
    # The configured backend (RERATE_ENGINE) reads and rates; rated rows stream
    # to Parquet part by part while rating goes on, so a large customer-month
    # never holds its per-row table in memory whole.
    unrated = _UnratedCounter()
    with output.RunWriter(target) as writer:
        result = backends.configured().rate_run(
            usage,
            plan,
            window,
            # Quacks as the writer (it is one, plus counting): cast for the checker.
            cast(output.RunWriter, _Counting(writer, unrated)),
            progress=progress,
            lap=clock.lap,
        )
        clock.lap("rate")  # rated parts included: they are written while rating
        if progress:
            progress(0.7, "rated")
        writer.finish(result)
        manifest_sha256 = writer.manifest_sha256
    clock.lap("write")
    totals = result.summary.totals.get(contract.currency)
    summary = output.summary_dict(result.summary)
    digest = fingerprint_tables(result.daily, result.period_lines)  # what was just written
    clock.lap("fingerprint")
    return ComputedRun(
        customer_id=customer.id,
        period=str(period),
        path=target,
        fingerprint=digest,
        currency=contract.currency,
        row_count=result.summary.rows,
        unrated_count=result.summary.unrated,
        net_total=totals.total if totals else Decimal(0),
        list_total=totals.usage_list if totals else Decimal(0),
        summary=summary,
        manifest_sha256=manifest_sha256,
        timings=clock.laps,
        inputs=inputs.to_json(),
        # Publishing diffs and caches from these instead of reading the run
        # back, when every part went through this process (the embedded
        # engine); Spark's tasks write their parts themselves.
        tables=(
            WrittenTables(
                result.daily, result.period_lines, cache_rows_of(result.daily, unrated.counts)
            )
            if not unrated.bypassed
            else None
        ),
    )


class _Counting:
    """The run's writer, counting the unrated rows of each part it writes;
    a part added without passing here (`add_parts`: written by Spark's
    tasks) marks the counts incomplete."""

    def __init__(self, writer: output.RunWriter, unrated: _UnratedCounter) -> None:
        self._writer = writer
        self._unrated = unrated

    def write_part(self, index: int, rated: pa.Table, daily: pa.Table) -> None:
        self._unrated.add(rated)  # for the cache: the rated rows are not kept
        self._writer.write_part(index, rated, daily)

    def add_parts(self, *args: Any, **kwargs: Any) -> Any:
        self._unrated.bypassed = True
        return self._writer.add_parts(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


class _UnratedCounter:
    """Unrated rows per account, counted part by part as the engine's threads
    hand the parts over."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.bypassed = False  # some parts were not counted
        self._lock = threading.Lock()

    def add(self, rated: pa.Table) -> None:
        found = unrated_counts(rated)
        with self._lock:
            for account_id, n in found.items():
                self.counts[account_id] = self.counts.get(account_id, 0) + n


class _Clock:
    """Seconds per named step, for the job result's `timings_s`."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


def fingerprint(path: Path) -> str:
    """Hash of what a run bills (daily rows and period lines), not of how the
    files happen to be laid out, so equal content gives an equal fingerprint."""
    return fingerprint_tables(_read_daily_at(path), pq.read_table(path / "period_lines.parquet"))


def fingerprint_tables(daily: pa.Table, period_lines: pa.Table) -> str:
    """`fingerprint` of a run's tables as they are written (the engine's
    result), without reading the files back.

    Vectorised: every kept column is rendered as text (nulls as a sentinel),
    the columns are joined row-wise, the rows sorted, and the resulting
    string buffers hashed; no Python object per row.
    """
    digest = hashlib.sha256()
    for name, table in (("daily.parquet", daily), ("period_lines.parquet", period_lines)):
        columns = sorted(c for c in table.column_names if c not in _VOLATILE)
        digest.update(f"{name}:{','.join(columns)}:{table.num_rows}".encode())
        if not table.num_rows:
            continue
        if table.num_rows < _PARALLEL_ROWS:
            texts = [_text(table.column(c)) for c in columns]
        else:
            # Columns rendered on all cores (Arrow releases the GIL): the
            # decimal columns of a large run take most of the fingerprint's time.
            with ThreadPoolExecutor(max_workers=min(len(columns), os.cpu_count() or 1)) as pool:
                texts = list(pool.map(_text, [table.column(c) for c in columns]))
        rows = pc.binary_join_element_wise(*texts, _SEP)
        rows = pc.take(rows, pc.sort_indices(rows))
        _, offsets, values = rows.buffers()
        digest.update(offsets.to_pybytes())
        digest.update(values.to_pybytes())
    return digest.hexdigest()


# Below this many rows a thread pool costs more than it saves (a batch's small runs).
_PARALLEL_ROWS = 50_000


def _text(column: pa.ChunkedArray) -> pa.Array:
    return pc.fill_null(pc.cast(column, pa.string()), _NULL).combine_chunks()


_NULL = "\x00"
_SEP = "\x1f"
# Provenance ids change with every price-book edit even when prices do not;
# they are kept in the run but do not decide whether the billing changed.
_VOLATILE = frozenset({"entry_id", "version_id"})


def current_run(session: Session, customer_id: int, period: str) -> BillingRun | None:
    pointer = session.get(CurrentRun, (customer_id, period))
    return session.get(BillingRun, pointer.run_id) if pointer else None


def record_run(
    session: Session, computed: ComputedRun, *, job_id: int | None
) -> tuple[BillingRun, bool]:
    """Record `computed` as the next version; (run, created). When the content
    equals the current run's, the new files are removed and the current run
    is returned with created=False, unless the current run's files are
    missing or damaged: then the new run replaces it (this is how a
    recalculation repairs a period)."""
    current = current_run(session, computed.customer_id, computed.period)
    if (
        current is not None
        and current.fingerprint == computed.fingerprint
        and not run_files.problems(current, deep=True)
    ):
        shutil.rmtree(computed.path, ignore_errors=True)
        return current, False
    version = (
        session.scalar(
            select(func.max(BillingRun.version)).where(
                BillingRun.customer_id == computed.customer_id,
                BillingRun.period == computed.period,
            )
        )
        or 0
    ) + 1
    run = BillingRun(
        customer_id=computed.customer_id,
        period=computed.period,
        version=version,
        status=RunStatus.COMPUTED.value,
        job_id=job_id,
        path=str(computed.path),
        fingerprint=computed.fingerprint,
        row_count=computed.row_count,
        unrated_count=computed.unrated_count,
        currency=computed.currency,
        net_total=computed.net_total,
        list_total=computed.list_total,
        summary=json.dumps(computed.summary, default=str),
        manifest_sha256=computed.manifest_sha256,
        inputs=computed.inputs,
    )
    session.add(run)
    session.flush()
    return run, True


def confirm_inputs(session: Session, run: BillingRun, computed: ComputedRun) -> None:
    """A recalculation found the current run's content unchanged: the run is
    right for today's inputs, so it records them (and is no longer stale)."""
    if computed.inputs is None or run.inputs == computed.inputs:
        return
    run.inputs = computed.inputs
    record(session, "confirm_inputs", "billing_runs", run.id, version=run.version)


def publish(
    session: Session, run: BillingRun, *, cache_rows: list[dict[str, Any]] | None = None
) -> BillingRun | None:
    """Make `run` the current run of its (customer, period); returns the old one.
    `cache_rows`: the run's cache aggregates when the caller has them (else
    they are computed from its files).

    The pointer row is locked (`FOR UPDATE` on PostgreSQL; SQLite callers use a
    write session, BEGIN IMMEDIATE) so two publishers serialise and the last
    commit wins whole; the caller checks its fencing token in the same
    transaction, so a worker declared dead cannot publish.
    """
    pointer = session.scalar(
        select(CurrentRun)
        .where(CurrentRun.customer_id == run.customer_id, CurrentRun.period == run.period)
        .with_for_update()
    )
    previous = None
    if pointer is None:
        session.add(CurrentRun(customer_id=run.customer_id, period=run.period, run_id=run.id))
    else:
        previous = session.get(BillingRun, pointer.run_id)
        if previous is not None and previous.id != run.id:
            previous.status = RunStatus.SUPERSEDED.value
        pointer.run_id = run.id
        pointer.published_at = utcnow()
    run.status = RunStatus.PUBLISHED.value
    run.published_at = utcnow()
    session.flush()
    rebuild_cache(session, run.customer_id, run.period, cache_rows=cache_rows)
    crash.point("publish.in_transaction")
    record(
        session,
        "publish",
        "billing_runs",
        run.id,
        version=run.version,
        previous=previous.id if previous else None,
    )
    return previous


def _read_daily_at(path: Path) -> pa.Table:
    # Runs written before the daily rows were streamed as parts hold one file.
    single = path / "daily.parquet"
    if single.exists():
        return pq.read_table(single)
    return pa.concat_tables(
        [pq.read_table(p) for p in sorted((path / "daily").glob("part-*.parquet"))]
    )


# Reading goes through run_files: checked against the run's manifest, and a
# missing or damaged file is a RunUnreadable naming it.
read_daily = run_files.read_daily
read_period_lines = run_files.read_period_lines


def read_rated(run: BillingRun) -> pa.Table:
    # The engine writes the per-row table as parts (rated/part-*.parquet).
    return run_files.read_rated(run, columns=["account_id", "status"])


def rebuild_cache(
    session: Session,
    customer_id: int,
    period: str,
    *,
    cache_rows: list[dict[str, Any]] | None = None,
) -> int:
    """Replace the cache rows of (customer, period) with aggregates of the
    current run (`cache_rows`: those aggregates, already computed by whoever
    wrote the run)."""
    session.execute(
        delete(BillingCacheRow).where(
            BillingCacheRow.customer_id == customer_id, BillingCacheRow.period == period
        )
    )
    run = current_run(session, customer_id, period)
    if run is None:
        return 0
    rows = (
        cache_rows if cache_rows is not None else cache_aggregates(read_daily(run), read_rated(run))
    )
    for row in rows:
        session.add(
            BillingCacheRow(
                customer_id=customer_id,
                account_id=row["account_id"],
                period=period,
                run_id=run.id,
                currency=run.currency,
                quantity=row["quantity"],
                list_amount=row["list_amount"],
                net_amount=row["net_amount"],
                row_count=row["row_count"],
                unrated_count=row["unrated_count"],
            )
        )
    session.flush()
    return len(rows)
