"""`rerate commissions ...`: rules, summaries and statements, as a user (`--as`).

The same service functions as the API (`rerate.commissions`), with the same
scope: a partner or distributor outside the caller's subtree is "not found".
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path

import typer

from rerate.cli.acting import AS_USER, REASON, acting, fail

commissions_app = typer.Typer(
    help="Commissions: rules, summaries, statements (CSV, PDF).", no_args_is_help=True
)
rules_app = typer.Typer(help="Commission rules: list, create, end.", no_args_is_help=True)
commissions_app.add_typer(rules_app, name="rules")


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise fail(f"{option}: not YYYY-MM-DD: {text!r}") from None


def _rule_line(rule: object) -> str:
    from rerate.commissions.endpoints import rule_view

    view = rule_view(rule)  # type: ignore[arg-type]
    return "\t".join(
        str(view[k] if view[k] is not None else "-")
        for k in ("id", "node_id", "service", "rate", "valid_from", "valid_to")
    )


@rules_app.command("list")
def rules_list(
    node: int | None = typer.Option(None, "--node", help="Only this partner or distributor id."),
    as_user: str = AS_USER,
) -> None:
    """Commission rules you can see.

    Columns: id, node, service (- = all services), rate, valid_from, valid_to (- = open)."""
    from rerate.commissions import service

    with acting(as_user) as (session, principal):
        lines = [_rule_line(r) for r in service.list_rules(session, principal, node_id=node)]
    for line in lines:
        typer.echo(line)


@rules_app.command("create")
def rules_create(
    node: int = typer.Option(..., "--node", help="The partner or distributor id."),
    rate: str = typer.Option(..., help='A share of the invoiced net: "0.05" is 5 %.'),
    valid_from: str = typer.Option(..., "--from", help="First day it applies, YYYY-MM-DD."),
    valid_to: str | None = typer.Option(
        None, "--to", help="First day it no longer applies (half-open); omit for open-ended."
    ),
    service_name: str = typer.Option(
        "", "--service", help='An invoice heading ("Compute", "Calls"); omit for all services.'
    ),
    reason: str = REASON,
    as_user: str = AS_USER,
) -> None:
    """Create a rule (platform roles only). Prints the new rule."""
    from rerate.commissions import service

    try:
        value = Decimal(rate.strip())
    except InvalidOperation:
        raise fail(f"--rate: not a decimal: {rate!r}") from None
    start = _day(valid_from, "--from")
    end = _day(valid_to, "--to") if valid_to else None
    with acting(as_user, reason=reason or None, write=True) as (session, principal):
        rule = service.create_rule(
            session,
            principal,
            node_id=node,
            rate=value,
            valid_from=start,
            valid_to=end,
            service=service_name,
            reason=reason,
        )
        line = _rule_line(rule)
    typer.echo(line)


@rules_app.command("end")
def rules_end(
    rule_id: int,
    valid_to: str = typer.Option(..., "--to", help="First day the rule no longer applies."),
    reason: str = REASON,
    as_user: str = AS_USER,
) -> None:
    """End a rule (platform roles only)."""
    from rerate.commissions import service

    end = _day(valid_to, "--to")
    with acting(as_user, reason=reason or None, write=True) as (session, principal):
        line = _rule_line(
            service.end_rule(session, principal, rule_id, valid_to=end, reason=reason)
        )
    typer.echo(line)


@commissions_app.command("summary")
def summary(
    node: int = typer.Option(..., "--node", help="The partner or distributor id."),
    start: str = typer.Option(..., "--from", help="First month, YYYY-MM."),
    end: str | None = typer.Option(None, "--to", help="Last month included (default: --from)."),
    as_user: str = AS_USER,
) -> None:
    """Invoiced net and commission per month, then the total, per currency.

    Columns: currency, month (or "total"), invoiced net, commission."""
    from rerate.commissions import service
    from rerate.kit.present import money_plain

    with acting(as_user) as (session, principal):
        result = service.summary(session, principal, node, start, end or start)
    for c in result.currencies:
        for p in c.by_month:
            typer.echo(
                f"{c.currency}\t{p.key}\t{money_plain(p.basis, c.currency)}\t"
                f"{money_plain(p.commission, c.currency)}"
            )
        typer.echo(
            f"{c.currency}\ttotal\t{money_plain(c.basis, c.currency)}\t"
            f"{money_plain(c.commission, c.currency)}"
        )


class Format(StrEnum):
    CSV = "csv"
    PDF = "pdf"


@commissions_app.command("statement")
def statement(
    node: int = typer.Option(..., "--node", help="The partner or distributor id."),
    period: str = typer.Option(..., "--period", help="The month, YYYY-MM."),
    fmt: Format = typer.Option(Format.CSV, "--format", help="csv or pdf."),
    out: Path | None = typer.Option(None, "--out", help="Write here (CSV: default stdout)."),
    as_user: str = AS_USER,
) -> None:
    """A commission statement per customer and service, as CSV or PDF (PDF needs --out)."""
    from rerate.commissions import service, statements

    if fmt is Format.PDF and out is None:
        raise fail("--out: a PDF is written to a file")
    with acting(as_user) as (session, principal):
        st = service.statement(session, principal, node, period)
        data = statements.to_pdf(st) if fmt is Format.PDF else statements.to_csv(st).encode()
    if out is None:
        typer.echo(data.decode(), nl=False)
        return
    out.write_bytes(data)
    typer.echo(f"wrote {out} ({fmt.value}, {len(data)} bytes)", err=True)
