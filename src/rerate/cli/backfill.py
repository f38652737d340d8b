"""`rerate backfill`: billing recomputed over a date range, reconciled, published on request."""

from __future__ import annotations

from datetime import date
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from rerate.cli import context
from rerate.models.enums import JobStatus

console = Console(stderr=True)


def _date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


def _principal(session: Any, email: str) -> Any:
    from rerate.auth import service as auth

    return auth.principal_for(session, auth.get_user_by_email(session, email), via="cli")


def _show(job_id: int, as_user: str) -> dict[str, Any]:
    from rerate.billing import backfill
    from rerate.billing.backfill_endpoints import view

    with context.database().session() as session:
        principal = _principal(session, as_user)
        job = backfill.visible_backfill_job(session, principal, job_id)
        return view(session, principal, job)


def print_reconciliation(data: dict[str, Any]) -> None:
    job, bf = data["job"], data["backfill"]
    mode = "published" if bf["publish"] else "dry run: nothing published"
    table = Table(
        title=f"backfill job {job['id']} [{bf['start']}, {bf['end']}) ({mode}), {job['status']}"
    )
    for name in (
        "customer",
        "period",
        "currency",
        "previous",
        "backfilled",
        "difference",
        "status",
    ):
        table.add_column(
            name, justify="right" if name in {"previous", "backfilled", "difference"} else "left"
        )
    for item in data["items"]:
        table.add_row(
            f"{item['customer']} ({item['customer_id']})",
            item["period"],
            item["currency"] or "",
            item["previous_total"] or "-",
            item["backfilled_total"] or "-",
            item["difference"] or "-",
            item["status"] + (f": {item['note']}" if item["note"] else ""),
        )
    for total in data["totals"]:
        table.add_row(
            "total",
            "",
            total["currency"],
            total["previous_total"],
            total["backfilled_total"],
            total["difference"],
            "",
        )
    Console(width=200).print(table)
    console.print(f"CSV: /api/v1/billing/backfill/{job['id']}/reconciliation.csv")


def backfill(
    start: str = typer.Option(None, "--start", help="First day (YYYY-MM-DD), included."),
    end: str = typer.Option(
        None, "--end", help="The day after the last (YYYY-MM-DD), excluded: [start, end)."
    ),
    customer: list[int] = typer.Option(
        [],
        "--customer",
        help="Customer id; repeat for several (default: every customer with an active contract).",
    ),
    publish: bool = typer.Option(
        False, "--publish", help="Publish each recomputed period (default: a dry run)."
    ),
    explanation: str = typer.Option("", help="Why this backfill runs (the job log shows it)."),
    show: int = typer.Option(None, "--show", help="Print the reconciliation of backfill job ID."),
    publish_reviewed: int = typer.Option(
        None,
        "--publish-reviewed",
        help="Publish the runs of the reviewed dry-run backfill job ID (recomputed where "
        "their inputs changed since).",
    ),
    as_user: str = typer.Option(
        ..., "--as", envvar="RERATE_AS", help="Email of the platform user submitting."
    ),
    follow: bool = typer.Option(True, help="Wait for the job, then print the reconciliation."),
) -> None:
    """Backfill daily billing over a date range for a set of customers, as one job, and
    print its reconciliation: per customer and period the previously published total,
    the backfilled total and the difference. A dry run unless --publish."""
    from rerate.billing import backfill as service
    from rerate.cli.jobs import follow_job

    if show is not None:
        print_reconciliation(_show(show, as_user))
        return
    with context.database().write_session() as session:
        principal = _principal(session, as_user)
        context.act_as(session, principal)
        if publish_reviewed is not None:
            sub = service.submit_publish_reviewed(session, principal, publish_reviewed)
        else:
            if start is None or end is None:
                raise typer.BadParameter("give --start and --end (or --show / --publish-reviewed)")
            sub = service.submit_backfill(
                session,
                principal,
                start=_date(start, "--start"),
                end=_date(end, "--end"),
                customer_ids=customer or None,
                publish=publish,
                explanation=explanation,
            )
        job_id = sub.job.id
    skipped = f", {sub.skipped} skipped" if sub.skipped else ""
    typer.echo(f"backfill job {job_id}: {sub.items} periods queued{skipped}")
    if not follow:
        return
    status = follow_job(job_id, as_user)["status"]
    print_reconciliation(_show(job_id, as_user))
    if status != JobStatus.COMPLETE.value:
        raise typer.Exit(1)
