"""`rerate accounts create|list|show|link|move|history`."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table

from rerate.cli.acting import AS_HELP, acting, fail
from rerate.models.enums import AccountKind

accounts_app = typer.Typer(help="Accounts and their ownership by customers.", no_args_is_help=True)
out = Console()


def _instant(text: str) -> datetime:
    """An ISO 8601 instant with its offset (or Z)."""
    from rerate.kit import bounds

    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"--from: not an ISO 8601 instant: {text!r}") from None
    if value.tzinfo is None:
        raise fail(f"--from: give the UTC offset (e.g. {text}Z or {text}+02:00)")
    try:
        return bounds.check_instant(value, "--from")
    except ValueError as exc:
        raise fail(str(exc)) from None


@accounts_app.command("create")
def create(
    kind: AccountKind = typer.Option(..., help="management_account, subscription or voip_peer."),
    ref: str = typer.Option(..., "--ref", help="The id the sources use (external_ref)."),
    name: str = typer.Option("", help="Display name (default: the ref)."),
    platform: str = typer.Option("", help="aws, azure, gcp, asterisk, ..."),
    seller: int | None = typer.Option(
        None, "--seller", help="Node id of the seller the account is created under."
    ),
    reason: str = typer.Option("", help="Why (kept in the audit log)."),
    as_user: str = typer.Option(..., "--as", envvar="RERATE_AS", help=AS_HELP),
) -> None:
    """Create an account under a seller (refs are unique per seller)."""
    from rerate.accounts import service

    with acting(as_user, reason=reason, write=True) as (session, principal):
        account = service.create(
            session,
            principal,
            kind,
            external_ref=ref,
            owner_node_id=seller,
            name=name,
            platform=platform,
        )
        line = f"created account {account.id} {account.external_ref} ({account.kind})"
    typer.echo(line)


@accounts_app.command("list")
def list_(
    q: str | None = typer.Option(None, "--q", help="Part of the ref or name."),
    customer: int | None = typer.Option(None, "--customer", help="Owned by this customer."),
    limit: int = typer.Option(100, min=1, max=1000),
    offset: int = typer.Option(0, min=0),
    as_user: str = typer.Option(..., "--as", envvar="RERATE_AS", help=AS_HELP),
) -> None:
    """Accounts you may see, with their current owner."""
    from rerate.accounts import service
    from rerate.accounts.endpoints import accounts_out
    from rerate.auth.permissions import Permission
    from rerate.tenancy.service import get_customer

    with acting(as_user) as (session, principal):
        if customer is not None:
            get_customer(session, principal, customer, Permission.VIEW)
        accounts = service.list_accounts(
            session, principal, customer_id=customer, q=q, limit=limit, offset=offset
        )
        total = service.count_accounts(session, principal, customer_id=customer, q=q)
        views = accounts_out(session, principal, accounts)
    table = Table("id", "ref", "kind", "name", "current owner", "since")
    for a in views:
        current = next((o for o in a.ownerships if o.valid_to is None), None)
        table.add_row(
            str(a.id),
            a.external_ref,
            a.kind,
            a.name,
            (f"{current.customer} ({current.customer_id})" if current else "no owner"),
            current.valid_from.isoformat() if current else "",
        )
    out.print(table)
    out.print(f"{len(views)} of {total}")


def _history(account_id: int, as_user: str) -> None:
    from rerate.accounts import service
    from rerate.accounts.endpoints import accounts_out

    with acting(as_user) as (session, principal):
        view = accounts_out(
            session, principal, [service.get_account(session, principal, account_id)]
        )[0]
    typer.echo(f"account {view.id} {view.external_ref} ({view.kind}) {view.name}")
    if not view.ownerships:
        typer.echo("  no owner: its usage is not billed until it is linked to a customer")
    for o in view.ownerships:
        until = o.valid_to.isoformat() if o.valid_to else "(open)"
        who = f"{o.customer} ({o.customer_id})" if o.customer_id else o.customer
        typer.echo(f"  {o.valid_from.isoformat()} .. {until}  {who}")


@accounts_app.command("show")
def show(
    account_id: int, as_user: str = typer.Option(..., "--as", envvar="RERATE_AS", help=AS_HELP)
) -> None:
    """One account and its ownership history."""
    _history(account_id, as_user)


@accounts_app.command("history")
def history(
    account_id: int, as_user: str = typer.Option(..., "--as", envvar="RERATE_AS", help=AS_HELP)
) -> None:
    """The ownership history of an account (intervals [from, to) in UTC)."""
    _history(account_id, as_user)


def _change(
    verb: str, account_id: int, customer: int, since: str, reason: str, as_user: str
) -> None:
    from rerate.accounts import service
    from rerate.accounts.endpoints import change_out

    if not reason.strip():
        raise fail("--reason: say why (it is kept in the audit log)")
    valid_from = _instant(since)
    with acting(as_user, reason=reason, write=True) as (session, principal):
        do = service.link if verb == "link" else service.move
        change = do(session, principal, account_id, customer_id=customer, valid_from=valid_from)
        view = change_out(session, principal, change)
    typer.echo(
        f"account {view.account.external_ref}: {'linked to' if verb == 'link' else 'moved to'} "
        f"customer {customer} from {valid_from.isoformat()}"
    )
    if not view.affected:
        typer.echo("no billed period is affected")
        return
    typer.echo(f"billed periods affected ({len(view.affected)}): recalculate them")
    for p in view.affected:
        who = f"{p.customer} ({p.customer_id})" if p.customer_id else p.customer
        typer.echo(f"  {p.period}  {who}  [{p.owner} owner]")


@accounts_app.command("link")
def link(
    account_id: int,
    customer: int = typer.Option(..., "--customer", help="Customer id."),
    since: str = typer.Option(..., "--from", help="First instant owned, ISO 8601 with offset."),
    reason: str = typer.Option(..., help="Why (kept in the audit log)."),
    as_user: str = typer.Option(..., "--as", envvar="RERATE_AS", help=AS_HELP),
) -> None:
    """Give an account with no owner to a customer from an instant on."""
    _change("link", account_id, customer, since, reason, as_user)


@accounts_app.command("move")
def move(
    account_id: int,
    customer: int = typer.Option(..., "--customer", help="The new owner's customer id."),
    since: str = typer.Option(..., "--from", help="Instant of the move, ISO 8601 with offset."),
    reason: str = typer.Option(..., help="Why (kept in the audit log)."),
    as_user: str = typer.Option(..., "--as", envvar="RERATE_AS", help=AS_HELP),
) -> None:
    """Move an account to another customer at an instant."""
    _change("move", account_id, customer, since, reason, as_user)
