"""The `collect_usage` job: run a region's collector over `[start, end)` and
import what it brings, batch by batch; and the daily schedule's targets.

Idempotent: every batch goes through the ordinary usage import, whose record
ids are stable (per account), so collecting a range again imports nothing new
and a changed record is a correction. Resumable: each imported batch commits
on its own and moves the run's `done_through` (and the region's
`collected_through` when contiguous) forward in the next transaction; a new
job for the same region and range continues after the day the failed one
had finished, and export files already imported are skipped by checksum.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rerate.auth.permissions import Grant, Principal
from rerate.collection import secrets, service
from rerate.collection.collectors import azure_local, azure_stack, cloudstack, public_azure
from rerate.collection.collectors.base import Batch, CollectContext, CollectionError
from rerate.jobs import queue
from rerate.jobs.schedules import Target
from rerate.jobs.worker import JobContext
from rerate.kit.audit import Actor, set_session_actor
from rerate.kit.errors import NotFound
from rerate.kit.settings import get_settings
from rerate.models import Job, JobSchedule, Node, Region, User
from rerate.models.collection import CollectedFile, CollectionRun, CollectionSource
from rerate.models.enums import JobStatus, NodeKind, Role
from rerate.usage.schema import UsageKind
from rerate.usage.service import import_parsed
from rerate.usage.store import UsageStore

Collector = Callable[[CollectContext, date, date], Iterator[Batch]]
COLLECTORS: dict[str, Collector] = {
    "cloudstack": cloudstack.collect,
    "public_azure": public_azure.collect,
    "azure_stack": azure_stack.collect,
    "azure_local": azure_local.collect,
}
_MAX_NOTES = 50


def import_principal(session: Session, source: CollectionSource, actor_id: int | None) -> Principal:
    """Who the collector imports as: the job's actor, with the scope of the
    region's owner node (the platform: every account; a distributor or
    reseller: its customers' accounts only, at the instants it owned them)."""
    owner = session.get(Node, source.owner_node_id)
    if owner is None:
        raise NotFound(f"the region's owner node {source.owner_node_id} no longer exists")
    user = session.get(User, actor_id) if actor_id is not None else None
    if user is None:
        raise CollectionError("the job has no user to import as (its schedule's creator is gone)")
    role = Role.PLATFORM_SERVICE if owner.kind == NodeKind.PLATFORM.value else Role.PARTNER_ADMIN
    return Principal(
        user_id=user.id,
        email=user.email,
        grants=(Grant(node_id=owner.id, node_path=owner.path, role=role),),
        via="collector",
    )


def _run_for(session: Session, claimed: queue.ClaimedJob) -> CollectionRun:
    run = session.scalars(select(CollectionRun).where(CollectionRun.job_id == claimed.id)).first()
    if run is not None:
        return run
    job = session.get(Job, claimed.id)
    source = (
        service.source_for_schedule(session, job.schedule_id) if job and job.schedule_id else None
    )
    if source is None:
        raise NotFound(f"job {claimed.id}: no region to collect (its schedule has no source)")
    start, end = service.scheduled_range(source, datetime.now(UTC).date())
    run = CollectionRun(job_id=claimed.id, source_id=source.id, start_day=start, end_day=end)
    if end > start:
        session.add(run)
        session.flush()
    return run


def _resume_from(session: Session, run: CollectionRun) -> date:
    """The first day still to collect: after the days this run, or an earlier
    unfinished run of the same region and range, imported completely."""
    done = [run.done_through] if run.done_through else []
    earlier = session.execute(
        select(CollectionRun.done_through)
        .join(Job, Job.id == CollectionRun.job_id)
        .where(
            CollectionRun.source_id == run.source_id,
            CollectionRun.start_day == run.start_day,
            CollectionRun.end_day == run.end_day,
            CollectionRun.id != run.id,
            CollectionRun.done_through.is_not(None),
            Job.status.in_([JobStatus.FAILED.value, JobStatus.CANCELLED.value]),
        )
    ).scalars()
    done.extend(d for d in earlier if d is not None)
    return max(done) + timedelta(days=1) if done else run.start_day


def _advance(source: CollectionSource, day: date, start: date) -> None:
    """`collected_through` moves forward only without a gap behind it."""
    through = source.collected_through
    if through is None or (start <= through + timedelta(days=1) and day > through):
        source.collected_through = day


def collect_usage(ctx: JobContext, data_dir: Path) -> dict[str, Any]:
    claimed = ctx.claimed
    with ctx.db.write_session() as session:
        queue.fenced(session, claimed)
        run = _run_for(session, claimed)
        if run.end_day <= run.start_day:
            nothing: dict[str, Any] = {"days": 0, "note": "up to date: nothing to collect"}
            ctx.complete_within(session, nothing)
            return nothing
        source = session.get(CollectionSource, run.source_id)
        if source is None:
            raise NotFound(f"collection source {run.source_id} no longer exists")
        region = session.get(Region, source.region_id)
        code = region.code if region else str(source.region_id)
        run_id, source_id, start, end = run.id, source.id, run.start_day, run.end_day
        resume = _resume_from(session, run)
        platform, settings, stored_secret = (
            source.platform,
            service.settings_of(source),
            source.secret,
        )
        known = set(
            session.scalars(
                select(CollectedFile.sha256).where(CollectedFile.source_id == source.id)
            )
        )
        principal = import_principal(session, source, claimed.actor_id)
    key = secrets.load_key(data_dir, get_settings().secret_key)

    def reveal() -> str:
        if not stored_secret:
            raise CollectionError("the region has no secret set")
        try:
            return secrets.reveal(stored_secret, key)
        except secrets.SecretError as exc:
            raise CollectionError(str(exc)) from None

    total_days = max((end - resume).days, 1)
    state = {"fraction": 0.0}

    def progress(fraction: float, note: str) -> None:
        if fraction >= 0:
            state["fraction"] = fraction
        ctx.progress(Decimal(str(round(min(max(state["fraction"], 0.0), 0.99), 4))), note)

    cctx = CollectContext(
        source_id=source_id,
        region_code=code,
        platform=platform,
        settings=settings,
        secret=reveal,
        work_dir=Path(data_dir) / "collection" / str(source_id),
        progress=progress,
        known_files=known,
        has_secret=bool(stored_secret),
    )
    store = UsageStore(Path(data_dir))
    totals = dict.fromkeys(
        (
            "batches",
            "rows_read",
            "rows_new",
            "rows_corrected",
            "rows_unchanged",
            "rows_rejected",
            "unowned_rows",
        ),
        0,
    )
    notes: list[str] = []
    files: list[str] = []
    rejects: list[str] = []
    days_done = 0
    if resume > start:
        notes.append(f"resumed after {resume - timedelta(days=1)} (an earlier run got that far)")
    for batch in COLLECTORS[platform](cctx, resume, end):
        ctx.check()
        rejects_path = cctx.work_dir / "rejects" / f"job-{claimed.id}-{totals['batches'] + 1}.csv"
        rejects_path.parent.mkdir(parents=True, exist_ok=True)
        with ctx.db.write_session() as session:
            set_session_actor(session, Actor(claimed.actor_id, f"job {claimed.id}"))
            report = import_parsed(
                session,
                store,
                principal,
                batch.parsed,
                source=batch.source,
                kind=UsageKind.CLOUD,
                sha256=batch.sha256,
                skip_bad_rows=True,
                rejects_path=rejects_path,
            )
        with ctx.db.write_session() as session:
            queue.fenced(session, claimed)
            src = session.get(CollectionSource, source_id)
            run_row = session.get(CollectionRun, run_id)
            if src is None or run_row is None:
                raise NotFound("the region was deleted while collecting")
            if batch.file is not None:
                session.add(
                    CollectedFile(
                        source_id=source_id,
                        path=batch.file[0][:1000],
                        sha256=batch.file[1],
                        import_id=report.import_id,
                    )
                )
                cctx.known_files.add(batch.file[1])
                files.append(batch.file[0])
            if batch.day is not None:
                run_row.done_through = batch.day
                _advance(src, batch.day, start)
                days_done += 1
        # Progress after the commit, never inside it: the heartbeat updates the
        # job row this transaction holds locked (queue.fenced).
        if batch.day is not None:
            progress(((batch.day - resume).days + 1) / total_days, batch.note)
        totals["batches"] += 1
        totals["rows_read"] += report.rows_read
        totals["rows_new"] += report.new
        totals["rows_corrected"] += report.corrected
        totals["rows_unchanged"] += report.unchanged
        totals["rows_rejected"] += report.rejected
        totals["unowned_rows"] += report.unowned_rows
        if report.rejected and report.rejects_file:
            rejects.append(Path(report.rejects_file).relative_to(data_dir).as_posix())
        if len(notes) < _MAX_NOTES:
            line = f"{batch.note}: {report.new} new, {report.corrected} corrected, "
            line += f"{report.unchanged} unchanged, {report.rejected} rejected"
            notes.append(line + (f" ({report.notice})" if report.notice else ""))
    result: dict[str, Any] = {
        "region": code,
        "platform": platform,
        "start": start,
        "end": end,
        "resumed_from": resume,
        "days": days_done,
        "files": files,
        "rejects_files": rejects,
        "notes": notes,
        **totals,
    }
    with ctx.db.write_session() as session:
        queue.fenced(session, claimed)
        src = session.get(CollectionSource, source_id)
        run_row = session.get(CollectionRun, run_id)
        if src is None or run_row is None:
            raise NotFound("the region was deleted while collecting")
        run_row.done_through = end - timedelta(days=1)
        _advance(src, end - timedelta(days=1), start)
        ctx.complete_within(session, result)
    return result


def handlers(data_dir: Path) -> dict[Any, Callable[[JobContext], dict[str, Any]]]:
    from rerate.models.enums import JobType

    return {JobType.COLLECT_USAGE: lambda ctx: collect_usage(ctx, data_dir)}


def expand_schedule(session: Session, schedule: JobSchedule, at: datetime) -> list[Target]:
    """A region's daily occurrence: one job locking the region, or refused
    (with the reason kept on the occurrence) when the region is disabled."""
    source = service.source_for_schedule(session, schedule.id)
    period = f"{at:%Y-%m}"
    owner = schedule.customer_id or 0
    if source is None:
        return [Target(owner, period, refused="no region uses this schedule any more")]
    key = service.lock_key(source.id)
    if not source.enabled:
        return [
            Target(source.owner_node_id, period, refused="the region is disabled", lock_key=key)
        ]
    return [Target(source.owner_node_id, period, lock_key=key)]
