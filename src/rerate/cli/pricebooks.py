"""`rerate pricebooks ...`: price books and tariff decks, as a user (`--as`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from rerate.cli.acting import AS_USER, acting

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rerate.auth.permissions import Principal

console = Console(stderr=True)
out = Console()
pricebooks_app = typer.Typer(help="Price books and tariff decks.", no_args_is_help=True)


def _instant(text: str | None, what: str) -> datetime | None:
    from rerate.rating.formats import parse_instant

    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {what}: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _print(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


@pricebooks_app.command("list")
def list_books(
    q: str = typer.Option("", help="Search names (book or owner)."),
    limit: int = typer.Option(50, min=1, max=500),
    offset: int = typer.Option(0, min=0),
    as_user: str = AS_USER,
) -> None:
    """Books visible to the user: id, kind, currency, owner, name."""
    from rerate.pricebooks import service

    with acting(as_user) as (session, principal):
        page = service.list_books(session, principal, q=q, limit=limit, offset=offset)
    for b in page.items:
        typer.echo(f"{b['id']}\t{b['kind']}\t{b['currency']}\t{b['owner_name']}\t{b['name']}")
    console.print(f"{len(page.items)} of {page.total}")


@pricebooks_app.command("create")
def create_book(
    name: str = typer.Option(..., help="Unique per owner."),
    kind: str = typer.Option(..., help="cloud (SKU/meter prices) or voip (tariff deck)."),
    currency: str = typer.Option(..., help="ISO 4217, e.g. EUR."),
    owner: int = typer.Option(..., help="Owner node id (platform, distributor or reseller)."),
    as_user: str = AS_USER,
) -> None:
    from rerate.models.enums import PriceBookKind
    from rerate.pricebooks import service

    if kind not in {k.value for k in PriceBookKind}:
        console.print("[red]error:[/red] --kind: cloud or voip")
        raise typer.Exit(2)
    with acting(as_user) as (session, principal):
        book = service.create_book(
            session,
            principal,
            name=name,
            kind=PriceBookKind(kind),
            currency=currency,
            owner_node_id=owner,
        )
        _print(service.book_view(session, book))


@pricebooks_app.command("show")
def show_book(book_id: int = typer.Argument(...), as_user: str = AS_USER) -> None:
    """A book and its versions."""
    from rerate.auth.permissions import Permission
    from rerate.pricebooks import service

    with acting(as_user) as (session, principal):
        book = service.get_book(session, principal, book_id, Permission.VIEW)
        _print(
            {
                **service.book_view(session, book),
                "versions": [
                    service.version_view(session, v) for v in service.versions_of(session, book)
                ],
            }
        )


@pricebooks_app.command("import")
def import_version(
    book_id: int = typer.Argument(...),
    file: Path = typer.Argument(
        ...,
        exists=True,
        help="Tariffs or prices CSV; with --format cgrates, the directory of a CGRateS "
        "tariff plan's CSV files.",
    ),
    fmt: str = typer.Option(
        "rerate", "--format", help="rerate (the tariffs/prices CSV) or cgrates (a directory)."
    ),
    effective: str | None = typer.Option(
        None,
        help="Effective instant, e.g. 2026-10-15T00:00:00Z (must agree with the file; "
        "required with --format cgrates).",
    ),
    plan: str | None = typer.Option(None, help="cgrates: the RatingPlans.csv id to import."),
    subject: str | None = typer.Option(
        None, help="cgrates: import this subject's rating profile (with its fallbacks)."
    ),
    tenant: str | None = typer.Option(None, help="cgrates: the subject's tenant."),
    category: str = typer.Option("call", help="cgrates: the subject's category."),
    increment_decimals: int = typer.Option(
        5,
        min=0,
        max=10,
        help="cgrates: decimals each increment's cost is rounded to (CGRateS's "
        "general.rounding_decimals).",
    ),
    publish: bool = typer.Option(False, help="Publish the version at once."),
    note: str = typer.Option("", help="A note on the version."),
    reason: str = typer.Option("", help="Why it is published (audit log)."),
    as_user: str = AS_USER,
) -> None:
    """Import a version whole from CSV (docs/rating.md formats) or from a CGRateS
    tariff plan (docs/formats.md), all or nothing."""
    from rerate.pricebooks import csv_io, service

    if fmt not in ("rerate", "cgrates"):
        console.print("[red]error:[/red] --format: rerate or cgrates")
        raise typer.Exit(2)
    when = _instant(effective, "--effective")
    if fmt == "cgrates":
        _import_cgrates(
            book_id,
            file,
            when,
            {"plan": plan, "subject": subject, "tenant": tenant, "category": category},
            increment_decimals=increment_decimals,
            publish=publish,
            note=note,
            reason=reason,
            as_user=as_user,
        )
        return
    if file.is_dir():
        console.print(f"[red]error:[/red] {file}: a directory (use --format cgrates for one)")
        raise typer.Exit(2)
    with acting(as_user) as (session, principal):
        version = csv_io.import_version(
            session,
            principal,
            book_id,
            file,
            name=file.name,
            effective_from=when,
            note=note,
            publish=publish,
            reason=reason,
        )
        view = service.version_view(session, version)
    _imported(file.name, book_id, view)


def _imported(name: str, book_id: int, view: dict[str, Any]) -> None:
    console.print(
        f"{name}: version {view['version']} (id {view['id']}) of book {book_id}, "
        f"{view['entries']} entries, {view['status']}, effective {view['effective_from']}",
        highlight=False,
    )


def _import_cgrates(
    book_id: int,
    directory: Path,
    when: datetime | None,
    choice: dict[str, str | None],
    *,
    increment_decimals: int,
    publish: bool,
    note: str,
    reason: str,
    as_user: str,
) -> None:
    from rerate.pricebooks import csv_io, service

    if not directory.is_dir():
        console.print(f"[red]error:[/red] {directory}: --format cgrates takes a directory")
        raise typer.Exit(2)
    if when is None:
        console.print(
            "[red]error:[/red] --effective: required with --format cgrates (the files carry "
            "no effective instant)"
        )
        raise typer.Exit(2)
    with acting(as_user) as (session, principal):
        version, imported = csv_io.import_cgrates(
            session,
            principal,
            book_id,
            directory,
            name=directory.name,
            effective_from=when,
            plan=choice["plan"],
            subject=choice["subject"],
            tenant=choice["tenant"],
            category=choice["category"] or "call",
            increment_decimals=increment_decimals,
            note=note,
            publish=publish,
            reason=reason,
        )
        view = service.version_view(session, version)
    console.print(f"CGRateS rating plan(s): {', '.join(imported.plans)}", highlight=False)
    for warning in imported.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    for text in imported.notes:
        console.print(f"note: {text}", highlight=False, soft_wrap=True)
    _imported(directory.name, book_id, view)


def _version_command(action: Callable[[Session, Principal], dict[str, Any]], as_user: str) -> None:
    with acting(as_user) as (session, principal):
        _print(action(session, principal))


@pricebooks_app.command("publish")
def publish(
    book_id: int = typer.Argument(...),
    version_id: int = typer.Argument(...),
    reason: str = typer.Option(..., help="Why (kept in the audit log)."),
    as_user: str = AS_USER,
) -> None:
    """Publish a draft: it prices usage from its effective instant, and never changes."""
    from rerate.pricebooks import service

    _version_command(
        lambda s, p: service.version_view(
            s, service.publish(s, p, book_id, version_id, reason=reason)
        ),
        as_user,
    )


@pricebooks_app.command("export")
def export_version(
    book_id: int = typer.Argument(...),
    version_id: int = typer.Argument(...),
    output: Path | None = typer.Option(None, "--out", help="File to write (default: stdout)."),
    as_user: str = AS_USER,
) -> None:
    """A version as CSV, in the format it is imported in."""
    from rerate.pricebooks import csv_io

    with acting(as_user) as (session, principal):
        _name, text = csv_io.export_version(session, principal, book_id, version_id)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@pricebooks_app.command("compare")
def compare(
    book_id: int = typer.Argument(...),
    old: int = typer.Argument(..., help="Old version id."),
    new: int = typer.Argument(..., help="New version id."),
    limit: int = typer.Option(1000, min=1, help="At most this many entries per list."),
    as_user: str = AS_USER,
) -> None:
    """Entries added, removed and changed between two versions of a book (JSON)."""
    from rerate.pricebooks import compare as comparing

    _version_command(
        lambda s, p: comparing.compare(s, p, book_id, old, new).as_dict(limit), as_user
    )
