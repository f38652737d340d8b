"""`rerate billing export`: the Billing grid's CSV export from the shell
(billing/grid.py `export_rows`, the same file as
`GET /api/v1/billing/export.csv` and the page's "Export CSV"), and its
summary cards with `--summary`."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import typer

from rerate.cli import context
from rerate.cli.acting import AS_USER, acting, fail


def billing_export(
    start: str = typer.Option(..., help="First billing day, YYYY-MM-DD."),
    end: str = typer.Option(
        ..., help="The day after the last billing day, YYYY-MM-DD (half-open, as the API)."
    ),
    as_user: str = AS_USER,
    customer: list[int] = typer.Option([], "--customer", help="Only this tenant (repeatable)."),
    account: list[int] = typer.Option(
        [], "--account", help="Only this subscription or account (repeatable)."
    ),
    region: list[str] = typer.Option([], "--region", help="Only this region (repeatable)."),
    service: list[str] = typer.Option([], "--service", help="Only this service (repeatable)."),
    sku: list[str] = typer.Option([], "--sku", help="Only this SKU (repeatable)."),
    monthly: bool = typer.Option(False, "--monthly", help="One row per month (aggregation)."),
    sort: str = typer.Option("", help="Columns as the API's sort, - for descending."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the CSV here (default: standard output)."
    ),
    summary: bool = typer.Option(
        False, "--summary", help="Print the summary cards (JSON) instead of the rows."
    ),
) -> None:
    """The billing rows you can see for a date range, as CSV (exact amounts and
    a currency column; text cells a spreadsheet would run are prefixed with ')."""
    from rerate.billing import daily_rows, grid
    from rerate.billing.daily_rows import RowQuery
    from rerate.kit.errors import Invalid

    try:
        first, after = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        raise fail("--start and --end are dates, YYYY-MM-DD") from None
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
        try:
            if summary:
                typer.echo(json.dumps(grid.compare(session, scope, query).as_dict(), indent=2))
                return
            chunks = grid.export_rows(session, scope, query)
        except Invalid as exc:
            raise fail(exc.detail) from None
        if output is None:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            return
        rows = -1  # the header
        with output.open("wb") as file:
            for chunk in chunks:
                file.write(chunk)
                rows += chunk.count(b"\r\n")
    typer.echo(f"{max(rows, 0)} rows written to {output}", err=True)
