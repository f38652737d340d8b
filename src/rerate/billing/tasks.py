"""Job handlers: `billing.recalculate`, `invoicing.refresh`, `billing.cache_sync`.

Each handler does its slow work (rating, writing Parquet) outside any write
transaction, then takes one short write transaction that first checks the
job's fencing token (`queue.fenced`), publishes, and marks the job Complete
(`ctx.complete_within`): the effect and the status commit together. A worker
that was declared dead (its lease expired and the token moved on) therefore
cannot publish; a worker killed before that transaction commits leaves the
previous published run and invoices exactly as they were, and a job still
Running never published anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.billing import backfill, runs
from rerate.billing.diff import diff_runs, save_diff
from rerate.billing.eligibility import Ineligible, check_period
from rerate.billing.generation import candidate_customers, plan_generation
from rerate.invoicing.generate import generate_for
from rerate.jobs import queue
from rerate.jobs.schedules import Target, resolve_period_rule
from rerate.jobs.worker import BatchHandler, BatchOutcome, JobContext
from rerate.kit import crash
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import NotFound
from rerate.kit.periods import Month
from rerate.kit.present import money_plain
from rerate.models import Contract, JobSchedule, Node
from rerate.models.enums import JobType


def _customer(session: Session, customer_id: int) -> Node:
    node = session.get(Node, customer_id)
    if node is None:
        raise NotFound(f"customer {customer_id} no longer exists")
    return node


def _eligible_customer(session: Session, claimed: queue.ClaimedJob) -> Node:
    """The job's customer, once the period is checked again, now that the job
    runs: whoever queued it (a schedule, a cascade, a row inserted by hand) and
    whatever changed since, a period that is no longer eligible fails the job
    (`Ineligible`, with the reason) before it has any effect."""
    customer = _customer(session, claimed.customer_id)
    check_period(session, customer, claimed.period, claimed.type)
    return customer


def _actor(ctx: JobContext) -> Actor:
    return Actor(ctx.claimed.actor_id, f"job {ctx.claimed.id}")


def recalculate(ctx: JobContext, data_dir: Path) -> dict[str, Any]:
    claimed = ctx.claimed
    month = Month.parse(claimed.period)
    with ctx.db.session() as session:
        customer = _eligible_customer(session, claimed)
        computed = runs.compute_run(session, data_dir, customer, month, progress=ctx.progress)
    crash.point("recalculation.after_files")
    ctx.progress(Decimal("0.8"), "comparing with the published run")
    return publish_computed(ctx, computed, data_dir)


def publish_computed(
    ctx: JobContext,
    computed: runs.ComputedRun,
    data_dir: Path,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The fenced transaction of a recalculation: record the computed run,
    diff it with the published one, publish it (unless a dry run or unchanged)
    and mark the job Complete, all in one commit. A batch (billing/batch.py)
    calls it once per job, so each publishes and fences on its own. `extra`
    is merged into the job's result."""
    claimed = ctx.claimed
    timings = dict(computed.timings)
    started = time.perf_counter()
    with ctx.db.write_session() as session:
        set_session_actor(session, _actor(ctx), f"{claimed.reason}: {claimed.explanation}".strip())
        queue.fenced(session, claimed)
        before = runs.current_run(session, claimed.customer_id, claimed.period)
        run, created = runs.record_run(session, computed, job_id=claimed.id)
        # An unreadable previous run (files missing or damaged) does not stop
        # the recalculation that rebuilds it: its old values are unknown.
        written = computed.tables if created else None
        rows, unreadable = diff_runs(
            before,
            run,
            new_tables=(written.daily, written.period_lines) if written is not None else None,
        )
        diff_file = f"diffs/job-{claimed.id}.csv"
        save_diff(Path(data_dir) / diff_file, rows, unreadable)
        timings["diff"] = round(time.perf_counter() - started, 3)
        published = created and not claimed.dry_run
        if published:
            runs.publish(
                session, run, cache_rows=written.cache_rows if written is not None else None
            )
        elif not created and not claimed.dry_run:
            runs.confirm_inputs(session, run, computed)
        total_before = before.net_total if before else Decimal(0)
        session.flush()
        timings["publish"] = round(time.perf_counter() - started - timings["diff"], 3)
        result = {
            "rows_rerated": computed.row_count,
            "unrated": computed.unrated_count,
            "run_id": run.id,
            "run_version": run.version,
            "previous_run_id": before.id if before else None,
            "new_version": created,
            "published": published,
            "dry_run": claimed.dry_run,
            "currency": computed.currency,
            # Run totals are rounded at the boundary (usage net, then each
            # period line): shown at the minor unit, like the invoice.
            "total_before": money_plain(total_before, computed.currency),
            "total_after": money_plain(computed.net_total, computed.currency),
            "delta": money_plain(computed.net_total - total_before, computed.currency),
            "changed_items": sum(1 for r in rows if r["delta_amount"] != 0),
            "previous_run_unreadable": unreadable,
            # Relative to the data directory: results are shown to callers,
            # who have no business knowing where the server keeps its files.
            "diff_file": diff_file,
            # Seconds per step: plan, read, rate, write, fingerprint (outside
            # any transaction), then diff and publish (record, switch, cache)
            # in the fenced one; the commit follows.
            "timings_s": timings,
            **(extra or {}),
        }
        ctx.complete_within(session, result)  # commits with the publish
        return result


def refresh(ctx: JobContext, data_dir: Path) -> dict[str, Any]:
    claimed = ctx.claimed
    del data_dir
    with ctx.db.write_session() as session:
        set_session_actor(session, _actor(ctx), f"{claimed.reason}: {claimed.explanation}".strip())
        queue.fenced(session, claimed)
        customer = _eligible_customer(session, claimed)
        outcome = generate_for(
            session,
            customer,
            claimed.period,
            job_id=claimed.id,
            refresh=True,
            reason=f"invoice refresh: {claimed.reason} {claimed.explanation}".strip(),
        )
        if outcome.unchanged:
            # Same lines and totals as the live invoice: it stays as it is
            # (an Issued invoice is not cancelled and issued again).
            result = {
                "invoice_id": outcome.invoice.id,
                "unchanged": True,
                "invoices_created": [],
                "invoices_cancelled": [],
                "credit_notes_created": [],
                "invoices_credited": [],
                "superseded": None,
                "currency": outcome.invoice.currency,
                "total_before": money_plain(outcome.invoice.total, outcome.invoice.currency),
                "total_after": money_plain(outcome.invoice.total, outcome.invoice.currency),
            }
            ctx.complete_within(session, result)
            return result
        result = {
            "invoice_id": outcome.invoice.id,
            "unchanged": False,
            "invoices_created": [outcome.invoice.id],
            "invoices_cancelled": outcome.cancelled,
            # Correction by credit note: the previous invoice stays issued
            # (now Credited) and the note reverses it in full.
            "credit_notes_created": [outcome.credit_note.id] if outcome.credit_note else [],
            "invoices_credited": [outcome.previous.id]
            if outcome.previous and outcome.credit_note
            else [],
            "superseded": outcome.previous.id
            if outcome.previous and not outcome.cancelled and not outcome.credit_note
            else None,
            "currency": outcome.invoice.currency,
            "total_before": money_plain(outcome.previous.total, outcome.previous.currency)
            if outcome.previous
            else None,
            "total_after": money_plain(outcome.invoice.total, outcome.invoice.currency),
        }
        ctx.complete_within(session, result)  # commits with the new invoices
        return result


def cache_sync(ctx: JobContext, data_dir: Path) -> dict[str, Any]:
    claimed = ctx.claimed
    del data_dir
    with ctx.db.write_session() as session:
        queue.fenced(session, claimed)
        _eligible_customer(session, claimed)
        result = {"cache_rows": runs.rebuild_cache(session, claimed.customer_id, claimed.period)}
        ctx.complete_within(session, result)
    return result


def batch_handlers(data_dir: Path) -> Mapping[JobType, BatchHandler]:
    """Job types a worker may run several at a time (billing/batch.py)."""
    from rerate.billing.batch import recalculate_batch

    def recalculations(contexts: list[JobContext]) -> dict[int, BatchOutcome]:
        return recalculate_batch(
            contexts, data_dir, lambda ctx, c, extra: publish_computed(ctx, c, data_dir, extra)
        )

    return {JobType.RECALCULATION: recalculations}


def handlers(data_dir: Path) -> Mapping[JobType, Callable[[JobContext], dict[str, Any]]]:
    from rerate.collection import tasks as collection

    return {
        JobType.RECALCULATION: lambda ctx: recalculate(ctx, data_dir),
        JobType.INVOICE_REFRESH: lambda ctx: refresh(ctx, data_dir),
        JobType.CACHE_SYNC: lambda ctx: cache_sync(ctx, data_dir),
        JobType.BACKFILL: lambda ctx: backfill.run_backfill(ctx, data_dir),
        **collection.handlers(data_dir),
    }


def expand_schedule(session: Session, schedule: JobSchedule, at: datetime) -> list[Target]:
    """Targets of one schedule occurrence: its customer, or every customer with an
    active contract; each one checked by the rules a direct submission obeys
    (`check_period` at the occurrence instant), so a refused one is recorded
    with its reason instead of queued. The job checks again when it runs.
    A region's collection schedule expands to its region (collection/tasks.py)."""
    if schedule.type == JobType.COLLECT_USAGE.value:
        from rerate.collection import tasks as collection

        return collection.expand_schedule(session, schedule, at)
    period = resolve_period_rule(schedule.period_rule, at)
    if schedule.customer_id is None and JobType(schedule.type) == JobType.RECALCULATION:
        # Every customer's month: the scheduled billing generation, through the
        # same selection as generate_monthly_billing_records (billing/generation.py).
        return plan_generation(
            session, [Month.parse(period)], candidate_customers(session, None), now=at
        )
    if schedule.customer_id is not None:
        customer_ids = [schedule.customer_id]
    else:
        customer_ids = sorted(
            session.scalars(select(Contract.customer_id).where(Contract.active.is_(True)))
        )
    return [
        _target(session, customer_id, period, JobType(schedule.type), at)
        for customer_id in customer_ids
    ]


def _target(
    session: Session, customer_id: int, period: str, type_: JobType, at: datetime
) -> Target:
    customer = session.get(Node, customer_id)
    if customer is None:
        return Target(customer_id, period, refused=f"customer {customer_id} no longer exists")
    try:
        check_period(session, customer, period, type_, now=at)
    except Ineligible as exc:
        return Target(customer_id, period, refused=exc.detail)
    return Target(customer_id, period)
