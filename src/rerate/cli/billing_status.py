"""`rerate billing status`: the billing status (overdue, issued, uninvoiced,
paid per tenant and subscription), as a user (`--as`), through the same
function as `GET /api/v1/billing/status`, so scope and the invoice visibility
settings hold here too."""

from __future__ import annotations

import typer

from rerate.cli.acting import AS_USER, acting, fail


def status(
    month: str | None = typer.Option(
        None, help="The selected month, YYYY-MM (the current month by default)."
    ),
    customer: int | None = typer.Option(None, help="Only this customer (tenant) id."),
    as_user: str = AS_USER,
) -> None:
    """Overdue, issued, uninvoiced and paid amounts for last month, last quarter,
    the month and its quarter to date; Draft and Ready invoices count as
    uninvoiced.

    One line per tenant, subscription and total, currency and window; columns:
    level (tenant, subscription or total), customer id, name, subscription,
    currency, window, first month, last month, overdue, issued, uninvoiced, paid."""
    from rerate.billing_status import endpoints

    if month is not None:
        import re

        from rerate.kit import bounds

        if not re.fullmatch(bounds.PERIOD_PATTERN, month):
            raise fail(f"--month: a month YYYY-MM, got {month!r}")
    with acting(as_user) as (session, principal):
        body = endpoints.billing_status(
            session=session, principal=principal, month=month, customer_id=customer
        )
    windows = body["windows"]

    def lines(level: str, cid: object, name: str, ref: str, rows: list[dict[str, object]]) -> None:
        for row in rows:
            amounts = row["windows"]
            assert isinstance(amounts, dict)
            for w in windows:
                got = amounts[w["key"]]
                head = [level, str(cid), name, ref, str(row["currency"])]
                span = [w["key"], w["first"], w["last"]]
                money = [got[b] for b in ("overdue", "issued", "uninvoiced", "paid")]
                typer.echo("\t".join(head + span + money))

    for t in body["tenants"]:
        lines("tenant", t["customer_id"], t["name"], "-", t["rows"])
        for s in t["subscriptions"]:
            lines("subscription", t["customer_id"], t["name"], s["external_ref"], s["rows"])
    lines("total", "-", "-", "-", body["totals"])
