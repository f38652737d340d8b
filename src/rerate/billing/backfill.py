"""Backfill: billing recomputed over a date range for a set of customers, as one
job, with a reconciliation against what was published.

A backfill covers every month the half-open range `[start, end)` touches (a
billing run is one customer's whole month, `runs.py`), for the named
customers or every customer with an active contract. For each (customer,
period) the job computes a run with today's rules and records, in
`backfill_items`, the total published before, the backfilled total and the
difference. By default it publishes nothing (a dry run): the computed runs
stay `computed`, beside the published ones, for review. With `publish` each
period is published in its own transaction through the normal path
(`runs.publish`: the pointer switch, the cache rebuild and the audit entry,
fenced by the job's token), so a backfill stopped half-way leaves whole
periods published or not, and its items say which.

Publishing a reviewed dry run later (`submit_publish_reviewed`) publishes the
reviewed runs themselves when their inputs (billing/inputs.py: prices,
contract, timetable, profiles, custom items, ownership, usage watermark) are
unchanged since they were computed, so what is published is what was
reviewed; a period whose inputs changed is computed again and published with
its new numbers, and its item says so.

Only platform roles backfill (the permission to generate invoices, which
only they hold): a backfill crosses every tenant. One backfill runs at a time
per platform (its lock key); a recalculation of a period a backfill also
covers may run meanwhile: publishing is serialised on the period's pointer row,
and the item's "previous" total is read in the transaction that publishes.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Permission, Principal
from rerate.billing import run_files, runs
from rerate.billing.eligibility import EARLIEST_PERIOD, Ineligible, check_period, eligible_customers
from rerate.billing.inputs import Inputs, period_inputs
from rerate.jobs import queue
from rerate.jobs.worker import JobContext
from rerate.kit import csvout
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import Conflict, Forbidden, Invalid, NotFound, RerateError
from rerate.kit.periods import Month
from rerate.kit.present import amount_plain
from rerate.models import Backfill, BackfillItem, BillingRun, Job, Node
from rerate.models.base import utcnow
from rerate.models.enums import JobStatus, JobType, NodeKind, ReasonCode, RunStatus
from rerate.tenancy.service import get_customer
from rerate.usage.service import visible_import_ids

MAX_MONTHS = 36
MAX_ITEMS = 10_000
PERMISSION = Permission.GENERATE_INVOICES
"""Platform roles only: no other role holds it."""


def months_in(start: date, end: date) -> list[Month]:
    """The months the half-open range `[start, end)` touches."""
    if end <= start:
        raise Invalid("end: must be after start (the range is [start, end), end excluded)")
    first, last = Month.of(start), Month.of(date.fromordinal(end.toordinal() - 1))
    months = [first]
    while months[-1] < last:
        months.append(months[-1].next())
    return months


def lock_key(root_id: int) -> str:
    return f"backfill:{root_id}"


def _platform_root(principal: Principal, session: Session) -> Node:
    """The platform node the caller's backfill permission is held on."""
    if not principal.is_platform():
        raise Forbidden("a backfill is for platform roles")
    for grant in sorted(principal.grants, key=lambda g: g.node_path):
        node = session.get(Node, grant.node_id)
        if node is not None and node.kind == NodeKind.PLATFORM and principal.has(PERMISSION):
            return node
    raise Forbidden(f"your role does not grant {PERMISSION.value}")


@dataclass(frozen=True, slots=True)
class Submitted:
    job: Job
    backfill: Backfill
    items: int
    skipped: int


def submit_backfill(
    session: Session,
    principal: Principal,
    *,
    start: date,
    end: date,
    customer_ids: list[int] | None = None,
    publish: bool = False,
    explanation: str = "",
) -> Submitted:
    """Queue a backfill job; the caller commits. Each customer id is checked
    against the caller's scope (404 outside it); each (customer, period) by the
    rules every billing operation obeys (`check_period`): one that fails them
    is listed as skipped, with the reason, rather than refusing the whole
    range (a range over many customers crosses many contract starts)."""
    root = _platform_root(principal, session)
    months = months_in(start, end)
    if months[0] < EARLIEST_PERIOD:
        raise Invalid(f"start: {months[0]} is before {EARLIEST_PERIOD}, the earliest period")
    if len(months) > MAX_MONTHS:
        raise Invalid(
            f"end: a backfill covers at most {MAX_MONTHS} months, this range {len(months)}"
        )
    if customer_ids:
        if len(set(customer_ids)) != len(customer_ids):
            raise Invalid("customer_ids: a customer is named twice")
        customers = [get_customer(session, principal, cid, PERMISSION) for cid in customer_ids]
        for customer in customers:
            if not customer.path.startswith(root.path):
                raise NotFound("not found")
    else:
        customers = [
            node
            for node, _contract in eligible_customers(session, principal)
            if node.path.startswith(root.path)
        ]
        if not customers:
            raise Invalid("customer_ids: no customer has an active contract to backfill")
    if len(customers) * len(months) > MAX_ITEMS:
        raise Invalid(
            f"a backfill covers at most {MAX_ITEMS} (customer, period) pairs; "
            "split the range or the customers"
        )
    active = queue.find_active(session, lock_key(root.id))
    if active is not None:
        raise Conflict(f"backfill job {active.id} is already {active.status}", job_id=active.id)
    now = utcnow()
    planned: list[tuple[Node, Month, str | None]] = []
    for customer in sorted(customers, key=lambda c: (c.name, c.id)):
        for month in months:
            try:
                check_period(session, customer, str(month), JobType.RECALCULATION, now=now)
                planned.append((customer, month, None))
            except Ineligible as exc:
                planned.append((customer, month, exc.detail))
    if all(why is not None for _c, _m, why in planned):
        raise Ineligible(f"nothing to backfill: {planned[0][2]}")
    text = explanation.strip()
    if len(text) > 2000:
        raise Invalid("explanation: limited to 2000 characters")
    summary = (
        f"backfill [{start}, {end}) of {len(customers)} "
        f"customer{'s' if len(customers) != 1 else ''}"
        + (", published" if publish else ", dry run")
    )
    job = queue.enqueue(
        session,
        type=JobType.BACKFILL,
        customer_id=root.id,
        period=str(months[0]),
        reason=ReasonCode.DATA_CORRECTION,
        explanation=f"{summary}: {text}" if text else summary,
        actor_id=principal.user_id,
        actor_label=principal.email,
        dry_run=not publish,
        request_id=str(uuid.uuid4()),
        lock_key=lock_key(root.id),
    )
    backfill = Backfill(
        job_id=job.id, start_date=start, end_date=end, publish=publish, created_at=now
    )
    session.add(backfill)
    session.flush()
    for customer, month, why in planned:
        session.add(
            BackfillItem(
                backfill_id=backfill.id,
                customer_id=customer.id,
                period=str(month),
                status="pending" if why is None else "skipped",
                note=why or "",
                published=False,
                reused=False,
                updated_at=now,
            )
        )
    session.flush()
    skipped = sum(1 for *_x, why in planned if why is not None)
    return Submitted(job, backfill, len(planned) - skipped, skipped)


def backfill_of(session: Session, job: Job) -> Backfill:
    backfill = session.scalar(select(Backfill).where(Backfill.job_id == job.id))
    if backfill is None:
        raise NotFound(f"job {job.id} is not a backfill")
    return backfill


def visible_backfill_job(session: Session, principal: Principal, job_id: int) -> Job:
    """The backfill job `job_id`, if the caller may see it (404 otherwise)."""
    job = session.get(Job, job_id)
    if job is None or job.type != JobType.BACKFILL.value:
        raise NotFound(f"job {job_id} not found")
    root = session.get(Node, job.customer_id)
    if root is None or not principal.can_see(root.path):
        raise NotFound(f"job {job_id} not found")
    principal.require(PERMISSION, root.path)
    return job


def submit_publish_reviewed(session: Session, principal: Principal, job_id: int) -> Submitted:
    """Queue the publication of a completed dry-run backfill's runs (the
    reviewed ones when their inputs are unchanged, else recomputed)."""
    source = visible_backfill_job(session, principal, job_id)
    if not source.dry_run:
        raise Conflict(f"job {job_id} published its backfill already")
    if source.status != JobStatus.COMPLETE.value:
        raise Conflict(f"job {job_id} is {source.status}: only a complete dry run is published")
    reviewed = backfill_of(session, source)
    again = session.scalar(select(Backfill).where(Backfill.reviewed_job_id == source.id))
    if again is not None:
        raise Conflict(f"job {again.job_id} publishes this backfill already", job_id=again.job_id)
    root = _platform_root(principal, session)
    active = queue.find_active(session, lock_key(root.id))
    if active is not None:
        raise Conflict(f"backfill job {active.id} is already {active.status}", job_id=active.id)
    now = utcnow()
    job = queue.enqueue(
        session,
        type=JobType.BACKFILL,
        customer_id=root.id,
        period=source.period,
        reason=ReasonCode.DATA_CORRECTION,
        explanation=f"publish the backfill reviewed in job {source.id}",
        actor_id=principal.user_id,
        actor_label=principal.email,
        dry_run=False,
        request_id=str(uuid.uuid4()),
        lock_key=lock_key(root.id),
    )
    backfill = Backfill(
        job_id=job.id,
        start_date=reviewed.start_date,
        end_date=reviewed.end_date,
        publish=True,
        reviewed_job_id=source.id,
        created_at=now,
    )
    session.add(backfill)
    session.flush()
    count = skipped = 0
    for old in session.scalars(
        select(BackfillItem)
        .where(BackfillItem.backfill_id == reviewed.id)
        .order_by(BackfillItem.id)
    ):
        publishable = old.status in ("computed", "unchanged")
        session.add(
            BackfillItem(
                backfill_id=backfill.id,
                customer_id=old.customer_id,
                period=old.period,
                status="pending" if publishable else "skipped",
                note="" if publishable else f"{old.status} in the review: not published",
                published=False,
                reused=False,
                updated_at=now,
            )
        )
        count += publishable
        skipped += not publishable
    session.flush()
    return Submitted(job, backfill, count, skipped)


# --- the job -----------------------------------------------------------------------------


def inputs_key(inputs_json: str | None) -> str | None:
    """What decides whether a run is still right: its billing zone and each
    input component's digest (not when they were read)."""
    if inputs_json is None:
        return None
    inputs = Inputs.from_json(inputs_json)
    return json.dumps(
        [inputs.billing_tz, sorted((k, c.digest) for k, c in inputs.components.items())]
    )


def _record(
    item: BackfillItem,
    *,
    status: str,
    before: BillingRun | None,
    run: BillingRun | None,
    published: bool = False,
    reused: bool = False,
    note: str = "",
) -> None:
    item.status = status
    item.previous_run_id = before.id if before else None
    item.previous_total = before.net_total if before else None
    item.run_id = run.id if run else None
    item.currency = run.currency if run else (before.currency if before else None)
    item.backfilled_total = run.net_total if run else None
    item.published = published
    item.reused = reused
    item.note = note
    if run is None:
        item.difference = None
    elif before is not None and before.currency != run.currency:
        item.difference = None
        item.note = (note + "; " if note else "") + (
            f"currency changed from {before.currency} to {run.currency}: no difference"
        )
    else:
        item.difference = run.net_total - (before.net_total if before else Decimal(0))
    item.updated_at = utcnow()


def run_backfill(ctx: JobContext, data_dir: Path) -> dict[str, Any]:
    claimed = ctx.claimed
    with ctx.db.session() as session:
        job = session.get(Job, claimed.id)
        assert job is not None
        backfill = backfill_of(session, job)
        backfill_id, publish, reviewed_job = backfill.id, backfill.publish, backfill.reviewed_job_id
        pending = list(
            session.execute(
                select(BackfillItem.id, BackfillItem.customer_id, BackfillItem.period)
                .where(BackfillItem.backfill_id == backfill_id, BackfillItem.status == "pending")
                .order_by(BackfillItem.id)
            ).all()
        )
        reviewed: dict[tuple[int, str], tuple[str, int | None]] = {}
        if reviewed_job is not None:
            source = session.scalar(select(Backfill).where(Backfill.job_id == reviewed_job))
            assert source is not None
            reviewed = {
                (i.customer_id, i.period): (i.status, i.run_id)
                for i in session.scalars(
                    select(BackfillItem).where(BackfillItem.backfill_id == source.id)
                )
            }
    actor = Actor(claimed.actor_id, f"job {claimed.id}")
    for n, (item_id, customer_id, period) in enumerate(pending):
        ctx.progress(
            Decimal(n) / Decimal(max(len(pending), 1)), f"{period} of customer {customer_id}"
        )
        try:
            _one(
                ctx,
                data_dir,
                actor,
                item_id,
                customer_id,
                period,
                publish,
                reviewed.get((customer_id, period)),
            )
        except RerateError as exc:
            # One period that cannot be billed (no contract any more, damaged
            # files) is reported and the others go on.
            with ctx.db.write_session() as session:
                queue.fenced(session, claimed)
                item = session.get(BackfillItem, item_id)
                assert item is not None
                status = "skipped" if isinstance(exc, Ineligible) else "failed"
                _record(item, status=status, before=None, run=None, note=exc.detail)
    with ctx.db.write_session() as session:
        result = summary(session, backfill_id)
        ctx.complete_within(session, result)
        return result


def _one(
    ctx: JobContext,
    data_dir: Path,
    actor: Actor,
    item_id: int,
    customer_id: int,
    period: str,
    publish: bool,
    review: tuple[str, int | None] | None,
) -> None:
    claimed = ctx.claimed
    # Reuse the reviewed run when nothing it was computed from has changed.
    if review is not None:
        with ctx.db.session() as session:
            customer = session.get(Node, customer_id)
            if customer is None:
                raise NotFound(f"customer {customer_id} no longer exists")
            check_period(session, customer, period, JobType.RECALCULATION)
            status, run_id = review
            run = session.get(BillingRun, run_id) if run_id else None
            now = period_inputs(
                session,
                customer_id,
                period,
                usage_watermark=max(visible_import_ids(session), default=0),
            )
            same = (
                run is not None
                and inputs_key(run.inputs) == inputs_key(now.to_json())
                and not run_files.problems(run)
            )
        if same and run is not None:
            with ctx.db.write_session() as session:
                set_session_actor(session, actor, f"backfill reviewed in job {claimed.id}")
                queue.fenced(session, claimed)
                item = session.get(BackfillItem, item_id)
                run = session.get(BillingRun, run.id)
                assert item is not None
                assert run is not None
                before = runs.current_run(session, customer_id, period)
                if before is not None and before.id == run.id:
                    _record(item, status="unchanged", before=before, run=run, reused=True)
                elif status == "unchanged" or run.status != RunStatus.COMPUTED.value:
                    # Reviewed as unchanged and still right, or superseded meanwhile.
                    _record(item, status="unchanged", before=before, run=before or run, reused=True)
                else:
                    runs.publish(session, run)
                    _record(
                        item,
                        status="published",
                        before=before,
                        run=run,
                        published=True,
                        reused=True,
                    )
            return
    with ctx.db.session() as session:
        customer = session.get(Node, customer_id)
        if customer is None:
            raise NotFound(f"customer {customer_id} no longer exists")
        month = check_period(session, customer, period, JobType.RECALCULATION)
        computed = runs.compute_run(session, data_dir, customer, month)
    ctx.check()
    note = "inputs changed since the review: computed again" if review is not None else ""
    with ctx.db.write_session() as session:
        set_session_actor(session, actor, f"backfill job {claimed.id}")
        queue.fenced(session, claimed)
        item = session.get(BackfillItem, item_id)
        assert item is not None
        before = runs.current_run(session, customer_id, period)
        run, created = runs.record_run(session, computed, job_id=claimed.id)
        if not created:
            if publish:
                runs.confirm_inputs(session, run, computed)
            _record(item, status="unchanged", before=before, run=run, note=note)
        elif publish:
            runs.publish(session, run)
            _record(item, status="published", before=before, run=run, published=True, note=note)
        else:
            _record(item, status="computed", before=before, run=run, note=note)


# --- reading -----------------------------------------------------------------------------


def _money(value: Decimal | None, currency: str | None) -> str | None:
    if value is None:
        return None
    return amount_plain(value, currency) if currency else format(value, "f")


def items(session: Session, backfill_id: int) -> list[dict[str, Any]]:
    """The reconciliation, by customer name then period."""
    rows = session.execute(
        select(BackfillItem, Node.name)
        .join(Node, Node.id == BackfillItem.customer_id)
        .where(BackfillItem.backfill_id == backfill_id)
        .order_by(Node.name, BackfillItem.customer_id, BackfillItem.period)
    ).all()
    return [
        {
            "customer_id": item.customer_id,
            "customer": name,
            "period": item.period,
            "currency": item.currency,
            "previous_total": _money(item.previous_total, item.currency),
            "backfilled_total": _money(item.backfilled_total, item.currency),
            "difference": _money(item.difference, item.currency),
            "status": item.status,
            "published": item.published,
            "reused": item.reused,
            "previous_run_id": item.previous_run_id,
            "run_id": item.run_id,
            "note": item.note,
        }
        for item, name in rows
    ]


def totals(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per currency: the sums of the three columns over the rows that have them."""
    sums: dict[str, list[Decimal]] = {}
    for row in rows:
        currency = row["currency"]
        if not currency or row["backfilled_total"] is None or row["difference"] is None:
            continue
        acc = sums.setdefault(currency, [Decimal(0), Decimal(0), Decimal(0)])
        acc[0] += Decimal(row["previous_total"] or 0)
        acc[1] += Decimal(row["backfilled_total"])
        acc[2] += Decimal(row["difference"])
    return [
        {
            "currency": c,
            "previous_total": _money(v[0], c),
            "backfilled_total": _money(v[1], c),
            "difference": _money(v[2], c),
        }
        for c, v in sorted(sums.items())
    ]


def summary(session: Session, backfill_id: int) -> dict[str, Any]:
    """The job's result: counts by status and the totals per currency."""
    rows = items(session, backfill_id)
    backfill = session.get(Backfill, backfill_id)
    assert backfill is not None
    counts = {
        s: sum(1 for r in rows if r["status"] == s)
        for s in ("computed", "unchanged", "published", "skipped", "failed", "pending")
    }
    return {
        "backfill_id": backfill_id,
        "start": backfill.start_date.isoformat(),
        "end": backfill.end_date.isoformat(),
        "publish": backfill.publish,
        "reviewed_job_id": backfill.reviewed_job_id,
        "periods": len(rows),
        "changed": sum(
            1 for r in rows if r["difference"] not in (None,) and Decimal(r["difference"]) != 0
        ),
        **{f"periods_{k}": v for k, v in counts.items()},
        "totals": totals(rows),
    }


CSV_FIELDS = (
    "customer_id",
    "customer",
    "period",
    "currency",
    "previous_total",
    "backfilled_total",
    "difference",
    "status",
    "published",
    "reused",
    "previous_run_id",
    "run_id",
    "note",
)


def reconciliation_csv(session: Session, backfill_id: int) -> str:
    """One row per (customer, period); money as plain decimals, text escaped
    against spreadsheet formulas (kit/csvout.py)."""
    out = io.StringIO()
    writer = csvout.DictWriter(out, CSV_FIELDS)
    writer.writeheader()
    for row in items(session, backfill_id):
        writer.writerow(row)
    return out.getvalue()
