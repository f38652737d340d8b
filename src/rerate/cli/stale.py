"""`rerate stale list` and `rerate stale recalc`: billed periods a change made
out of date, and their recalculation (billing/stale.py)."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from rerate.cli import context
from rerate.cli.acting import AS_USER, acting

console = Console(stderr=True)
stale_app = typer.Typer(help="Billed periods a change made out of date.", no_args_is_help=True)

CUSTOMER = typer.Option(None, "--customer", help="Only this customer id.")


@stale_app.command("list")
def list_command(
    as_user: str = AS_USER,
    customer: int | None = CUSTOMER,
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """The stale (customer, period) pairs you can see, with their reasons."""
    from rerate.billing import stale

    with acting(as_user) as (session, principal):
        items = stale.stale_periods(
            session, principal, context.settings().data_dir, customer_id=customer
        )
    if as_json:
        typer.echo(json.dumps({"items": [i.as_dict() for i in items], "total": len(items)}))
        return
    noun = "period" if len(items) == 1 else "periods"
    typer.echo(f"{len(items)} {noun} out of date")
    for item in items:
        typer.echo(f"{item.customer_name} (#{item.customer_id}) {item.period}:")
        for reason in item.reasons:
            typer.echo(f"  - [{reason.code.value}] {reason.text}")
            for cause in reason.causes:
                typer.echo(f"      {cause.at:%Y-%m-%d %H:%M} {cause.actor}: {cause.summary}")


@stale_app.command("recalc")
def recalc_command(
    as_user: str = AS_USER,
    customer: int | None = CUSTOMER,
    dry_run: bool = typer.Option(False, "--dry-run", help="Compute and diff; publish nothing."),
    follow: bool = typer.Option(False, "--follow", help="Follow the jobs until they end."),
) -> None:
    """Submit the recalculations of the stale periods (all you see, or a customer's)."""
    from rerate.billing import stale
    from rerate.cli.jobs import follow_job

    with acting(as_user, write=True) as (session, principal):
        result = stale.recalculate_stale(
            session,
            principal,
            context.settings().data_dir,
            customer_id=customer,
            dry_run=dry_run,
        )
        ids = [j.id for s in result.submissions for j in s.jobs]
        hidden = sum(s.outside_scope for s in result.submissions)
    if not result.stale:
        typer.echo("nothing is out of date")
        return
    kind = "dry runs" if dry_run else "recalculations"
    typer.echo(
        f"{len(result.stale)} period(s) out of date: queued {kind} "
        f"{', '.join(map(str, ids))}"
        + (f" and {hidden} cascade job(s) outside your scope" if hidden else "")
    )
    if follow:
        for job_id in ids:
            follow_job(job_id, as_user)
