"""`rerate demo`: load the demo dataset into an empty database, print the logins."""

from __future__ import annotations

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from rerate.cli import context

console = Console(stderr=True)


def demo(
    if_empty: bool = typer.Option(
        False,
        "--if-empty",
        help="Load only when the database has no nodes; otherwise skip quietly (exit 0).",
    ),
    scale: float | None = typer.Option(
        None,
        min=0.0001,
        help="Usage volume (1.0 = over a million rows); default RERATE_DEMO_SCALE.",
    ),
) -> None:
    """Load the deterministic demo dataset (tenancy, price books, contracts, usage)."""
    from rerate.demo import has_data, load_demo
    from rerate.demo.loader import DemoSummary

    settings = context.settings()
    db = context.database()
    with db.session() as session:
        occupied = has_data(session)
    if occupied:
        if if_empty:
            console.print("the database has data already: demo not loaded (--if-empty)")
            return
        console.print(
            "[red]the database has data already: the demo loads only into an empty database[/]"
            " (use a fresh RERATE_DATA_DIR / RERATE_DATABASE_URL, or pass --if-empty to skip)"
        )
        raise typer.Exit(1)

    with console.status("loading the demo dataset") as status:
        summary: DemoSummary = load_demo(
            db,
            settings.data_dir,
            scale=settings.demo_scale if scale is None else scale,
            progress=lambda step: status.update(f"demo: {step}"),
        )
    from rerate.demo.regions import add_demo_regions

    with console.status("collecting the demo regions"):
        collected = add_demo_regions(db, settings.data_dir)
    console.print(
        f"{collected.regions} collection regions (Public Azure, Azure Local): "
        f"{collected.jobs} collections as jobs ({collected.failed} failed), "
        f"{collected.rows} usage rows"
    )
    from rerate.demo.billing import bill_demo

    with console.status("billing the closed months") as status:
        billed = bill_demo(db, settings.data_dir, progress=lambda step: status.update(step))
    console.print(
        f"billed {billed.jobs} customer-months as jobs ({billed.failed} failed), "
        f"issued {billed.invoices_issued} invoices ({billed.invoices_skipped} months had nothing "
        f"billable); {billed.invoices_paid} paid, {billed.invoices_overdue} overdue, "
        f"{billed.credit_notes} corrected by a credit note"
    )
    console.print(
        f"demo loaded in {summary.seconds:.1f} s: {summary.customers} customers, "
        f"{summary.accounts} accounts, {summary.prefixes:,} prefixes, "
        f"{summary.usage_rows:,} cloud usage rows and {summary.cdrs:,} CDRs "
        f"(closed months {', '.join(summary.closed_months)}; {summary.current_month} to date)"
    )
    table = Table(title="Demo logins", box=box.SIMPLE_HEAD)
    for column in ("email", "password", "role", "node"):
        table.add_column(column, no_wrap=True)
    for login in summary.logins:
        table.add_row(login.email, login.password, login.role, login.node)
    out = Console()
    out.width = max(out.width, 100)  # whole emails even on a narrow or piped terminal
    out.print(table)
