"""`rerate invoices ...`: list, generate, issue and export invoices, as a user (`--as`).

The same functions as the API's invoice endpoints, with the same scope and
visibility rules: a customer's invoices are listed only where the caller's
role and the visibility settings allow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from rerate.cli import context

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rerate.auth.permissions import Principal

console = Console(stderr=True)
invoices_app = typer.Typer(
    help="Invoices: list, generate, issue, PDF and CSV.", no_args_is_help=True
)

AS_USER = typer.Option(
    ..., "--as", envvar="RERATE_AS", help="Email of the user acting (their roles apply)."
)


@contextmanager
def _acting(as_user: str) -> Iterator[tuple[Session, Principal]]:
    """A session acting as `as_user`; a refusal is one line and exit code 2."""
    from rerate.auth import service as auth
    from rerate.kit.errors import RerateError

    try:
        with context.database().session() as session:
            principal = auth.principal_for(
                session, auth.get_user_by_email(session, as_user), via="cli"
            )
            context.act_as(session, principal)
            yield session, principal
    except RerateError as exc:
        console.print(f"[red]error:[/red] {exc.detail}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _line(inv: dict[str, object]) -> str:
    return "\t".join(
        str(inv[k] if inv[k] is not None else "-")
        for k in ("id", "number", "customer_id", "period", "version", "status", "currency", "total")
    )


@invoices_app.command("list")
def list_invoices(
    customer: int | None = typer.Option(None, help="Only this customer id."),
    period: str | None = typer.Option(None, help="Only this period, YYYY-MM."),
    limit: int = typer.Option(100, min=1, max=1000),
    offset: int = typer.Option(0, min=0),
    as_user: str = AS_USER,
) -> None:
    """Invoices, newest period first.

    Columns: id, number, customer, period, version, status, currency, total."""
    from rerate.invoicing import endpoints

    with _acting(as_user) as (session, principal):
        data = endpoints.list_invoices(
            session=session,
            principal=principal,
            customer_id=customer,
            period=period,
            limit=limit,
            offset=offset,
            include_lines=False,
        )
    for inv in data["items"]:
        typer.echo(_line(inv))
    console.print(f"{len(data['items'])} of {data['total']}")


@invoices_app.command("generate")
def generate(
    customer: int = typer.Option(..., help="Customer id."),
    period: str = typer.Option(..., help="YYYY-MM, a billed period."),
    as_user: str = AS_USER,
) -> None:
    """Generate the period's invoice from the current billing runs (Ready, to be issued)."""
    import re

    from rerate.auth.permissions import Permission
    from rerate.invoicing.endpoints import invoice_view
    from rerate.invoicing.generate import generate_for
    from rerate.kit.bounds import PERIOD_PATTERN
    from rerate.tenancy.service import get_customer

    if not re.fullmatch(PERIOD_PATTERN, period):
        console.print(f"[red]error:[/red] --period: not YYYY-MM: {period!r}", highlight=False)
        raise typer.Exit(2)
    with _acting(as_user) as (session, principal):
        node = get_customer(session, principal, customer, Permission.GENERATE_INVOICES)
        outcome = generate_for(session, node, period, reuse_unchanged=True)
        view = invoice_view(outcome.invoice, lines=False)
        session.commit()
    typer.echo(_line(view))
    console.print(
        f"invoice {view['id']} for {period}: "
        + ("unchanged, the Ready invoice is kept" if outcome.reused else "Ready, issue it to send")
    )


@invoices_app.command("issue")
def issue(invoice_id: int, as_user: str = AS_USER) -> None:
    """Issue a Ready invoice with the next number of its series (again: the same number)."""
    from rerate.invoicing import endpoints
    from rerate.invoicing import service as invoicing

    with _acting(as_user) as (session, principal):
        inv, _customer = endpoints._get(session, principal, invoice_id)
        view = endpoints.invoice_view(invoicing.issue(session, inv), lines=False)
        session.commit()
    typer.echo(_line(view))
    console.print(f"invoice {invoice_id} issued as {view['number']}")


@invoices_app.command("export")
def export(
    invoice_id: int,
    out: Path = typer.Option(..., "--out", help="A .pdf or .csv file to write."),
    as_user: str = AS_USER,
) -> None:
    """Write an invoice as PDF or CSV (chosen by the file's extension)."""
    from rerate.invoicing import endpoints, render
    from rerate.models import Node

    if out.suffix.lower() not in (".pdf", ".csv"):
        console.print("[red]error:[/red] --out: give a .pdf or .csv file", highlight=False)
        raise typer.Exit(2)
    with _acting(as_user) as (session, principal):
        inv, customer = endpoints._get(session, principal, invoice_id)
        if out.suffix.lower() == ".pdf":
            seller = session.get(Node, customer.parent_id) if customer.parent_id else None
            data = render.to_pdf(inv, customer, seller)
            out.write_bytes(data)
        else:
            out.write_text(render.to_csv(inv), encoding="utf-8")
    console.print(f"wrote {out}")
