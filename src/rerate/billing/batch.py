"""Billing many customers at once: one batch of recalculation jobs, one pass.

A worker claims several queued recalculation jobs of the same period together
(`queue.claim_batch`); this handler runs them as one piece of work:

1. each job's period is checked again (`check_period`, as a lone job does);
   a refused one fails alone;
2. the inputs of every (customer, period) are read at once
   (`inputs.inputs_for`), and each plan is built with the price books and
   timetables shared by the batch (`plan_builder.SharedCatalog`): customers
   on one price book build its snapshot once;
3. one usage scan reads the rows of every account of the batch; each
   customer gets its own rows (its accounts, its read window, rows of the
   accounts it owned at usage time), in the order a lone job reads them;
4. a tight loop rates each customer (`engine.rate`) and writes its run
   without a sync per file; then every run of the batch is synced at once
   (the file system commits concurrent syncs together) before any is
   published;
5. each job publishes in its own short write transaction with its own
   fencing check, exactly as a lone job does (`tasks.publish_computed`), and
   is marked Complete in it. A worker declared dead cannot publish any of
   them; a customer whose step fails fails its job only.

The results equal those of the jobs run one by one, row for row: the same
plan, the same rows in the same order, the same engine and the same publish.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import select

from rerate.billing import runs
from rerate.billing.aggregates import cache_aggregates
from rerate.billing.eligibility import check_period, known_for
from rerate.billing.inputs import LOOKBACK, inputs_for
from rerate.billing.plan_builder import SharedCatalog, build_plan
from rerate.billing.runs import ComputedRun, WrittenTables, run_dir
from rerate.jobs.worker import BatchOutcome, JobContext
from rerate.kit.errors import NotFound
from rerate.kit.periods import Month, Period
from rerate.models import Node
from rerate.models.base import utcnow
from rerate.rating import engine, output
from rerate.rating.owned import owned_rows
from rerate.rating.plan import RatingPlan
from rerate.usage.service import visible_import_ids
from rerate.usage.store import UsageStore

# Jobs one worker claims together (RERATE_WORKER_BATCH_SIZE): enough to spread
# the batch's fixed costs thin, few enough that a batch's memory and the time
# before its first publish stay small.
DEFAULT_BATCH_SIZE = 200
# Runs synced together: about what the file system commits in one go.
_SYNC_THREADS = 32


@dataclass
class _Member:
    """One job of the batch on its way: its customer, plan and computed run."""

    ctx: JobContext
    customer: Node
    window: Period
    plan: RatingPlan
    account_ids: list[int]
    inputs: str
    currency: str
    computed: ComputedRun | None = None


@dataclass
class BatchTimings:
    """Seconds of the batch's shared steps and the per-job means, for results."""

    claimed: int = 0
    seconds: dict[str, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"jobs": self.claimed, "seconds": self.seconds or {}}


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self._last, 4)
        self._last = now


def recalculate_batch(
    contexts: list[JobContext],
    data_dir: Path,
    publish: Callable[[JobContext, ComputedRun, dict[str, Any]], dict[str, Any]],
) -> dict[int, BatchOutcome]:
    """Run recalculation jobs of one period together; each job's outcome by id.
    `publish` is the lone job's fenced publish (billing/tasks.py)."""
    outcomes: dict[int, BatchOutcome] = {}
    clock = _Clock()
    batch_id = uuid.uuid4().hex[:12]
    period = contexts[0].claimed.period
    month = Month.parse(period)
    if any(c.claimed.period != period for c in contexts):
        raise ValueError("a batch holds jobs of one period")
    db = contexts[0].db
    members: list[_Member] = []
    with db.session() as session:
        visible = visible_import_ids(session)
        watermark = max(visible, default=0)
        customers: dict[int, Node] = {}
        ids = [c.claimed.customer_id for c in contexts]
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            list(session.scalars(select(Node).where(Node.id.in_(chunk))))  # into the session
        now = utcnow()
        known = known_for(session, ids, now)
        for ctx in contexts:
            try:
                customer = session.get(Node, ctx.claimed.customer_id)
                if customer is None:
                    raise NotFound(f"customer {ctx.claimed.customer_id} no longer exists")
                check_period(
                    session,
                    customer,
                    period,
                    ctx.claimed.type,
                    now=now,
                    known=known[customer.id],
                )
                customers[ctx.claimed.id] = customer
            except Exception as exc:
                outcomes[ctx.claimed.id] = exc
        clock.lap("check")
        pairs = [(c.customer_id, period) for c in (x.claimed for x in contexts)]
        inputs = inputs_for(session, pairs, usage_watermark=watermark)
        clock.lap("inputs")
        shared = SharedCatalog()
        for ctx in contexts:
            found = customers.get(ctx.claimed.id)
            if found is None:
                continue
            customer = found
            try:
                contract = known[customer.id].contract
                if contract is None:
                    raise NotFound(f"{customer.name} has no active contract")
                window = month.in_zone(contract.billing_tz)
                plan, account_ids = build_plan(
                    session, customer, window.start_utc - LOOKBACK, window.end_utc, shared=shared
                )
                members.append(
                    _Member(
                        ctx,
                        customer,
                        window,
                        plan,
                        account_ids,
                        inputs[(customer.id, period)].to_json(),
                        contract.currency,
                    )
                )
            except Exception as exc:
                outcomes[ctx.claimed.id] = exc
        session.expunge_all()
    clock.lap("plan")
    rows = _scan(data_dir, visible, members)
    clock.lap("read")
    for member, usage in zip(members, rows, strict=True):
        try:
            member.ctx.check()
            member.computed = _compute(data_dir, member, usage)
        except Exception as exc:
            outcomes[member.ctx.claimed.id] = exc
    del rows
    clock.lap("rate_and_write")
    computed = [m for m in members if m.computed is not None]
    _sync_all([m.computed.path for m in computed if m.computed is not None])
    clock.lap("sync")
    shared_s = dict(clock.laps)
    for member in computed:
        assert member.computed is not None
        started = time.perf_counter()
        extra = {
            "batch": {
                "id": batch_id,
                "jobs": len(contexts),
                # The batch's shared steps (seconds, for all its jobs together).
                "shared_timings_s": shared_s,
            }
        }
        try:
            outcomes[member.ctx.claimed.id] = publish(member.ctx, member.computed, extra)
        except Exception as exc:
            outcomes[member.ctx.claimed.id] = exc
        clock.laps["publish"] = round(
            clock.laps.get("publish", 0.0) + time.perf_counter() - started, 4
        )
    return outcomes


def _scan(data_dir: Path, visible: set[int], members: list[_Member]) -> list[pa.Table]:
    """Each member's usage rows, as `runs.compute_run` reads them for it alone,
    from one scan over every account of the batch."""
    if not members:
        return []
    accounts = sorted({a for m in members for a in m.account_ids})
    start = min(m.window.start_utc for m in members) - LOOKBACK
    end = max(m.window.end_utc for m in members)
    usage = UsageStore(data_dir).scan(
        visible,
        start_utc=start,
        end_utc=end,
        account_ids=accounts,
        columns=engine.USAGE_COLUMNS,
        ordered=False,
        skip_null_columns=True,
    )
    account_col = np.asarray(usage.column("account_id").to_numpy(), dtype=np.int64)
    starts = np.asarray(usage.column("usage_start").cast(pa.int64()).to_numpy(), dtype=np.int64)
    # Which member each account belongs to; an account of several members
    # (it moved between them) is read for each of them by a mask instead.
    owners: dict[int, list[int]] = {}
    for i, m in enumerate(members):
        for a in m.account_ids:
            owners.setdefault(a, []).append(i)
    single_ids = np.array(sorted(a for a, o in owners.items() if len(o) == 1), dtype=np.int64)
    single_owner = np.array([owners[int(a)][0] for a in single_ids], dtype=np.int64)
    label = np.full(len(account_col), -1, dtype=np.int64)
    if len(single_ids):
        pos = np.minimum(np.searchsorted(single_ids, account_col), len(single_ids) - 1)
        hit = single_ids[pos] == account_col
        label[hit] = single_owner[pos[hit]]
    # A stable sort keeps each member's rows in storage order (the order a
    # lone scan gives them, which the rated rows follow).
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(len(members) + 1))
    shared_accounts = {a for a, o in owners.items() if len(o) > 1}
    out: list[pa.Table] = []
    for i, m in enumerate(members):
        idx = order[bounds[i] : bounds[i + 1]]
        mine_shared = [a for a in m.account_ids if a in shared_accounts]
        if mine_shared:
            mask = np.isin(account_col, np.array(mine_shared, dtype=np.int64))
            mask[idx] = True
            idx = np.flatnonzero(mask)
        lo = _us(m.window.start_utc - LOOKBACK)
        hi = _us(m.window.end_utc)
        idx = idx[(starts[idx] >= lo) & (starts[idx] < hi)]
        table = usage.take(pa.array(idx)) if len(idx) != usage.num_rows else usage
        out.append(owned_rows(table, m.plan.ownership, m.customer.id))
    return out


def _us(instant: Any) -> int:
    return int(instant.timestamp() * 1_000_000)


def _compute(data_dir: Path, member: _Member, usage: pa.Table) -> ComputedRun:
    """Rate and write one customer's run, as `runs.compute_run` does (without
    the per-file syncs: `_sync_all` syncs the batch's runs together)."""
    clock = _Clock()
    target = run_dir(data_dir, member.customer.id, member.ctx.claimed.period) / uuid.uuid4().hex
    result = engine.rate(usage, member.plan, member.window)
    clock.lap("rate")
    with output.RunWriter(target, durable=False) as writer:
        writer.finish(result)
        manifest_sha256 = writer.manifest_sha256
    clock.lap("write")
    totals = result.summary.totals.get(member.currency)
    digest = runs.fingerprint_tables(result.daily, result.period_lines)
    clock.lap("fingerprint")
    return ComputedRun(
        customer_id=member.customer.id,
        period=member.ctx.claimed.period,
        path=target,
        fingerprint=digest,
        currency=member.currency,
        row_count=result.summary.rows,
        unrated_count=result.summary.unrated,
        net_total=totals.total if totals else Decimal(0),
        list_total=totals.usage_list if totals else Decimal(0),
        summary=output.summary_dict(result.summary),
        manifest_sha256=manifest_sha256,
        timings=clock.laps,
        inputs=member.inputs,
        # Publishing diffs and caches from these, not from the files read back.
        tables=WrittenTables(
            result.daily, result.period_lines, cache_aggregates(result.daily, result.rated)
        ),
    )


def _sync_all(paths: list[Path]) -> None:
    """Sync every run of the batch before the first is published; concurrent
    syncs share the file system's journal commits."""
    if not paths:
        return
    with ThreadPoolExecutor(max_workers=min(_SYNC_THREADS, len(paths))) as pool:
        list(pool.map(output.sync_run, paths))
