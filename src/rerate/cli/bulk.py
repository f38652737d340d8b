"""`rerate recalc`: one customer, several (`--customer` repeated) or every
eligible one (`--all-eligible`) in one submission (billing/bulk_submit.py)."""

from __future__ import annotations

import time
from typing import Any

import typer
from sqlalchemy import func, select

from rerate.cli import context
from rerate.cli.jobs import FINISHED, _principal, _submit, console
from rerate.models.enums import JobStatus, JobType, ReasonCode


def recalc(
    customer: list[int] = typer.Option(None, "--customer", help="Customer id; repeat for several."),
    all_eligible: bool = typer.Option(
        False, "--all-eligible", help="Every eligible customer in your scope."
    ),
    period: list[str] = typer.Option(..., "--period", help="YYYY-MM; repeat for several."),
    reason: ReasonCode = typer.Option(..., help="Why this runs."),
    explanation: str = typer.Option("", help="Why, in words."),
    dry_run: bool = typer.Option(False, help="Compute and diff, publish nothing."),
    as_user: str = typer.Option(
        ..., "--as", envvar="RERATE_AS", help="Email of the user submitting."
    ),
    follow: bool = typer.Option(True, help="Follow the jobs until they end."),
) -> None:
    """Recalculate past periods with the current contract and price book: one
    customer, several, or every eligible one (one job per customer and period,
    run by the workers in batches)."""
    from rerate.kit.errors import Invalid

    customers = list(customer or [])
    if all_eligible == bool(customers):
        raise Invalid("give --customer (one or more) or --all-eligible")
    if len(customers) == 1 and not all_eligible:
        _submit(
            JobType.RECALCULATION,
            customers[0],
            period,
            reason,
            explanation,
            dry_run,
            as_user,
            follow,
        )
        return
    from rerate.billing.bulk_submit import submit_recalculations

    with context.database().write_session() as session:
        principal = _principal(session, as_user)
        context.act_as(session, principal)
        sub = submit_recalculations(
            session,
            principal,
            periods=period,
            reason=reason,
            customer_ids=None if all_eligible else customers,
            all_eligible=all_eligible,
            explanation=explanation,
            dry_run=dry_run,
        )
        out = sub.as_dict()
    console.print(
        f"request {out['request_id']}: queued {out['queued']} jobs"
        + (f", {len(sub.active)} already active" if sub.active else "")
    )
    for refused in out["refused"]:
        console.print(
            f"  not queued: customer {refused['customer_id']} {refused['period']}: "
            f"{refused['reason']}"
        )
    if out["cascades_outside_scope"]:
        console.print(f"and {out['cascades_outside_scope']} cascade jobs outside your scope")
    if follow and out["queued"]:
        counts = follow_request(out["request_id"])
        if any(status != JobStatus.COMPLETE.value for status in counts):
            raise typer.Exit(1)


def follow_request(request_id: str, poll_s: float = 1.0) -> dict[str, int]:
    """Wait until every job of the request has ended, printing the counts as they change."""
    from rerate.models import Job

    shown: Any = None
    while True:
        with context.database().session() as session:
            counts = dict(
                session.execute(
                    select(Job.status, func.count())
                    .where(Job.request_id == request_id)
                    .group_by(Job.status)
                ).all()
            )
        if counts != shown:
            console.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
            shown = counts
        if set(counts) <= FINISHED:
            return counts
        time.sleep(poll_s)
