"""`rerate refresh`, `rerate cache-sync`, `rerate jobs ...` (and the one-customer
submission `rerate recalc` uses)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rerate.cli import context
from rerate.models.enums import JobStatus, JobType, ReasonCode

console = Console(stderr=True)
jobs_app = typer.Typer(help="The run queue & log.", no_args_is_help=True)
FINISHED = {JobStatus.COMPLETE.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value}


def _principal(session: Any, email: str) -> Any:
    from rerate.auth import service as auth

    return auth.principal_for(session, auth.get_user_by_email(session, email), via="cli")


def _submit(
    type_: JobType,
    customer_id: int,
    periods: list[str],
    reason: ReasonCode,
    explanation: str,
    dry_run: bool,
    as_user: str,
    follow: bool,
) -> None:
    from rerate.billing import utilities
    from rerate.kit.errors import NotFound

    try:
        with context.database().session() as session:
            principal = _principal(session, as_user)
            context.act_as(session, principal)
            sub = utilities.submit(
                session,
                principal,
                type_,
                customer_id=customer_id,
                periods=periods,
                reason=reason,
                explanation=explanation,
                dry_run=dry_run,
            )
            ids = [j.id for j in sub.jobs]
    except NotFound as exc:
        if exc.detail != "not found":
            raise
        # Whether missing or outside the caller's scope: the same words.
        raise NotFound(f"customer {customer_id} not found") from None
    console.print(f"request {sub.request_id}: queued jobs {', '.join(map(str, ids))}")
    if sub.notice:
        console.print(f"and {sub.notice}")
    if follow:
        # A job that ends Failed (or Cancelled) is a failed command: exit 1.
        ended = [follow_job(job_id, as_user)["status"] for job_id in ids]
        if any(status != JobStatus.COMPLETE.value for status in ended):
            raise typer.Exit(1)


def _options(type_: JobType) -> Any:
    def command(
        customer: int = typer.Option(..., "--customer", help="Customer id."),
        period: list[str] = typer.Option(..., "--period", help="YYYY-MM; repeat for several."),
        reason: ReasonCode = typer.Option(..., help="Why this runs."),
        explanation: str = typer.Option("", help="Required for a refresh with reason 'other'."),
        dry_run: bool = typer.Option(
            False, help="Recalculation only: compute and diff, publish nothing."
        ),
        as_user: str = typer.Option(
            ..., "--as", envvar="RERATE_AS", help="Email of the user submitting."
        ),
        follow: bool = typer.Option(
            True, help="Follow the jobs with a progress bar until they end."
        ),
    ) -> None:
        _submit(type_, customer, period, reason, explanation, dry_run, as_user, follow)

    return command


# `rerate recalc` (one customer, several, or all eligible) is cli/bulk.py.
refresh = _options(JobType.INVOICE_REFRESH)
refresh.__doc__ = "Regenerate invoices from the latest billing data."
cache_sync = _options(JobType.CACHE_SYNC)
cache_sync.__doc__ = "Rebuild the billing cache from the current runs (no re-rating)."


def _view(job_id: int, as_user: str) -> dict[str, Any]:
    from rerate.jobs import views

    with context.database().session() as session:
        return views.get_job(session, _principal(session, as_user), job_id)[1]


# How long a followed job may wait, unclaimed, before the CLI asks whether a
# worker runs at all (a queue without workers waits forever, silently).
NO_WORKER_WARNING_S = 5.0


def _workers_seen(since_s: float) -> bool:
    """Whether any worker claimed or renewed a job in the last `since_s`
    seconds: workers write `heartbeat_at` on the job they run."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select

    from rerate.models import Job

    cutoff = datetime.now(UTC) - timedelta(seconds=since_s)
    with context.database().session() as session:
        latest = session.scalar(select(func.max(Job.heartbeat_at)))
    return latest is not None and latest >= cutoff


def follow_job(
    job_id: int, as_user: str, poll_s: float = 1.0, warn_after_s: float = NO_WORKER_WARNING_S
) -> dict[str, Any]:
    waiting_since = time.monotonic()
    warned = False
    with Progress(
        TextColumn(f"job {job_id}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("queued", total=100)
        while True:
            view = _view(job_id, as_user)
            bar.update(
                task,
                completed=float(view["progress"]),
                description=view["status"]
                + (f" - {view['progress_note']}" if view["progress_note"] else ""),
            )
            if view["status"] in FINISHED:
                break
            if (
                not warned
                and view["status"] == JobStatus.QUEUED.value
                and time.monotonic() - waiting_since >= warn_after_s
                and not _workers_seen(max(60.0, context.settings().worker_lease_s))
            ):
                warned = True
                bar.console.print(
                    f"warning: no worker has sent a heartbeat; job {job_id} waits in the queue. "
                    "Start one with `rerate worker` (or `rerate serve`, which runs one in process)."
                )
            time.sleep(poll_s)
    colour = {"complete": "green", "failed": "red"}.get(view["status"], "yellow")
    console.print(f"job {job_id}: [{colour}]{view['status']}[/{colour}] in {view['duration']}")
    if view["error"]:
        console.print(f"  error: {view['error']}")
    if view["result"]:
        console.print_json(json.dumps(view["result"], default=str))
    return view


@jobs_app.command("list")
def jobs_list(
    as_user: str = typer.Option(..., "--as", envvar="RERATE_AS", help="Email of the user asking."),
    status: JobStatus | None = typer.Option(None, help="Only jobs in this status."),
    type_: JobType | None = typer.Option(None, "--type", help="Only jobs of this type."),
    customer: int | None = typer.Option(None, help="Only this customer's jobs."),
    period: str | None = typer.Option(None, help="Only this period (YYYY-MM)."),
    limit: int = typer.Option(50, help="How many rows."),
) -> None:
    """The run queue & log, newest first."""
    from rerate.jobs import views

    with context.database().session() as session:
        items, total = views.list_jobs(
            session,
            _principal(session, as_user),
            type_=type_,
            status=status,
            customer_id=customer,
            period=period,
            limit=limit,
        )
    table = Table(
        "Job ID",
        "Type",
        "Status",
        "Customer",
        "Period",
        "Reason",
        "Actor",
        "Started UTC",
        "Duration",
        title=f"{len(items)} of {total} jobs",
    )
    for j in items:
        started = j["started_at"].strftime("%Y-%m-%d %H:%M:%S") if j["started_at"] else "-"
        table.add_row(
            str(j["id"]),
            j["type_label"],
            j["status_label"],
            j["customer_name"],
            j["period"],
            j["reason_label"],
            j["actor"],
            started,
            j["duration"],
        )
    Console().print(table)


@jobs_app.command("show")
def jobs_show(
    job_id: int, as_user: str = typer.Option(..., "--as", envvar="RERATE_AS", help="Email.")
) -> None:
    """One job, as JSON."""
    typer.echo(json.dumps(_view(job_id, as_user), default=str, indent=2))


@jobs_app.command("diff")
def jobs_diff(
    job_id: int,
    out: Path | None = typer.Option(None, "--out", help="Write the CSV here (default: stdout)."),
    as_user: str = typer.Option(..., "--as", envvar="RERATE_AS", help="Email."),
) -> None:
    """A recalculation's diff: per account and SKU or destination, old and new
    quantity and amount (CSV; a dry run's too)."""
    from rerate.billing.diff import diff_csv_for_job
    from rerate.jobs import views
    from rerate.kit.errors import RerateError

    try:
        with context.database().session() as session:
            job, _ = views.get_job(session, _principal(session, as_user), job_id)
            body = diff_csv_for_job(session, job, context.settings().data_dir)
    except RerateError as exc:
        console.print(f"error: {exc.detail}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if out is None:
        typer.echo(body, nl=False)
    else:
        out.write_text(body, encoding="utf-8")
        console.print(f"wrote {out}")


@jobs_app.command("follow")
def jobs_follow(
    job_id: int, as_user: str = typer.Option(..., "--as", envvar="RERATE_AS", help="Email.")
) -> None:
    """Follow a job with a progress bar until it ends."""
    view = follow_job(job_id, as_user)
    if view["status"] != JobStatus.COMPLETE.value:
        raise typer.Exit(1)


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: int, as_user: str = typer.Option(..., "--as", envvar="RERATE_AS", help="Email.")
) -> None:
    """Cancel a queued job, or ask a running one to stop."""
    from rerate.jobs import queue

    _view(job_id, as_user)  # visibility check: 404 outside the caller's subtree
    with context.database().write_session() as session:
        context.act_as(session, _principal(session, as_user))
        job = queue.cancel(session, job_id)
        status = job.status
    console.print(f"job {job_id}: {status}" + (" (stop requested)" if status == "running" else ""))
