"""`rerate invoices ...`: list, generate, issue and export invoices, as a user (`--as`).

The same functions as the API's invoice endpoints, with the same scope and
visibility rules: a customer's invoices are listed only where the caller's
role and the visibility settings allow.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from rerate.cli.acting import AS_USER, acting

if TYPE_CHECKING:
    pass

console = Console(stderr=True)
invoices_app = typer.Typer(
    help="Invoices: list, generate, issue, PDF and CSV.", no_args_is_help=True
)


def _line(inv: dict[str, object]) -> str:
    return "\t".join(
        str(inv[k] if inv[k] is not None else "-")
        for k in (
            "id",
            "number",
            "customer_id",
            "period",
            "version",
            "status",
            "currency",
            "total",
            "type",
        )
    )


@invoices_app.command("list")
def list_invoices(
    customer: int | None = typer.Option(None, help="Only this customer id."),
    period: str | None = typer.Option(None, help="Only this period, YYYY-MM."),
    type_: str | None = typer.Option(
        None,
        "--type",
        help="Only this document type: monthly, quarterly, true_up or credit_note.",
    ),
    limit: int = typer.Option(100, min=1, max=1000),
    offset: int = typer.Option(0, min=0),
    as_user: str = AS_USER,
) -> None:
    """Invoices, newest period first.

    Columns: id, number, customer, period, version, status, currency, total, type."""
    from rerate.invoicing import endpoints
    from rerate.models.enums import InvoiceType

    kinds = {t.value for t in InvoiceType}
    if type_ is not None and type_ not in kinds:
        console.print(
            f"[red]error:[/red] --type: one of {', '.join(sorted(kinds))}", highlight=False
        )
        raise typer.Exit(2)

    with acting(as_user) as (session, principal):
        data = endpoints.list_invoices(
            session=session,
            principal=principal,
            customer_id=customer,
            period=period,
            type=InvoiceType(type_) if type_ is not None else None,
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
    with acting(as_user, write=True) as (session, principal):
        node = get_customer(session, principal, customer, Permission.GENERATE_INVOICES)
        outcome = generate_for(session, node, period, reuse_unchanged=True)
        view = invoice_view(outcome.invoice, lines=False)
    typer.echo(_line(view))
    console.print(
        f"invoice {view['id']} for {period}: "
        + ("unchanged, the Ready invoice is kept" if outcome.reused else "Ready, issue it to send")
    )


@invoices_app.command("quarterly")
def quarterly_invoice(
    customer: int = typer.Option(..., help="Customer id (its contract is invoiced quarterly)."),
    quarter: str = typer.Option(..., help="YYYY-Qn, the quarter invoiced in advance."),
    override: str | None = typer.Option(
        None, "--override", help="Charge this amount (before tax) instead of the projection."
    ),
    reason: str | None = typer.Option(
        None, "--reason", help="Why the projection is overridden (printed and audited)."
    ),
    as_user: str = AS_USER,
) -> None:
    """Generate a quarterly invoice (Ready, to be issued): the average of the three
    completed months before the quarter x 3, or --override with its --reason."""
    from decimal import Decimal, InvalidOperation

    from rerate.auth.permissions import Permission
    from rerate.invoicing import quarterly
    from rerate.invoicing.endpoints import invoice_view
    from rerate.tenancy.service import get_customer

    amount: Decimal | None = None
    if override is not None:
        try:
            amount = Decimal(override.strip())
        except InvalidOperation:
            console.print(
                f"[red]error:[/red] --override: not a decimal: {override!r}", highlight=False
            )
            raise typer.Exit(2) from None
    with acting(as_user, write=True) as (session, principal):
        node = get_customer(session, principal, customer, Permission.GENERATE_INVOICES)
        done = quarterly.generate_quarterly(
            session, node, quarter, override_amount=amount, reason=reason
        )
        view = invoice_view(done.invoice, lines=False)
    typer.echo(_line(view))
    projection = view["projection"]
    basis = ", ".join(f"{b['period']} {b['amount']}" for b in projection["basis"])
    console.print(
        f"quarterly invoice {view['id']} for {quarter}: {projection['method_text']} "
        f"({basis}) = {projection['projected_amount']}"
        + (
            f"; override {projection['override_amount']} ({projection['override_reason']})"
            if projection["override_amount"] is not None
            else ""
        )
        + "; Ready, issue it to send",
        highlight=False,
    )


@invoices_app.command("true-up")
def true_up(invoice_id: int, as_user: str = AS_USER) -> None:
    """True up an issued quarterly invoice once its quarter has been billed: the
    difference is invoiced (a Ready true-up invoice) or credited (a credit note)."""
    from rerate.auth.permissions import Permission
    from rerate.invoicing import endpoints, quarterly
    from rerate.kit.present import money_plain
    from rerate.tenancy.service import get_customer

    with acting(as_user, write=True) as (session, principal):
        inv, _customer = endpoints._get(session, principal, invoice_id)
        get_customer(session, principal, inv.customer_id, Permission.GENERATE_INVOICES)
        done = quarterly.true_up(session, inv.id)
        doc = endpoints.invoice_view(done.document, lines=False) if done.document else None
        cur = done.invoice.currency
        summary = (
            f"actual {money_plain(done.actual, cur)} less charged "
            f"{money_plain(done.charged, cur)} = {money_plain(done.difference, cur)} {cur}"
        )
    if doc is None:
        console.print(f"quarterly invoice {invoice_id} trued up: {summary}; nothing to bill")
        return
    typer.echo(_line(doc))
    what = (
        f"credit note {doc['number']} issued"
        if doc["type"] == "credit_note"
        else f"true-up invoice {doc['id']} Ready, issue it to send"
    )
    console.print(f"quarterly invoice {invoice_id} trued up: {summary}; {what}", highlight=False)


@invoices_app.command("issue")
def issue(invoice_id: int, as_user: str = AS_USER) -> None:
    """Issue a Ready invoice with the next number of its series (again: the same number)."""
    from rerate.invoicing import endpoints
    from rerate.invoicing import service as invoicing

    with acting(as_user, write=True) as (session, principal):
        inv, _customer = endpoints._get(session, principal, invoice_id)
        view = endpoints.invoice_view(invoicing.issue(session, inv), lines=False)
    typer.echo(_line(view))
    console.print(f"invoice {invoice_id} issued as {view['number']}")


@invoices_app.command("credit")
def credit(
    invoice_id: int,
    reason: str = typer.Option(..., "--reason", help="Why the invoice is credited (audited)."),
    as_user: str = AS_USER,
) -> None:
    """Reverse an Issued or Paid invoice in full with a numbered credit note."""
    from rerate.auth.permissions import Permission
    from rerate.invoicing import credit_notes, endpoints, payments
    from rerate.tenancy.service import get_customer

    with acting(as_user, write=True) as (session, principal):
        inv, _customer = endpoints._get(session, principal, invoice_id)
        get_customer(session, principal, inv.customer_id, Permission.GENERATE_INVOICES)
        note = credit_notes.credit_in_full(session, inv, reason=reason)
        view = endpoints.invoice_view(
            note, lines=False, settled=payments.settlements(session, [note.id])[note.id]
        )
    typer.echo(_line(view))
    console.print(
        f"invoice {invoice_id} credited by {view['number']}; "
        f"{view['open_amount']} {view['currency']} left to apply to the next invoices"
    )


@invoices_app.command("export")
def export(
    invoice_id: int,
    out: Path = typer.Option(..., "--out", help="A .pdf or .csv file to write."),
    paper: str = typer.Option("a4", "--paper", help="PDF paper size: a4 or letter."),
    as_user: str = AS_USER,
) -> None:
    """Write an invoice or credit note as PDF or CSV (chosen by the file's extension)."""
    from rerate.invoicing import endpoints, parties, pdf, render

    if out.suffix.lower() not in (".pdf", ".csv"):
        console.print("[red]error:[/red] --out: give a .pdf or .csv file", highlight=False)
        raise typer.Exit(2)
    if paper.lower() not in {p.value for p in pdf.Paper}:
        console.print("[red]error:[/red] --paper: give a4 or letter", highlight=False)
        raise typer.Exit(2)
    with acting(as_user) as (session, principal):
        inv, customer = endpoints._get(session, principal, invoice_id)
        if out.suffix.lower() == ".pdf":
            facts = pdf.facts_for(session, inv, customer)
            out.write_bytes(pdf.to_pdf(inv, facts, paper=pdf.Paper(paper.lower())))
        else:
            credits = parties.credited_number(session, inv)
            out.write_text(render.to_csv(inv, credits=credits), encoding="utf-8")
    console.print(f"wrote {out}")


@invoices_app.command("download")
def download(
    invoice_id: int,
    format: str = typer.Option(
        ..., "--format", help="ubl (UBL 2.1 XML), cii (CII XML) or facturx (Factur-X PDF/A-3)."
    ),
    out: Path = typer.Option(..., "-o", "--out", help="The file to write."),
    as_user: str = AS_USER,
) -> None:
    """Write a sent invoice or credit note as an EN 16931 e-invoice."""
    from rerate.invoicing import endpoints
    from rerate.invoicing.einvoice.export import Format, export

    try:
        fmt = Format(format.lower())
    except ValueError:
        console.print(
            f"[red]error:[/red] --format: one of ubl, cii, facturx (got {format!r})",
            highlight=False,
        )
        raise typer.Exit(2) from None
    with acting(as_user) as (session, principal):
        inv, customer = endpoints._get(session, principal, invoice_id)
        data = export(session, inv, customer, fmt)
    out.write_bytes(data.content)
    console.print(f"wrote {out} ({fmt.value}, {len(data.content)} bytes)")


def _payment_line(p: dict[str, object]) -> str:
    return "\t".join(
        str(p[k] if p[k] is not None else "-")
        for k in ("id", "date", "amount", "currency", "reference", "reverses", "reason")
    )


@invoices_app.command("pay")
def pay(
    invoice_id: int,
    amount: str = typer.Option(..., help='Money received, a decimal such as "120.50".'),
    paid_on: str = typer.Option(..., "--date", help="The day it was received, YYYY-MM-DD."),
    reference: str = typer.Option("", help="The bank or remittance reference."),
    as_user: str = AS_USER,
) -> None:
    """Record a full or partial payment on an Issued invoice (Paid once nothing is owed)."""
    from datetime import date
    from decimal import Decimal, InvalidOperation

    from rerate.invoicing import payment_endpoints as api
    from rerate.invoicing import payments

    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        console.print(f"[red]error:[/red] --amount: not a decimal: {amount!r}", highlight=False)
        raise typer.Exit(2) from None
    try:
        day = date.fromisoformat(paid_on)
    except ValueError:
        console.print(f"[red]error:[/red] --date: not YYYY-MM-DD: {paid_on!r}", highlight=False)
        raise typer.Exit(2) from None
    with acting(as_user, write=True) as (session, principal):
        inv = api._recordable(session, principal, invoice_id)
        payment = payments.record_payment(
            session,
            inv.id,
            amount=value,
            paid_on=day,
            reference=reference,
            user_id=principal.user_id,
        )
        view = api.payment_view(payment)
        summary = api._summary(session, inv)
    typer.echo(_payment_line(view))
    console.print(
        f"invoice {invoice_id}: {summary['invoice_status']}, outstanding "
        f"{summary['outstanding']} {summary['currency']}"
    )


@invoices_app.command("payments")
def list_payments(invoice_id: int, as_user: str = AS_USER) -> None:
    """Payments and reversals of an invoice, oldest first.

    Columns: id, date, amount, currency, reference, reverses, reason."""
    from rerate.invoicing import endpoints
    from rerate.invoicing import payment_endpoints as api

    with acting(as_user) as (session, principal):
        inv, _customer = endpoints._get(session, principal, invoice_id)
        summary = api._summary(session, inv)
    for p in summary["items"]:
        typer.echo(_payment_line(p))
    overdue = ", overdue" if summary["overdue"] else ""
    console.print(
        f"paid {summary['amount_paid']}, outstanding {summary['outstanding']} "
        f"{summary['currency']} (due {summary['due_date'] or '-'}{overdue})"
    )


@invoices_app.command("reverse-payment")
def reverse_payment(
    payment_id: int,
    reason: str = typer.Option(..., help="Why the payment is reversed (kept with it)."),
    as_user: str = AS_USER,
) -> None:
    """Reverse a payment: a new row with the opposite amount; reopens a Paid invoice."""
    from rerate.invoicing import payment_endpoints as api

    with acting(as_user, write=True) as (session, principal):
        body = api.reverse_payment(
            payment_id, api.ReversalIn(reason=reason), session=session, principal=principal
        )
    typer.echo(_payment_line(body))
    console.print(
        f"payment {payment_id} reversed; invoice {body['invoice_id']} is "
        f"{body['invoice']['invoice_status']}"
    )
