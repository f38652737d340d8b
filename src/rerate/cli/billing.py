"""`rerate billing ...`: daily billing rows and their generation.

`rerate billing rows` reads the published daily rows (billing/daily_rows.py)
as TSV or CSV on stdout, streamed; `rerate billing generate` queues the
generation of whole months (billing/generation.py). Both act as a user
(`--as`): its scope decides which customers are read or generated.
"""

from __future__ import annotations

import sys
from datetime import date
from enum import StrEnum

import typer

from rerate.cli import context
from rerate.cli.acting import AS_USER, acting, fail

billing_app = typer.Typer(help="Daily billing rows: read and generate.", no_args_is_help=True)


class Format(StrEnum):
    TSV = "tsv"
    CSV = "csv"


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None


START = typer.Option(None, "--start", help="First billing day, YYYY-MM-DD (included).")
END = typer.Option(None, "--end", help="The day after the last billing day, YYYY-MM-DD (excluded).")


@billing_app.command("rows")
def rows_command(
    as_user: str = AS_USER,
    start: str = typer.Option(..., "--start", help="First billing day, YYYY-MM-DD (included)."),
    end: str = typer.Option(
        ..., "--end", help="The day after the last billing day, YYYY-MM-DD (excluded)."
    ),
    customer: list[int] = typer.Option([], "--customer", help="Only this customer id (repeat)."),
    account: list[int] = typer.Option([], "--account", help="Only this account id (repeat)."),
    region: list[str] = typer.Option([], "--region", help="Only this region (repeat)."),
    service: list[str] = typer.Option([], "--service", help="Only this service (repeat)."),
    sku: list[str] = typer.Option([], "--sku", help="Only this SKU (repeat)."),
    monthly: bool = typer.Option(False, "--monthly", help="One row per month (aggregated)."),
    sort: str = typer.Option("", "--sort", help="Columns, - for descending, e.g. -net_amount."),
    fmt: Format = typer.Option(Format.TSV, "--format", help="tsv or csv."),
) -> None:
    """The published daily billing rows of [start, end) you can see, on stdout."""
    from rerate.billing import daily_rows
    from rerate.billing.daily_rows import RowQuery
    from rerate.kit import csvout

    first, after = _day(start, "--start"), _day(end, "--end")
    assert first is not None
    assert after is not None
    query = RowQuery(
        start=first,
        end=after,
        customer_ids=tuple(customer),
        account_ids=tuple(account),
        regions=tuple(region),
        services=tuple(service),
        skus=tuple(sku),
        monthly=monthly,
        sort=sort,
    )
    with acting(as_user) as (session, principal):
        scope = daily_rows.scope_for(session, principal, context.settings().data_dir)
        rows = daily_rows.iter_rows(session, scope, query)
        if fmt == Format.CSV:
            writer = csvout.Writer(sys.stdout)
            writer.writerow(daily_rows.flat_columns(monthly))
            for row in rows:
                writer.writerow(daily_rows.flat_row(row, monthly))
        else:
            # TSV for reading and for `cut`: tabs and line breaks inside a value
            # become spaces, so a row stays one line of fixed columns.
            typer.echo("\t".join(daily_rows.flat_columns(monthly)))
            for row in rows:
                typer.echo("\t".join(_tsv(v) for v in daily_rows.flat_row(row, monthly)))
        unreadable = daily_rows.unreadable_runs(session, scope, query)
    for u in unreadable:
        typer.echo(
            f"warning: left out {u.period} of customer {u.customer_id}: {u.problem}", err=True
        )


def _tsv(value: object) -> str:
    if value is None:
        return ""
    return " ".join(str(value).replace("\t", " ").splitlines())


@billing_app.command("generate")
def generate_command(
    as_user: str = AS_USER,
    month: str | None = typer.Option(None, "--month", help="A calendar month, YYYY-MM."),
    start: str | None = START,
    end: str | None = END,
) -> None:
    """Queue the generation of daily billing rows: one month of your customers
    (`--month`, needs recalculate), or every month a date range touches for
    every customer (`--start/--end`, platform roles: generate_billing)."""
    from rerate.auth.permissions import Permission
    from rerate.billing.daily_rows import month_range
    from rerate.billing.generation import generate_monthly_billing_records
    from rerate.kit.periods import Month

    if (month is None) == (start is None and end is None):
        raise fail("give --month YYYY-MM, or --start and --end")
    if month is not None:
        try:
            first, after = month_range(Month.parse(month))
        except ValueError as exc:
            raise fail(f"--month: {exc}") from None
        permission = Permission.RECALCULATE
    else:
        if start is None or end is None:
            raise fail("give both --start and --end (end: the day after the last day)")
        first_day, after_day = _day(start, "--start"), _day(end, "--end")
        assert first_day is not None
        assert after_day is not None
        first, after = first_day, after_day
        permission = Permission.GENERATE_BILLING
    with acting(as_user, write=True) as (session, principal):
        principal.require(permission)
        generation = generate_monthly_billing_records(
            session, first, after, principal=principal, permission=permission
        )
        jobs, refused = generation.jobs, generation.refused
    typer.echo(
        f"{', '.join(generation.months)}: {len(jobs)} job(s) "
        f"({sum(j.status == 'queued' for j in jobs)} queued, "
        f"{sum(j.status == 'active' for j in jobs)} already active)"
    )
    for j in jobs:
        typer.echo(f"job {j.job_id}\tcustomer {j.customer_id}\t{j.period}\t{j.status}")
    for t in refused:
        typer.echo(f"refused\tcustomer {t.customer_id}\t{t.period}\t{t.refused}")
