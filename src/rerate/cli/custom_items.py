"""`rerate custom-items ...`: a customer's one-off and recurring charges or credits."""

from __future__ import annotations

import typer

from rerate.cli.catalog_common import AS_USER, REASON, acting, parse_date, parse_decimal, table

app = typer.Typer(help="Custom line items (charges and credits).", no_args_is_help=True)


@app.command("list")
def list_(
    customer: int = typer.Option(..., "--customer"),
    include_deleted: bool = typer.Option(False, "--include-deleted"),
    as_user: str = AS_USER,
) -> None:
    from decimal import Decimal

    from rerate.catalog import custom_items
    from rerate.catalog.owned import decimal_str

    with acting(as_user) as (session, principal):
        items = custom_items.list_items(
            session, principal, customer, include_deleted=include_deleted
        )
        table(
            [
                [
                    i["id"],
                    i["description"],
                    decimal_str(Decimal(i["amount"])),
                    i["currency"],
                    i["one_off_date"] or "",
                    i["recurring_from"] or "",
                    i["recurring_to"] or "",
                    "deleted" if i["deleted"] else "",
                ]
                for i in items
            ],
            ["id", "description", "amount", "currency", "one_off", "from", "to", ""],
        )


@app.command("add")
def add(
    customer: int = typer.Option(..., "--customer"),
    description: str = typer.Option(..., "--description"),
    amount: str = typer.Option(..., "--amount", help="Negative for a credit."),
    one_off: str = typer.Option(None, "--one-off", help="YYYY-MM-DD: billed in that month."),
    recurring_from: str = typer.Option(None, "--from", help="YYYY-MM-DD: monthly from then."),
    recurring_to: str = typer.Option(None, "--to", help="YYYY-MM-DD, inclusive."),
    as_user: str = AS_USER,
    reason: str = REASON,
) -> None:
    """Add a one-off (--one-off) or recurring (--from [--to]) item."""
    from rerate.catalog import custom_items

    data = custom_items.ItemIn(
        description=description,
        amount=parse_decimal(amount, "--amount"),
        one_off_date=parse_date(one_off, "--one-off") if one_off else None,
        recurring_from=parse_date(recurring_from, "--from") if recurring_from else None,
        recurring_to=parse_date(recurring_to, "--to") if recurring_to else None,
    )
    with acting(as_user, reason) as (session, principal):
        item = custom_items.create_item(session, principal, customer, data)
        periods = ", ".join(item["recalculate_periods"])
        typer.echo(f"added item {item['id']}; recalculate {periods} for billed periods")


@app.command("delete")
def delete(item_id: int, as_user: str = AS_USER, reason: str = REASON) -> None:
    from rerate.catalog import custom_items

    with acting(as_user, reason) as (session, principal):
        item = custom_items.delete_item(session, principal, item_id)
        periods = ", ".join(item["recalculate_periods"])
        typer.echo(f"deleted item {item_id}; recalculate {periods} for billed periods")
